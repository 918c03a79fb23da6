"""vLLM's Prometheus /metrics as numbers a gate can compare: latency percentiles and token throughput.

Percentiles come from histogram buckets, interpolated linearly inside the bucket the way PromQL's
histogram_quantile does, so they agree with the dashboards people already look at. Counters and
histograms only grow, so a gate takes two scrapes and looks at the window between them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

E2E = "vllm:e2e_request_latency_seconds"
TTFT = "vllm:time_to_first_token_seconds"
ITL = "vllm:inter_token_latency_seconds"
GENERATION_TOKENS = "vllm:generation_tokens"
REQUEST_SUCCESS = "vllm:request_success"
"""Finished requests by finished_reason; vLLM has no error counter of its own: a request that failed inside the
engine (answered with a 500) finishes with reason "error", one whose client went away with "abort"."""
ERROR_REASON = "error"
HISTOGRAMS = (E2E, TTFT, ITL)


@dataclass(frozen=True, kw_only=True)
class Histogram:
    """Cumulative bucket counts by upper bound (the last bound is +Inf), with the total count and sum."""

    buckets: tuple[tuple[float, float], ...]
    count: float
    sum: float

    def minus(self, earlier: Histogram) -> Histogram:
        before = dict(earlier.buckets)
        return Histogram(
            buckets=tuple((le, n - before.get(le, 0.0)) for le, n in self.buckets),
            count=self.count - earlier.count,
            sum=self.sum - earlier.sum,
        )


@dataclass(frozen=True, kw_only=True)
class ServerMetrics:
    histograms: Mapping[str, Histogram] = field(default_factory=dict)
    generation_tokens: float = 0.0
    requests: float | None = None
    """Requests finished, for any reason; None when the server does not count them."""
    errors: float | None = None
    """Of those, the ones that finished with an engine error."""

    def minus(self, earlier: ServerMetrics) -> ServerMetrics:
        """What happened between an earlier scrape and this one."""
        empty = Histogram(buckets=(), count=0.0, sum=0.0)
        return ServerMetrics(
            histograms={name: h.minus(earlier.histograms.get(name, empty)) for name, h in self.histograms.items()},
            generation_tokens=self.generation_tokens - earlier.generation_tokens,
            requests=_difference(self.requests, earlier.requests),
            errors=_difference(self.errors, earlier.errors),
        )

    def restarted_since(self, earlier: ServerMetrics) -> bool:
        """A counter went down: the server restarted between the scrapes, and counts from zero again."""
        pairs = [(self.generation_tokens, earlier.generation_tokens), (self.requests, earlier.requests)]
        pairs += [(h.count, earlier.histograms[n].count) for n, h in self.histograms.items() if n in earlier.histograms]
        return any(now is not None and before is not None and now < before for now, before in pairs)


def _difference(later: float | None, earlier: float | None) -> float | None:
    return None if later is None else later - (earlier or 0.0)


@dataclass(frozen=True, kw_only=True)
class Percentiles:
    p50: float | None
    p95: float | None
    count: float


@dataclass(frozen=True, kw_only=True)
class LatencySummary:
    """Seconds, as vLLM reports them; None where no request was seen."""

    e2e: Percentiles
    ttft: Percentiles
    itl: Percentiles
    generation_tokens: float


def parse_metrics(text: str, *, model: str | None = None) -> ServerMetrics:
    """Read the histograms and the token counter gates use; with `model`, only that served model's series.

    Raises ValueError for text that is not in the Prometheus exposition format.
    """
    histograms: dict[str, Histogram] = {}
    tokens = 0.0
    requests: float | None = None
    errors = 0.0
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError as exc:
        raise ValueError(f"not in the Prometheus text format: {exc}") from exc
    for family in families:
        samples = [s for s in family.samples if model is None or s.labels.get("model_name", model) == model]
        if family.name in HISTOGRAMS and family.type == "histogram":
            histograms[family.name] = _histogram(family.name, samples)
        elif family.name == GENERATION_TOKENS:
            tokens += sum(s.value for s in samples if s.name == f"{GENERATION_TOKENS}_total")
        elif family.name == REQUEST_SUCCESS:
            finished = [s for s in samples if s.name == f"{REQUEST_SUCCESS}_total"]
            requests = (requests or 0.0) + sum(s.value for s in finished)
            errors += sum(s.value for s in finished if s.labels.get("finished_reason") == ERROR_REASON)
    return ServerMetrics(
        histograms=histograms,
        generation_tokens=tokens,
        requests=requests,
        errors=errors if requests is not None else None,
    )


def _histogram(name: str, samples: Iterable[Sample]) -> Histogram:
    """Sum the series of every label set (engines, models) bucket by bucket."""
    buckets: dict[float, float] = {}
    count = total = 0.0
    for sample in samples:
        if sample.name == f"{name}_bucket":
            le = float(sample.labels["le"])
            buckets[le] = buckets.get(le, 0.0) + sample.value
        elif sample.name == f"{name}_count":
            count += sample.value
        elif sample.name == f"{name}_sum":
            total += sample.value
    return Histogram(buckets=tuple(sorted(buckets.items())), count=count, sum=total)


def quantile(histogram: Histogram, q: float) -> float | None:
    """The q-quantile (0 < q < 1) by linear interpolation inside its bucket; None with no observations.

    An answer in the +Inf bucket is the highest finite bound: the histogram cannot say more.
    """
    if not 0 < q < 1:
        raise ValueError(f"quantile {q} is not between 0 and 1")
    buckets = histogram.buckets
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for le, cumulative in buckets:
        if cumulative >= rank:
            if math.isinf(le):
                return lower
            if cumulative == below:
                return le
            return lower + (le - lower) * (rank - below) / (cumulative - below)
        lower, below = le, cumulative
    return lower


def percentiles(histogram: Histogram | None) -> Percentiles:
    if histogram is None:
        return Percentiles(p50=None, p95=None, count=0.0)
    return Percentiles(p50=quantile(histogram, 0.5), p95=quantile(histogram, 0.95), count=histogram.count)


def summarize(metrics: ServerMetrics) -> LatencySummary:
    return LatencySummary(
        e2e=percentiles(metrics.histograms.get(E2E)),
        ttft=percentiles(metrics.histograms.get(TTFT)),
        itl=percentiles(metrics.histograms.get(ITL)),
        generation_tokens=metrics.generation_tokens,
    )


def tokens_per_second(earlier: ServerMetrics, later: ServerMetrics, seconds: float) -> float | None:
    """Output tokens per second between two scrapes `seconds` apart; None when the window is empty."""
    if seconds <= 0:
        return None
    return max(later.generation_tokens - earlier.generation_tokens, 0.0) / seconds
