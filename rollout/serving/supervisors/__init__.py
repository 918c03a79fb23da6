"""Supervisors: what keeps a model server running after `rollout serve start` returns, by the plan's name.

Each kind is a module implementing `Supervisor` (process, systemd, docker), looked up in `SUPERVISORS`;
what the kinds share sits in `_shared`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Protocol

from rollout.plan import SupervisorKind
from rollout.serving.launch_records import Launch
from rollout.serving.procfs import Liveness
from rollout.serving.spec import ServerSpec
from rollout.serving.supervisors import docker, process, systemd
from rollout.serving.supervisors._shared import LOG_TAIL_LINES, STOP_GRACE, StopHow

__all__ = ["LOG_TAIL_LINES", "STOP_GRACE", "SUPERVISORS", "StopHow", "Supervisor"]


class Supervisor(Protocol):
    """One module per kind implements this; as per PEP 544, `self` is ignored when a module is the implementation."""

    def launch(self, spec: ServerSpec, env: Mapping[str, str], *, unit: str) -> Launch:
        """Start the server detached, so it outlives this command and the job that ran it; systemd and docker
        name it `unit`, and record that name."""

    def liveness(self, spec: ServerSpec, launch: Launch) -> Liveness:
        """Whether the recorded server (by its pid, unit or container as recorded) still runs, has gone, or its pid
        now belongs to someone else."""

    def stop(self, spec: ServerSpec, launch: Launch, *, drain: float, grace: float) -> StopHow:
        """Let in-flight requests finish for up to `drain` seconds, then terminate, then kill after `grace`."""

    def log_tail(self, spec: ServerSpec, launch: Launch, lines: int = LOG_TAIL_LINES) -> tuple[str, ...]:
        """The last lines the recorded server wrote."""

    def log_source(self, spec: ServerSpec, launch: Launch) -> str:
        """Where those lines come from, for the person reading them: a file, or the command that shows them."""


SUPERVISORS: Final[dict[SupervisorKind, Supervisor]] = {
    "process": process,
    "systemd": systemd,
    "docker": docker,
}
