"""Options every command shares, and the small helpers that load what they point at."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import click

from rollout.atomic import write_atomic
from rollout.cli.output import echo_json_text
from rollout.errors import ExternalError, InputError
from rollout.forge import FORGE_CHOICES
from rollout.plan import PLAN_FILE, Plan, load_plan

F = TypeVar("F", bound=Callable[..., Any])


def plan_option(func: F) -> F:
    return click.option(
        "--plan",
        "plan_path",
        type=click.Path(path_type=Path, dir_okay=False),
        default=PLAN_FILE,
        envvar="ROLLOUT_PLAN",
        show_default=True,
        help="The rollout plan.",
    )(func)


def forge_option(func: F) -> F:
    return click.option(
        "--forge",
        "forge_choice",
        type=click.Choice(FORGE_CHOICES),
        default="auto",
        show_default=True,
        help="github (GITHUB_REPOSITORY, GITHUB_TOKEN, GITHUB_API_URL) or local (this git repository); "
        "auto picks github in Actions.",
    )(func)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Write machine-readable JSON to stdout.")(func)


def open_plan(path: Path) -> Plan:
    return load_plan(path, display=str(path))


def parse_now(text: str | None) -> datetime:
    """`--now`: decide as if it were this time; naive times are UTC, and no value is the current time."""
    if text is None:
        return datetime.now(timezone.utc)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError.at("--now", f"{text!r} is not an ISO 8601 time (e.g. 2026-11-23T10:00:00Z)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def echo_json(data: Any) -> None:
    echo_json_text(json.dumps(data, indent=2, sort_keys=False, default=str))


def save_output(path: Path, text: str, *, what: str, env: Mapping[str, str]) -> None:
    """Write a command's output file atomically. When it cannot be written (a full disk, a file size limit),
    keep the finished work where it can be, beside the runner's temp files or else on stderr, and fail
    with the cause (exit 4): a run that took an hour is not lost to a full disk."""
    try:
        write_atomic(path, text)
        return
    except OSError as exc:
        cause = exc.strerror or str(exc)
    spare = Path(env.get("RUNNER_TEMP") or tempfile.gettempdir()) / f"rollout-{uuid.uuid4().hex[:8]}-{path.name}"
    try:
        write_atomic(spare, text)
        kept = f"it is kept at {spare}"
    except OSError as exc:
        click.echo(f"{what}, which could not be kept in {spare.parent} either ({exc.strerror or exc}):", err=True)
        if path.suffix == ".json":
            echo_json_text(json.dumps(json.loads(text), indent=1, ensure_ascii=True), err=True)
        else:
            click.echo(text, err=True)
        kept = "it is printed on stderr above"
    raise ExternalError(f"cannot write {what} to {path}: {cause}; {kept}")


def environ() -> dict[str, str]:
    return dict(os.environ)
