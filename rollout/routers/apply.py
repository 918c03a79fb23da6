"""Apply a traffic state to the router: render, validate, back up, swap, reload, check, verify, or undo.

Every step before the swap leaves the router untouched. Once the new config is in place, any failure
(reload, health, the observed split) restores the previous config and reloads again, then raises
ExternalError: the previous traffic keeps flowing.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import shlex
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import httpx

from rollout.atomic import write_atomic
from rollout.errors import ExternalError, InputError, RolloutError
from rollout.plan import Plan
from rollout.routers.adapter import RouterAdapter, config_revision, expectations, headline
from rollout.routers.adapters import ADAPTERS
from rollout.routers.probes import count_colors, wait_live
from rollout.routers.split import CONFIDENCE, SplitCheck, check_split
from rollout.traffic import TrafficState

COMMAND_TIMEOUT = 120.0
PROBE_TIMEOUT = 60.0

Command = str | Sequence[str]
VerifiedBy = Literal["probes", "file", "nothing"]


@dataclass(frozen=True, kw_only=True)
class ApplyResult:
    kind: str
    config: Path
    revision: str
    summary: str
    diff: str
    changed: bool
    applied: bool
    verified_by: VerifiedBy
    checks: tuple[SplitCheck, ...] = ()
    seconds: float = 0.0


def result_to_dict(result: ApplyResult) -> dict[str, object]:
    return {
        "kind": result.kind,
        "config": str(result.config),
        "revision": result.revision,
        "summary": result.summary,
        "changed": result.changed,
        "applied": result.applied,
        "verified_by": result.verified_by,
        "seconds": round(result.seconds, 3),
        "diff": result.diff,
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


def apply_traffic(
    plan: Plan,
    state: TrafficState,
    *,
    dry_run: bool = False,
    probes: int | None = None,
    env: Mapping[str, str],
    transport: httpx.BaseTransport | None = None,
    confidence: float = CONFIDENCE,
    probe_timeout: float = PROBE_TIMEOUT,
    live_timeout: float | None = None,
) -> ApplyResult:
    """Make the router serve `state`, and prove it; raise ExternalError (after undoing) if it cannot.

    `probes` overrides router.probes (0: check the written file only); `transport` lets tests stand in
    for the router. A config that did not exist before stays in place even when its reload fails, so an
    operator can start the router on it the first time.
    """
    started = time.monotonic()
    adapter = ADAPTERS[plan.router.kind]
    config = plan.router.config
    text = adapter.render(plan, state)
    previous = _read_current(plan)
    result = ApplyResult(
        kind=plan.router.kind,
        config=config,
        revision=config_revision(plan, state),
        summary=headline(plan, state),
        diff=unified_diff(previous, text, str(config)),
        changed=previous != text,
        applied=False,
        verified_by="nothing",
    )
    if dry_run:
        return result
    probes = plan.router.probes if probes is None else probes
    if probes and plan.router.url is None and adapter.probe_style(plan) is not None:
        raise InputError.at(
            str(plan.path),
            f"the split cannot be verified without the {plan.router.kind} address, "
            "e.g. url: http://127.0.0.1:4000 (or probes: 0)",
            field="router.url",
        )
    reload = _reload_command(plan, adapter, env)
    if result.changed:
        _swap(plan, adapter, text, previous, reload, env)
    try:
        verified_by, checks = _verify(
            plan,
            state,
            adapter,
            text,
            result.revision,
            env=env,
            transport=transport,
            probes=probes,
            confidence=confidence,
            probe_timeout=probe_timeout,
            live_timeout=live_timeout,
        )
    except RolloutError as exc:
        if result.changed:
            raise _undo(plan, previous, reload, env, exc) from exc
        raise
    _discard_backup(config)
    return replace(result, applied=True, verified_by=verified_by, checks=checks, seconds=time.monotonic() - started)


def unified_diff(old: str | None, new: str, name: str) -> str:
    return "".join(
        difflib.unified_diff(
            (old or "").splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"{name} (current)" if old is not None else "/dev/null",
            tofile=f"{name} (new)",
        )
    )


def _read_current(plan: Plan) -> str | None:
    try:
        return plan.router.config.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError.at(
            str(plan.path), f"cannot read the current router config {plan.router.config}: {exc}", field="router.config"
        ) from None


def _reload_command(plan: Plan, adapter: RouterAdapter, env: Mapping[str, str]) -> Command | None:
    return plan.router.reload if plan.router.reload else adapter.reload_command(plan, env)


def _candidate(config: Path) -> Path:
    return config.with_name(f".{config.name}.rollout-candidate")


def _backup(config: Path) -> Path:
    return config.with_name(f".{config.name}.rollout-backup")


def _swap(
    plan: Plan, adapter: RouterAdapter, text: str, previous: str | None, reload: Command | None, env: Mapping[str, str]
) -> None:
    """Validate the new config beside the old, keep a backup, rename it into place, and reload."""
    config = plan.router.config
    candidate = _candidate(config)
    mode = config.stat().st_mode & 0o7777 if previous is not None else None
    try:
        write_atomic(candidate, text, mode=mode)
        if previous is not None:
            write_atomic(_backup(config), previous, mode=mode)
    except OSError as exc:
        with contextlib.suppress(OSError):
            candidate.unlink()
        raise InputError.at(
            str(plan.path),
            f"cannot write the router config beside {config}: {exc.strerror or exc}",
            field="router.config",
        ) from None
    try:
        _validate(plan, adapter, text, candidate, env)
        os.replace(candidate, config)
    except BaseException:
        with contextlib.suppress(OSError):
            candidate.unlink()
        _discard_backup(config)
        raise
    if reload is not None:
        try:
            _run(reload, env, what="reload")
        except ExternalError as exc:
            raise _undo(plan, previous, reload, env, exc) from exc


def _validate(plan: Plan, adapter: RouterAdapter, text: str, candidate: Path, env: Mapping[str, str]) -> None:
    problems = adapter.problems(text)
    if problems:
        raise ExternalError(f"the rendered {plan.router.kind} config is not valid: " + "; ".join(problems))
    command = adapter.validate_command(plan, candidate, env)
    if command is not None:
        _run(command, env, what="validate")
    if plan.router.validate:
        _run(plan.router.validate.replace("{config}", shlex.quote(str(candidate))), env, what="router.validate")


def _verify(
    plan: Plan,
    state: TrafficState,
    adapter: RouterAdapter,
    text: str,
    revision: str,
    *,
    env: Mapping[str, str],
    transport: httpx.BaseTransport | None,
    probes: int,
    confidence: float,
    probe_timeout: float,
    live_timeout: float | None,
) -> tuple[VerifiedBy, tuple[SplitCheck, ...]]:
    style = adapter.probe_style(plan)
    if style is None or plan.router.url is None or probes == 0:
        if plan.router.config.read_text(encoding="utf-8") != text:
            raise ExternalError(f"{plan.router.config} changed while it was being applied")
        return "file", ()
    base = plan.router.url.rstrip("/")
    with httpx.Client(transport=transport, timeout=httpx.Timeout(10.0, connect=2.0)) as client:
        wait_live(client, base, style, revision, env=env, timeout=live_timeout)
        deadline = time.monotonic() + probe_timeout
        checks = tuple(
            check_split(
                expectation,
                count_colors(client, base, style, expectation, env=env, deadline=deadline),
                confidence=confidence,
            )
            for expectation in expectations(plan, state, probes)
        )
    if not all(check.ok for check in checks):
        raise ExternalError(
            "the router's observed split does not match the intended weights:\n"
            + "\n".join(f"  {check.describe()}" for check in checks)
        )
    return "probes", checks


def _undo(
    plan: Plan, previous: str | None, reload: Command | None, env: Mapping[str, str], cause: RolloutError
) -> ExternalError:
    """Put the previous config back and reload it; the error says what failed and what was restored."""
    config = plan.router.config
    if previous is None:
        note = f"there was no previous config to restore; the new {config} stays for the router's first start"
        return ExternalError(f"{cause.message}\n{note}")
    try:
        write_atomic(config, previous)
    except OSError as exc:
        return ExternalError(
            f"{cause.message}\nAND RESTORING THE PREVIOUS CONFIG FAILED: {exc}; it is kept at {_backup(config)}"
        )
    _discard_backup(config)
    notes = [f"restored the previous {config}"]
    if reload is not None:
        try:
            _run(reload, env, what="reload")
            notes.append("reloaded it")
        except ExternalError as exc:
            notes.append(f"reloading it failed too: {exc}")
    return ExternalError(f"{cause.message}\n{'; '.join(notes)}")


def _discard_backup(config: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        _backup(config).unlink()


def _run(command: Command, env: Mapping[str, str], *, what: str) -> None:
    shown = command if isinstance(command, str) else shlex.join(command)
    try:
        done = subprocess.run(
            command,
            shell=isinstance(command, str),
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ExternalError(f"{what} command `{shown}` could not run: {exc}") from None
    if done.returncode != 0:
        output = (done.stderr.strip() or done.stdout.strip()).splitlines()[-5:]
        raise ExternalError(
            f"{what} command `{shown}` failed (exit {done.returncode})"
            + (":\n  " + "\n  ".join(output) if output else "")
        )
