"""`rollout init`: the files a repository needs to start rolling out, from the templates we ship."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rollout.atomic import write_atomic
from rollout.callers import Release, installed_release, render_caller
from rollout.documents import parse_yaml
from rollout.errors import InputError
from rollout.plan import DEFAULT_RUNNER, PLAN_FILE, TRAFFIC_FILE
from rollout.traffic import TrafficState, render_traffic

TEMPLATES = Path(__file__).parent / "templates" / "init"
CALLERS = ".github/workflows/"
_SERVICE_LINE = re.compile(r"^service:[ \t]*[^\s#]*", re.MULTILINE)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


@dataclass(frozen=True, kw_only=True)
class Scaffold:
    files: Mapping[str, str]
    """Relative path -> content."""


def scaffold(service: str, *, release: Release | None = None) -> Scaffold:
    """The files `rollout init` writes, as text, with the callers pinned to `release` (the installed one)."""
    if not _NAME.match(service):
        raise InputError.at("--service", f"{service!r} is not a service name (letters, digits, '.', '_', '-')")
    files: dict[str, str] = {}
    for path in sorted(TEMPLATES.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            files[path.relative_to(TEMPLATES).as_posix()] = path.read_text(encoding="utf-8")
    files[PLAN_FILE] = _SERVICE_LINE.sub(f"service: {service}", files[PLAN_FILE], count=1)
    runner = parse_yaml(files[PLAN_FILE], file=PLAN_FILE).data.get("runner", DEFAULT_RUNNER)
    for name in files:
        if name.startswith(CALLERS):
            files[name] = render_caller(
                files[name],
                runner=(runner,) if isinstance(runner, str) else runner,
                release=release or installed_release(),
            )
    files[TRAFFIC_FILE] = render_traffic(TrafficState.initial(service))
    return Scaffold(files=files)


def write_scaffold(target: Path, plan: Scaffold, *, force: bool) -> list[Path]:
    existing = [name for name in plan.files if (target / name).exists()]
    if existing and not force:
        shown = ", ".join(existing[:5]) + (f" and {len(existing) - 5} more" if len(existing) > 5 else "")
        raise InputError.at(str(target), f"would overwrite {shown}; pass --force to replace them")
    written = []
    for name, text in plan.files.items():
        write_atomic(target / name, text)
        written.append(target / name)
    return written
