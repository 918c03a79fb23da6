"""The `process` supervisor: a detached process in its own session, with pid, record and log in the state dir."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from rollout.errors import ExternalError
from rollout.serving.environment import server_env
from rollout.serving.launch_records import Launch, new_launch
from rollout.serving.procfs import Liveness, group_members, identify, process_info
from rollout.serving.spec import ServerSpec
from rollout.serving.supervisors._shared import LOG_TAIL_LINES, StopHow
from rollout.subprocesses import run_command

POLL = 0.1
TAIL_BYTES = 256 * 1024


def launch(spec: ServerSpec, env: Mapping[str, str], *, unit: str) -> Launch:
    """`unit` is for the kinds whose servers are known by name; a process is known by its pid."""
    spec.state_dir.mkdir(parents=True, exist_ok=True)
    if spec.log_file.exists():
        spec.log_file.replace(spec.log_file.with_name(spec.log_file.name + ".1"))
    detached = run_command(
        [sys.executable, "-m", "rollout.serving.detach", str(spec.log_file), "--", *spec.argv],
        cwd=spec.cwd,
        env=server_env(env, spec.version),
        check=False,
    )
    if detached.returncode != 0:
        raise ExternalError(f"could not start {spec.color}: {detached.stderr.strip() or 'no reason given'}")
    pid = int(detached.stdout.strip())
    return new_launch(spec, "process", pid)


def liveness(spec: ServerSpec, launch: Launch) -> Liveness:
    if launch.pid is None:
        return "gone"
    return identify(process_info(launch.pid), start_ticks=launch.start_ticks, argv=launch.argv)


def stop(spec: ServerSpec, launch: Launch, *, drain: float, grace: float) -> StopHow:
    """SIGTERM to the server (vLLM drains for its --shutdown-timeout), then SIGTERM to its whole process
    group, then SIGKILL; the group must be empty before we say it stopped."""
    if launch.pid is None or liveness(spec, launch) != "running":
        return "stopped"
    pid = launch.pid
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    how: StopHow = "drained"
    if not _wait(lambda: liveness(spec, launch) != "running", drain):
        how = "terminated"
    # workers share the server's group, whose id cannot be reused while any of them lives
    if group_members(pid):
        _signal_group(pid, signal.SIGTERM)
        if not _wait(lambda: not group_members(pid), grace):
            how = "killed"
            _signal_group(pid, signal.SIGKILL)
            if not _wait(lambda: not group_members(pid), grace):
                raise ExternalError(f"{spec.color} (process group {pid}) survived SIGKILL")
    return how


def log_tail(spec: ServerSpec, launch: Launch, lines: int = LOG_TAIL_LINES) -> tuple[str, ...]:
    return tail(spec.log_file, lines)


def log_source(spec: ServerSpec, launch: Launch) -> str:
    return str(spec.log_file)


def tail(path: Path, lines: int) -> tuple[str, ...]:
    try:
        with path.open("rb") as handle:
            handle.seek(max(handle.seek(0, os.SEEK_END) - TAIL_BYTES, 0))
            text = handle.read().decode(errors="replace")
    except FileNotFoundError:
        return ()
    return tuple(text.splitlines()[-lines:])


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _wait(done: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        if done():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL)
