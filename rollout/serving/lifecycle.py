"""Start, stop and inspect the blue and green model servers the plan describes.

These are the operations `rollout serve` and the demo call. Each looks at what the state dir records
and what the machine shows before acting, so running one twice is safe: a healthy matching server is
left alone, a record whose process has gone is cleaned up, and a pid that now belongs to another
program is forgotten, never signalled.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import httpx

from rollout import vllm_flags
from rollout.documents import load_yaml
from rollout.errors import CheckFailed, ExternalError, InputError
from rollout.plan import Color, ModelVersion, Plan
from rollout.serving.engines import local_model_path
from rollout.serving.health import Health, probe, read_version
from rollout.serving.launch_records import (
    Launch,
    forget_launch,
    move_launch,
    read_launch,
    read_recorded,
    write_launch,
)
from rollout.serving.ports import port_holder, port_in_use
from rollout.serving.spec import ServerSpec, free_unit, server_spec
from rollout.serving.supervisors import LOG_TAIL_LINES, STOP_GRACE, SUPERVISORS, StopHow
from rollout.traffic import Weights, load_traffic

DEFAULT_START_TIMEOUT = 900.0
POLL = 0.5

State = Literal["stopped", "starting", "healthy", "unhealthy"]
# Tells the person waiting what a start is doing, one line at a time.
Narrate = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class ServerStatus:
    color: Color
    name: str
    supervisor: str
    url: str
    port: int
    state: State
    pid: int | None = None
    started_at: datetime | None = None
    uptime_seconds: float | None = None
    served: tuple[str, ...] = ()
    version: str | None = None
    matches_plan: bool | None = None
    differences: tuple[str, ...] = ()
    log: Path | None = None
    """The state dir's log file of a `process` server; systemd's journal and docker keep the others'."""
    unit: str | None = None
    """The systemd unit or docker container the running server was started as (after a promotion, green's)."""
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class StartResult:
    action: Literal["started", "already-running"]
    status: ServerStatus
    waited_seconds: float


@dataclass(frozen=True, kw_only=True)
class StopResult:
    color: Color
    action: Literal["stopped", "not-running"]
    how: StopHow | None = None
    pid: int | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class _Seen:
    """A recorded launch checked against the machine: `launch` is None when nothing of ours runs."""

    launch: Launch | None
    notes: tuple[str, ...] = ()


def status(
    plan: Plan, color: Color, *, env: Mapping[str, str] | None = None, client: httpx.Client | None = None
) -> ServerStatus:
    env = os.environ if env is None else env
    spec = server_spec(plan, color, env)
    _follow_promotion(plan, env)
    with _client(client) as http:
        return _status(spec, _look(spec), http)


def start(
    plan: Plan,
    color: Color,
    *,
    timeout: float = DEFAULT_START_TIMEOUT,
    env: Mapping[str, str] | None = None,
    client: httpx.Client | None = None,
    progress: Narrate | None = None,
) -> StartResult:
    """Start `color` and wait until /health answers 200 and /v1/models lists its served name.

    Green starts only beside a healthy blue, and never while the other color is still initialising
    (two vLLM processes loading onto one GPU at once is a known failure); a lock in the state dir keeps
    two starts from overlapping.
    """
    env = os.environ if env is None else env
    say = progress or (lambda _message: None)
    spec = server_spec(plan, color, env)
    _preflight(plan, spec)
    began = time.monotonic()
    deadline = began + timeout
    with _client(client) as http, _start_lock(spec, deadline, say):
        _follow_promotion(plan, env)
        seen = _look(spec)
        if seen.launch is not None:
            current = _status(spec, seen, http)
            if current.differences:
                raise CheckFailed(
                    f"{color} is already running, but not as the plan says: {'; '.join(current.differences)}."
                    f" Stop it first (rollout serve stop {color})."
                )
            if current.state != "healthy":
                say(f"{color} is already starting (pid {current.pid}); waiting for it")
                _wait_ready(spec, seen.launch, http, deadline, timeout, ours=False)
            return StartResult(
                action="already-running",
                status=_status(spec, _look(spec), http),
                waited_seconds=time.monotonic() - began,
            )
        _wait_for_other(plan, spec, env, http, deadline, say)
        _check_port(spec)
        say(f"starting {color} ({spec.version.name}) on port {spec.version.port}")
        held = read_recorded(spec.state_dir, spec.service, _other(color))
        unit = free_unit(spec.service, color, held.unit if held else None)
        launch = SUPERVISORS[spec.version.supervisor].launch(spec, env, unit=unit)
        write_launch(spec, launch)
        _wait_ready(spec, launch, http, deadline, timeout, ours=True)
        started = _status(spec, _look(spec), http)
        return StartResult(
            action="started",
            status=replace(started, notes=(*seen.notes, *started.notes)),
            waited_seconds=time.monotonic() - began,
        )


def stop(
    plan: Plan,
    color: Color,
    *,
    force: bool = False,
    drain: float | None = None,
    grace: float = STOP_GRACE,
    env: Mapping[str, str] | None = None,
) -> StopResult:
    """Drain, terminate, then kill `color`; refuse while it carries traffic unless `force`."""
    env = os.environ if env is None else env
    spec = server_spec(plan, color, env)
    if not force:
        _refuse_live(plan, color)
    _follow_promotion(plan, env)
    seen = _look(spec)
    if seen.launch is None:
        return StopResult(color=color, action="not-running", notes=seen.notes)
    how = SUPERVISORS[seen.launch.supervisor].stop(
        spec, seen.launch, drain=spec.drain if drain is None else drain, grace=grace
    )
    forget_launch(spec)
    return StopResult(color=color, action="stopped", how=how, pid=seen.launch.pid, notes=seen.notes)


def differences(launch: Launch, spec: ServerSpec) -> tuple[str, ...]:
    """How the running server differs from what the plan now says; empty when it matches."""
    version = spec.version
    found = list(identity_differences(launch, version))
    if launch.supervisor != version.supervisor:
        found.append(f"runs under {launch.supervisor}, the plan says {version.supervisor}")
    if launch.argv != spec.argv and not found:
        was, now = (spec.hide(" ".join(vllm_flags.hide_keys(argv))) for argv in (launch.argv, spec.argv))
        found.append(f"was started as {was!r}, the plan now gives {now!r}")
    return tuple(found)


def identity_differences(launch: Launch, version: ModelVersion) -> tuple[str, ...]:
    """Whether the recorded server is another version altogether: its name, revision or address."""
    found = []
    if launch.name != version.name:
        found.append(f"serves {launch.name!r}, the plan names {version.name!r}")
    if launch.revision != version.revision:
        found.append(f"runs revision {launch.revision or '(none)'}, the plan says {version.revision or '(none)'}")
    if launch.port != version.port or launch.host != version.host:
        found.append(f"listens on {launch.host}:{launch.port}, the plan says {version.host}:{version.port}")
    return tuple(found)


def traffic_share(weights: Weights, color: Color) -> int:
    """The percentage of requests the router sends to `color`; blue keeps them all until green is at 100."""
    return weights.blue if color == "blue" else weights.green


def _follow_promotion(plan: Plan, env: Mapping[str, str]) -> None:
    """After a decommission the plan names the old green as blue: its record becomes blue's, so blue is
    found running where green was, still under the unit or container it was started as, and green is
    free for the next version (which starts under another name while that one is held). Whichever color
    is asked about: the server green's record holds is blue's now, and `stop green` must not touch it."""
    blue = server_spec(plan, "blue", env)
    if read_launch(blue) is not None:
        return
    promoted = read_recorded(blue.state_dir, blue.service, "green")
    if promoted is None or identity_differences(promoted, plan.blue):
        return
    if plan.green is not None and not identity_differences(promoted, plan.green):
        return
    move_launch(blue.state_dir, promoted, "green", "blue")


def _other(color: Color) -> Color:
    return "green" if color == "blue" else "blue"


def _look(spec: ServerSpec) -> _Seen:
    launch = read_launch(spec)
    if launch is None:
        return _Seen(launch=None)
    liveness = SUPERVISORS[launch.supervisor].liveness(spec, launch)
    if liveness == "running":
        return _Seen(launch=launch)
    forget_launch(spec)
    if liveness == "foreign":
        return _Seen(
            launch=None,
            notes=(
                f"pid {launch.pid} from the old pid file now belongs to another program; "
                "left it alone and removed the stale record",
            ),
        )
    return _Seen(launch=None, notes=(f"removed a stale pid file: pid {launch.pid} is no longer running",))


def _status(spec: ServerSpec, seen: _Seen, http: httpx.Client) -> ServerStatus:
    version = spec.version
    base = ServerStatus(
        color=spec.color,
        name=version.name,
        supervisor=version.supervisor,
        url=version.url,
        port=version.port,
        state="stopped",
        log=spec.log_file if version.supervisor == "process" else None,
        notes=seen.notes,
    )
    launch = seen.launch
    if launch is None:
        if port_in_use(version.host, version.port):
            holder = port_holder(version.port)
            return replace(
                base,
                notes=(*seen.notes, f"port {version.port} is in use by {holder or 'a process this user cannot see'}"),
            )
        return base
    health = probe(version.url, client=http, headers=spec.headers)
    found = differences(launch, spec)
    now = datetime.now(timezone.utc)
    return replace(
        base,
        state=_state(health, version.name),
        pid=launch.pid,
        log=spec.log_file if launch.unit is None else None,
        unit=launch.unit,
        started_at=launch.started_at,
        uptime_seconds=(now - launch.started_at).total_seconds(),
        served=health.models,
        version=read_version(version.url, client=http) if health.answering else None,
        matches_plan=not found,
        differences=found,
    )


def _state(health: Health, name: str) -> State:
    if health.serves(name):
        return "healthy"
    return "unhealthy" if health.answering else "starting"


def _preflight(plan: Plan, spec: ServerSpec) -> None:
    version = spec.version
    where = ("models", spec.color)
    if version.supervisor == "docker" and version.engine != "vllm":
        raise InputError(
            [
                load_yaml(plan.path).problem(
                    (*where, "supervisor"), "the docker supervisor runs the vLLM image; use engine: vllm"
                )
            ]
        )
    path = local_model_path(version, plan.root)
    if path is not None and not path.exists():
        raise InputError([load_yaml(plan.path).problem((*where, "model"), f"no model file at {path}")])


def _wait_for_other(
    plan: Plan, spec: ServerSpec, env: Mapping[str, str], http: httpx.Client, deadline: float, say: Narrate
) -> None:
    other = _other(spec.color)
    if other == "green" and plan.green is None:
        return
    other_spec = server_spec(plan, other, env)
    seen = _look(other_spec)
    if seen.launch is not None and (found := identity_differences(seen.launch, other_spec.version)):
        raise CheckFailed(
            f"the state dir records a {other} server that is not the plan's {other}: it {'; '.join(found)}"
            f" ({other_spec.launch_file}). It will never become the plan's {other}, so {spec.color} does not wait"
            f" for it: stop it (rollout serve stop {other} --force), or restore the plan it was started from."
        )
    current = _status(other_spec, seen, http)
    if current.state == "starting" and seen.launch is not None:
        say(f"waiting for {other} to finish starting before {spec.color} starts (never two at once)")
        _wait_ready(other_spec, seen.launch, http, deadline, deadline - time.monotonic(), ours=False)
        current = _status(other_spec, _look(other_spec), http)
    if spec.color == "green" and current.state != "healthy":
        raise CheckFailed(
            f"green starts only beside a healthy blue, and blue is {current.state}; "
            "start blue first (rollout serve start blue)"
        )


def _check_port(spec: ServerSpec) -> None:
    version = spec.version
    if port_in_use(version.host, version.port):
        holder = port_holder(version.port)
        raise CheckFailed(
            f"port {version.port} on {version.host} is already in use by "
            f"{holder or 'a process this user cannot see'}; {spec.color} cannot listen there"
        )


def _wait_ready(
    spec: ServerSpec, launch: Launch, http: httpx.Client, deadline: float, timeout: float, *, ours: bool
) -> None:
    """Wait for the server to serve its name. A server this call launched is stopped if it never does;
    one that was already running is left as it is."""
    supervisor = SUPERVISORS[launch.supervisor]
    health = Health(url=spec.version.url, health=None)
    while time.monotonic() < deadline:
        if supervisor.liveness(spec, launch) != "running":
            forget_launch(spec)
            raise ExternalError(f"{spec.color} exited while starting.{_log_tail(spec, launch)}")
        health = probe(spec.version.url, client=http, headers=spec.headers)
        if health.serves(spec.version.name):
            return
        time.sleep(POLL)
    tail = _log_tail(spec, launch)
    if ours:
        supervisor.stop(spec, launch, drain=0, grace=STOP_GRACE)
        forget_launch(spec)
    raise ExternalError(
        f"{spec.color} did not become healthy within {timeout:.0f}s ({_describe(health, spec)})"
        f"{'; stopped it' if ours else ''}.{tail}"
    )


def _describe(health: Health, spec: ServerSpec) -> str:
    if not health.answering:
        return f"nothing answered at {health.url}" + (f": {health.error}" if health.error else "")
    if not health.healthy:
        return f"/health answered {health.health}"
    return f"/v1/models lists {', '.join(health.models) or 'nothing'}, not {spec.version.name!r}"


def _log_tail(spec: ServerSpec, launch: Launch) -> str:
    supervisor = SUPERVISORS[launch.supervisor]
    lines = supervisor.log_tail(spec, launch, LOG_TAIL_LINES)
    if not lines:
        return " The server wrote no log."
    return f" Last {len(lines)} lines of its log ({supervisor.log_source(spec, launch)}):\n" + "\n".join(
        f"  {spec.hide(line)}" for line in lines
    )


def _refuse_live(plan: Plan, color: Color) -> None:
    share = traffic_share(load_traffic(plan).weights, color)
    if share > 0:
        raise CheckFailed(
            f"{color} carries {share}% of the traffic ({plan.traffic_path.name}); stopping it would fail "
            "those requests. Move the traffic first, or pass --force."
        )


@contextlib.contextmanager
def _client(client: httpx.Client | None) -> Iterator[httpx.Client]:
    if client is not None:
        yield client
        return
    # model servers sit on the runner itself: a proxy from the environment must not get in between
    with httpx.Client(trust_env=False) as own:
        yield own


@contextlib.contextmanager
def _start_lock(spec: ServerSpec, deadline: float, say: Narrate) -> Iterator[None]:
    spec.state_dir.mkdir(parents=True, exist_ok=True)
    with spec.lock_file.open("a") as handle:
        told = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise CheckFailed(f"another `rollout serve start` still holds {spec.lock_file}") from None
                if not told:
                    say("waiting for another `rollout serve start` to finish (only one server starts at a time)")
                    told = True
                time.sleep(POLL)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
