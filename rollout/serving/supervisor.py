"""The interface every supervisor offers; the kinds themselves live in process, systemd and docker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Protocol

from rollout.serving.launches import Launch
from rollout.serving.procs import Liveness
from rollout.serving.spec import ServerSpec

StopHow = Literal["drained", "terminated", "killed", "stopped"]
LOG_TAIL_LINES = 50
# Variables the GitHub Actions runner uses to find and kill what a job left running.
RUNNER_TRACKING = ("RUNNER_TRACKING_ID",)


class Supervisor(Protocol):
    def launch(self, spec: ServerSpec, env: Mapping[str, str]) -> Launch:
        """Start the server detached, so it outlives this command and the job that ran it."""

    def liveness(self, spec: ServerSpec, launch: Launch) -> Liveness:
        """Whether the recorded server still runs, has gone, or its pid now belongs to someone else."""

    def stop(self, spec: ServerSpec, launch: Launch, *, drain: float, grace: float) -> StopHow:
        """Let in-flight requests finish for up to `drain` seconds, then terminate, then kill after `grace`."""

    def log_tail(self, spec: ServerSpec, lines: int = LOG_TAIL_LINES) -> tuple[str, ...]:
        """The last lines the server wrote."""


def server_env(env: Mapping[str, str], spec: ServerSpec) -> dict[str, str]:
    """The caller's environment without the runner's job tracking, plus the plan's variables for this color."""
    return {**{k: v for k, v in env.items() if k not in RUNNER_TRACKING}, **spec.version.env}
