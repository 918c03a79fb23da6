"""Apply a traffic state to the router: plan the change, then carry it out and prove it, or undo it.

`plan_change` decides everything before anything is touched: the config text, its diff against the
live one, the commands that will validate and reload it, and the split the probes must observe.
`rollout apply --dry-run` prints that plan; `carry_out` executes the same plan: validate the candidate
beside the live config, back up, swap, reload, wait until the router serves the new revision, verify.

Every step before the swap leaves the router untouched. Once the new config is in place, any failure
(reload, health, the observed split) restores the previous config and reloads again, then raises
ExternalError: the previous traffic keeps flowing. Whether it does is checked, not assumed: a probed router
must answer on the previous config again, and the error says if it does not, and how to restart it.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import os
import shlex
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx

from rollout.atomic import write_atomic
from rollout.documents import load_yaml
from rollout.errors import ExternalError, InputError, RolloutError, Stopped
from rollout.plan import Plan, RouterKind
from rollout.routers import (
    ADAPTERS,
    probe_style,
    reload_command,
    rendered_config,
    restart_command,
    router_problems,
    validate_command,
)
from rollout.routers._shared import ProbeStyle, expectations, headline, revision_of
from rollout.routers.probes import count_colors, wait_live
from rollout.routers.split import Expectation, SplitCheck, check_split
from rollout.subprocesses import Command, run_command, shown
from rollout.traffic import TrafficState

COMMAND_TIMEOUT = 120.0
PROBE_TIMEOUT = 60.0
LOCK_WAIT = 300.0
"""How long a second apply waits for the first: longer than one apply takes (validate, reload, probes)."""
LOCK_POLL = 0.1

VerifiedBy = Literal["probes", "file"]


@dataclass(frozen=True, kw_only=True)
class Step:
    """A command apply runs; `what` names it in messages ("validate", "router.validate", "reload")."""

    what: str
    command: Command


@dataclass(frozen=True, kw_only=True)
class Probing:
    """How the new config is proved live: probe requests through `url`, which must show each expected split."""

    url: str
    style: ProbeStyle
    expected: tuple[Expectation, ...]


@dataclass(frozen=True, kw_only=True)
class RouterChange:
    """What `rollout apply` will do for a traffic state, decided before anything is touched.

    An unchanged config is neither validated nor reloaded (`validate` is empty, `reload` None), only
    verified. `probing` None: the written file is checked instead of live traffic. `previous_revision` is
    what the router echoes on the previous config (None: rollout did not render it); `restart`, what brings
    back a router that stops answering (None: the plan does not say).
    """

    source: Path
    kind: RouterKind
    config: Path
    text: str
    previous: str | None
    previous_revision: str | None
    diff: str
    revision: str
    summary: str
    validate: tuple[Step, ...]
    reload: Step | None
    restart: str | None
    probing: Probing | None

    @property
    def changed(self) -> bool:
        return self.previous != self.text

    @property
    def verified_by(self) -> VerifiedBy:
        return "file" if self.probing is None else "probes"


@dataclass(frozen=True, kw_only=True)
class ApplyResult:
    change: RouterChange
    checks: tuple[SplitCheck, ...] = ()
    seconds: float = 0.0


def plan_change(
    plan: Plan, state: TrafficState, *, current: str | None, probes: int | None, env: Mapping[str, str]
) -> RouterChange:
    """The change that makes the router serve `state`, given the live config text (None: there is none).

    `probes` overrides router.probes (0: check the written file only). Raises InputError for what apply
    could not do: a probed router without an address, a router that needs router.reload without one, a
    LiteLLM that could not authenticate to a keyed model server.
    """
    require_router_inputs(plan, env)
    config = plan.router.config
    text, revision = rendered_config(plan, state)
    count = plan.router.probes if probes is None else probes
    style = probe_style(plan)
    if count and plan.router.url is None and style is not None:
        raise InputError.at(
            str(plan.path),
            f"the split cannot be verified without the {plan.router.kind} address, "
            "e.g. url: http://127.0.0.1:4000 (or probes: 0)",
            field="router.url",
        )
    reload = plan.router.reload or reload_command(plan, env)
    changed = current != text
    checks: list[Step] = []
    if changed:
        candidate = _candidate(config)
        command = validate_command(plan, candidate, env)
        if command is not None:
            checks.append(Step(what="validate", command=command))
        if plan.router.validate:
            line = plan.router.validate.replace("{config}", shlex.quote(str(candidate)))
            checks.append(Step(what="router.validate", command=line))
    probing = None
    if style is not None and plan.router.url is not None and count:
        probing = Probing(url=plan.router.url.rstrip("/"), style=style, expected=expectations(plan, state, count))
    return RouterChange(
        source=plan.path,
        kind=plan.router.kind,
        config=config,
        text=text,
        previous=current,
        previous_revision=revision_of(current),
        diff=unified_diff(current, text, str(config)),
        revision=revision,
        summary=headline(plan, state),
        validate=tuple(checks),
        reload=Step(what="reload", command=reload) if changed and reload is not None else None,
        restart=_shown(restart_command(plan, env)),
        probing=probing,
    )


def require_router_inputs(plan: Plan, env: Mapping[str, str]) -> None:
    """Raise InputError, with the plan's file, line and field, for what the router needs of the plan that only
    the environment shows (a LiteLLM in front of a model server keyed by $VLLM_API_KEY)."""
    found = router_problems(plan, env)
    if found:
        document = load_yaml(plan.path)
        raise InputError([document.problem(path, message) for path, message in found])


def change_for(plan: Plan, state: TrafficState, *, probes: int | None, env: Mapping[str, str]) -> RouterChange:
    """The change against the config the router has now: what `--dry-run` prints and apply carries out."""
    return plan_change(plan, state, current=read_current(plan), probes=probes, env=env)


def apply_traffic(
    plan: Plan,
    state: TrafficState,
    *,
    probes: int | None = None,
    env: Mapping[str, str],
    transport: httpx.BaseTransport | None = None,
    live_timeout: float | None = None,
    lock_wait: float = LOCK_WAIT,
) -> ApplyResult:
    """Make the router serve `state`, and prove it; raise ExternalError (after undoing) if it cannot.

    One apply at a time per router config: a second waits up to `lock_wait` seconds for the first, then
    says the router is busy (ExternalError); the change is planned under the lock, against the live config.
    """
    with router_lock(plan, wait=lock_wait):
        change = change_for(plan, state, probes=probes, env=env)
        return carry_out(change, env=env, transport=transport, live_timeout=live_timeout)


@contextlib.contextmanager
def router_lock(plan: Plan, *, wait: float) -> Iterator[None]:
    """An exclusive lock on the folder of the router config (where apply writes its candidate and backup),
    held by one apply at a time. The folder itself is locked, so no lock file is left behind."""
    folder = plan.router.config.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise InputError.at(
            str(plan.path),
            f"cannot write the router config beside {plan.router.config}: {exc.strerror or exc}",
            field="router.config",
        ) from None
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ExternalError(
                        f"the router is busy: another rollout apply is changing {folder}; "
                        f"waited {wait:g}s (try again when it has finished)"
                    ) from None
                time.sleep(LOCK_POLL)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def carry_out(
    change: RouterChange,
    *,
    env: Mapping[str, str],
    transport: httpx.BaseTransport | None = None,
    live_timeout: float | None = None,
) -> ApplyResult:
    """Execute a planned change; `transport` lets tests stand in for the router, `live_timeout` for its own wait.

    A config that did not exist before stays in place even when its reload fails, so an operator can
    start the router on it the first time.
    """
    started = time.monotonic()
    if change.changed:
        _swap(change, env, transport=transport, live_timeout=live_timeout)
    try:
        checks = _verify(change, env=env, transport=transport, live_timeout=live_timeout)
    except RolloutError as exc:
        if change.changed:
            raise _undo(change, env, exc, transport=transport, live_timeout=live_timeout) from exc
        raise
    _discard_backup(change.config)
    return ApplyResult(change=change, checks=checks, seconds=time.monotonic() - started)


@contextlib.contextmanager
def signals_stop_cleanly() -> Iterator[None]:
    """SIGTERM (a cancelled job) and SIGINT become a Stopped error where apply is, so that what would follow
    any failure follows a signal too: the previous config restored and reloaded, the deployment marked.
    Further signals are ignored until then; the runner's SIGKILL still ends everything. Outside the main
    thread, where Python cannot take signals, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = (signal.SIGTERM, signal.SIGINT)

    def stop(signum: int, frame: object) -> None:
        for number in caught:
            signal.signal(number, signal.SIG_IGN)
        raise Stopped(signum, signal.Signals(signum).name)

    previous = {number: signal.signal(number, stop) for number in caught}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def change_to_dict(change: RouterChange) -> dict[str, object]:
    probing = change.probing
    return {
        "kind": change.kind,
        "config": str(change.config),
        "revision": change.revision,
        "summary": change.summary,
        "changed": change.changed,
        "applied": False,
        "verified_by": change.verified_by,
        "validate": [{"what": step.what, "command": shown(step.command)} for step in change.validate],
        "reload": shown(change.reload.command) if change.reload is not None else None,
        "probe_url": probing.url if probing is not None else None,
        "expected": [
            {"audience": e.audience, "green_percent": e.green_percent, "probes": e.probes}
            for e in (probing.expected if probing is not None else ())
        ],
        "diff": change.diff,
    }


def result_to_dict(result: ApplyResult) -> dict[str, object]:
    return {
        **change_to_dict(result.change),
        "applied": True,
        "seconds": round(result.seconds, 3),
        "checks": [
            {
                "audience": c.audience,
                "intended": c.intended,
                "blue": c.blue,
                "green": c.green,
                "other": c.other,
                "low": round(c.low, 4),
                "high": round(c.high, 4),
                "ok": c.ok,
            }
            for c in result.checks
        ],
    }


def describe_change(change: RouterChange) -> str:
    """The plan as a person reads it: what will be written, run, and checked, then the diff."""
    lines = [f"{change.kind} config {change.config} (revision {change.revision}): {change.summary}"]
    if not change.changed:
        lines.append("  already up to date: nothing is written, validated or reloaded")
    lines.extend(f"  {step.what}: {shown(step.command)}" for step in change.validate)
    if change.reload is not None:
        lines.append(f"  reload: {shown(change.reload.command)}")
    elif change.changed:
        lines.append("  reload: nothing to reload")
    if change.probing is None:
        lines.append("  verify: the written file")
    else:
        lines.extend(
            f"  verify: {e.probes} probes through {change.probing.url} as {e.audience}: green {e.green_percent}%"
            for e in change.probing.expected
        )
    return "\n".join(lines) + "\n" + change.diff


def unified_diff(old: str | None, new: str, name: str) -> str:
    return "".join(
        difflib.unified_diff(
            (old or "").splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"{name} (current)" if old is not None else "/dev/null",
            tofile=f"{name} (new)",
        )
    )


def read_current(plan: Plan) -> str | None:
    try:
        return plan.router.config.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError.at(
            str(plan.path), f"cannot read the current router config {plan.router.config}: {exc}", field="router.config"
        ) from None


def _candidate(config: Path) -> Path:
    return config.with_name(f".{config.name}.rollout-candidate")


def _backup(config: Path) -> Path:
    return config.with_name(f".{config.name}.rollout-backup")


def _run(step: Step, env: Mapping[str, str]) -> None:
    run_command(step.command, env=env, timeout=COMMAND_TIMEOUT, what=step.what)


def _swap(
    change: RouterChange, env: Mapping[str, str], *, transport: httpx.BaseTransport | None, live_timeout: float | None
) -> None:
    """Validate the new config beside the old, keep a backup, rename it into place, and reload."""
    config = change.config
    candidate = _candidate(config)
    mode = config.stat().st_mode & 0o7777 if change.previous is not None else None
    try:
        write_atomic(candidate, change.text, mode=mode)
        if change.previous is not None:
            write_atomic(_backup(config), change.previous, mode=mode)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            candidate.unlink()
        _discard_backup(config)
        if not isinstance(exc, OSError):
            raise
        raise InputError.at(
            str(change.source),
            f"cannot write the router config beside {config}: {exc.strerror or exc}",
            field="router.config",
        ) from None
    try:
        _validate(change, env)
        os.replace(candidate, config)
    except BaseException:
        with contextlib.suppress(OSError):
            candidate.unlink()
        _discard_backup(config)
        raise
    if change.reload is not None:
        try:
            _run(change.reload, env)
        except ExternalError as exc:
            raise _undo(change, env, exc, transport=transport, live_timeout=live_timeout) from exc


def _validate(change: RouterChange, env: Mapping[str, str]) -> None:
    problems = ADAPTERS[change.kind].problems(change.text)
    if problems:
        raise ExternalError(f"the rendered {change.kind} config is not valid: " + "; ".join(problems))
    for step in change.validate:
        _run(step, env)


def _verify(
    change: RouterChange,
    *,
    env: Mapping[str, str],
    transport: httpx.BaseTransport | None,
    live_timeout: float | None,
) -> tuple[SplitCheck, ...]:
    probing = change.probing
    if probing is None:
        if change.config.read_text(encoding="utf-8") != change.text:
            raise ExternalError(f"{change.config} changed while it was being applied")
        return ()
    with _client(transport) as client:
        wait_live(client, probing.url, probing.style, change.revision, env=env, timeout=live_timeout)
        deadline = time.monotonic() + PROBE_TIMEOUT
        checks = tuple(
            check_split(
                expectation,
                count_colors(client, probing.url, probing.style, expectation, env=env, deadline=deadline),
            )
            for expectation in probing.expected
        )
    if not all(check.ok for check in checks):
        hint = probing.style.failure_hint if any(check.other for check in checks) else ""
        raise ExternalError(
            "the router's observed split does not match the intended weights:\n"
            + "\n".join(f"  {check.describe()}" for check in checks)
            + (f"\n  {hint}" if hint else "")
        )
    return checks


def _undo(
    change: RouterChange,
    env: Mapping[str, str],
    cause: RolloutError,
    *,
    transport: httpx.BaseTransport | None,
    live_timeout: float | None,
) -> ExternalError:
    """Put the previous config back, reload it, and see that the router answers on it again; the error says
    what failed and the state the router is left in (and keeps a signal's exit code)."""
    config = change.config
    if change.previous is None:
        note = f"there was no previous config to restore; the new {config} stays for the router's first start"
        return _undone(cause, f"{cause.message}\n{note}")
    try:
        write_atomic(config, change.previous)
    except OSError as exc:
        return _undone(
            cause, f"{cause.message}\nAND RESTORING THE PREVIOUS CONFIG FAILED: {exc}; it is kept at {_backup(config)}"
        )
    _discard_backup(config)
    restored = f"restored the previous {config}"
    if change.reload is not None:
        try:
            _run(change.reload, env)
        except ExternalError as exc:
            return _undone(cause, f"{cause.message}\n{restored}; reloading it failed too: {exc}")
        restored += " and reloaded it"
    # stopped, the job has seconds before it is killed: the message must get out before a long wait
    answering = "" if isinstance(cause, Stopped) else _answering(change, env, transport, live_timeout)
    return _undone(cause, f"{cause.message}\n{restored}{answering}")


def _answering(
    change: RouterChange, env: Mapping[str, str], transport: httpx.BaseTransport | None, live_timeout: float | None
) -> str:
    """What the undo note adds about the router after the previous config is back: whether it answers on it."""
    probing = change.probing
    if probing is None:
        return ""
    which = "the previous config" if change.previous_revision is None else f"config {change.previous_revision}"
    try:
        with _client(transport) as client:
            wait_live(
                client, probing.url, probing.style, change.previous_revision, env=env, timeout=live_timeout, which=which
            )
    except ExternalError as exc:
        how = "start it again the way it is run"
        if change.restart is not None:
            how = f"restart it with `{change.restart}`"
        elif change.reload is not None:
            how += f" (router.reload `{shown(change.reload.command)}` only reloads a running router)"
        return f", but the router does not answer: {exc}; {how}"
    return f"; the router answers on {which}"


def _client(transport: httpx.BaseTransport | None) -> httpx.Client:
    return httpx.Client(transport=transport, timeout=httpx.Timeout(10.0, connect=2.0))


def _shown(command: Command | None) -> str | None:
    return None if command is None else shown(command)


def _undone(cause: RolloutError, message: str) -> ExternalError:
    error = ExternalError(message)
    if isinstance(cause, Stopped):
        error.exit_code = cause.exit_code
    return error


def _discard_backup(config: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        _backup(config).unlink()
