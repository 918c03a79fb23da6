"""Supervisors by the name the plan gives them."""

from __future__ import annotations

from rollout.plan import SupervisorKind
from rollout.serving.docker import DockerSupervisor
from rollout.serving.process import ProcessSupervisor
from rollout.serving.supervisor import Supervisor
from rollout.serving.systemd import SystemdSupervisor

SUPERVISORS: dict[SupervisorKind, Supervisor] = {
    "process": ProcessSupervisor(),
    "systemd": SystemdSupervisor(),
    "docker": DockerSupervisor(),
}
