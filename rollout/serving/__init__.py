"""Model servers: run blue and green side by side on the runner, and read their health and metrics.

start(plan, color) / stop(plan, color) / status(plan, color)   the lifecycle, via the plan's supervisor
server_argv(version)                                           `vllm serve ...` or the command template
probe / read_version / read_metrics                            the server's HTTP endpoints
parse_metrics / quantile / summarize / tokens_per_second       vLLM's /metrics as numbers for the gates
"""

from rollout.serving.engines import server_argv
from rollout.serving.health import Health, probe, read_metrics, read_version
from rollout.serving.lifecycle import ServerStatus, StartResult, StopResult, start, status, stop
from rollout.serving.metrics import (
    Histogram,
    LatencySummary,
    Percentiles,
    ServerMetrics,
    parse_metrics,
    quantile,
    summarize,
    tokens_per_second,
)

__all__ = [
    "Health",
    "Histogram",
    "LatencySummary",
    "Percentiles",
    "ServerMetrics",
    "ServerStatus",
    "StartResult",
    "StopResult",
    "parse_metrics",
    "probe",
    "quantile",
    "read_metrics",
    "read_version",
    "server_argv",
    "start",
    "status",
    "stop",
    "summarize",
    "tokens_per_second",
]
