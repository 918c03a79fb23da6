"""The `systemd` supervisor: a transient unit started with systemd-run, owned by the service manager.

Being the manager's unit rather than the job's child, the server outlives the Actions job that started
it. As root it is a system unit; otherwise a user unit (`--user`), which needs `loginctl enable-linger`
for the runner's user so it survives logout. KillMode=mixed gives the drain we want: SIGTERM to the
server alone, and after TimeoutStopSec SIGKILL to everything left in the unit.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping

from rollout.serving.environment import passed_names
from rollout.serving.launch_records import Launch, new_launch
from rollout.serving.procfs import Liveness
from rollout.serving.spec import ServerSpec
from rollout.serving.supervisors._shared import LOG_TAIL_LINES, STOP_GRACE, StopHow, recorded_unit
from rollout.subprocesses import run_command

RUNNING_STATES = frozenset({"active", "activating", "reloading", "deactivating"})


def service(unit: str) -> str:
    return f"{unit}.service"


def run_argv(
    spec: ServerSpec, *, unit: str, env: Mapping[str, str], user: bool, drain: float, grace: float
) -> tuple[str, ...]:
    """The unit's environment is the manager's, not ours: the allowlisted variables go by name (systemd-run
    copies their values from its own environment, so none shows in a command line), then the plan's."""
    version = spec.version
    return (
        "systemd-run",
        *_scope(user),
        f"--unit={unit}",
        f"--description=model-rollout {spec.service} {spec.color} ({version.name})",
        "--collect",
        "--property=KillMode=mixed",
        "--property=KillSignal=SIGTERM",
        f"--property=TimeoutStopSec={int(drain + grace)}",
        f"--working-directory={spec.cwd}",
        *(f"--setenv={name}" for name in passed_names(env) if name not in version.env),
        *(f"--setenv={key}={value}" for key, value in sorted(version.env.items())),
        "--",
        *spec.argv,
    )


def show_argv(unit: str, *, user: bool) -> tuple[str, ...]:
    return ("systemctl", *_scope(user), "show", service(unit), "--property=ActiveState", "--property=MainPID")


def stop_argv(unit: str, *, user: bool) -> tuple[str, ...]:
    return ("systemctl", *_scope(user), "stop", service(unit))


def journal_argv(unit: str, *, user: bool, lines: int) -> tuple[str, ...]:
    return ("journalctl", *_scope(user), f"--unit={service(unit)}", f"--lines={lines}", "--no-pager", "--output=cat")


def parse_show(text: str) -> dict[str, str]:
    """`systemctl show` prints one KEY=VALUE per line."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def launch(spec: ServerSpec, env: Mapping[str, str], *, unit: str) -> Launch:
    user = _as_user()
    run_command(run_argv(spec, unit=unit, env=env, user=user, drain=spec.drain, grace=STOP_GRACE), env=env)
    pid = int(parse_show(run_command(show_argv(unit, user=user)).stdout).get("MainPID", "0")) or None
    return new_launch(spec, "systemd", pid, unit=unit)


def liveness(spec: ServerSpec, launch: Launch) -> Liveness:
    shown = parse_show(run_command(show_argv(recorded_unit(launch), user=_as_user())).stdout)
    return "running" if shown.get("ActiveState") in RUNNING_STATES else "gone"


def stop(spec: ServerSpec, launch: Launch, *, drain: float, grace: float) -> StopHow:
    run_command(stop_argv(recorded_unit(launch), user=_as_user()))
    return "stopped"


def log_tail(spec: ServerSpec, launch: Launch, lines: int = LOG_TAIL_LINES) -> tuple[str, ...]:
    argv = journal_argv(recorded_unit(launch), user=_as_user(), lines=lines)
    return tuple(run_command(argv, check=False).stdout.splitlines())


def log_source(spec: ServerSpec, launch: Launch) -> str:
    return shlex.join(("journalctl", *_scope(_as_user()), f"--unit={service(recorded_unit(launch))}"))


def _scope(user: bool) -> tuple[str, ...]:
    return ("--user",) if user else ()


def _as_user() -> bool:
    return os.geteuid() != 0
