"""The record of what was started for a color: pid file plus a JSON of the argv, revision and start time.

The record is what lets `stop` and `status` tell our server from a stranger that later got its pid,
and tell whether the running server is still the one the plan describes.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rollout.atomic import write_atomic
from rollout.plan import Color, SupervisorKind
from rollout.serving.procfs import process_info
from rollout.serving.spec import ServerSpec, color_file, unit_names

UNIT_SUPERVISORS: frozenset[SupervisorKind] = frozenset({"systemd", "docker"})
"""The kinds whose server is a unit or container known by name, recorded in `Launch.unit`."""


@dataclass(frozen=True, kw_only=True)
class Launch:
    supervisor: SupervisorKind
    pid: int | None
    start_ticks: int | None
    argv: tuple[str, ...]
    name: str
    revision: str | None
    host: str
    port: int
    started_at: datetime
    unit: str | None = None
    """The name systemd or docker knows the server by, as it was started: every later command uses it."""


def new_launch(spec: ServerSpec, supervisor: SupervisorKind, pid: int | None, *, unit: str | None = None) -> Launch:
    """The record of a server just started as `pid`, with its start time so its pid can never be mistaken."""
    info = process_info(pid) if pid else None
    version = spec.version
    return Launch(
        supervisor=supervisor,
        pid=pid,
        start_ticks=info.start_ticks if info else None,
        argv=spec.argv,
        name=version.name,
        revision=version.revision,
        host=version.host,
        port=version.port,
        started_at=datetime.now(timezone.utc),
        unit=unit,
    )


def launch_to_dict(launch: Launch) -> dict[str, Any]:
    return {
        "supervisor": launch.supervisor,
        "pid": launch.pid,
        "start_ticks": launch.start_ticks,
        "argv": list(launch.argv),
        "name": launch.name,
        "revision": launch.revision,
        "host": launch.host,
        "port": launch.port,
        "started_at": launch.started_at.isoformat(),
        "unit": launch.unit,
    }


def launch_from_dict(data: dict[str, Any], *, service: str, color: Color) -> Launch:
    """A systemd or docker record written before units were recorded names none: it is of the unit named for
    the color whose file holds it, as only the process supervisor's records were moved between colors then."""
    supervisor = data["supervisor"]
    own = unit_names(service, color)[0] if supervisor in UNIT_SUPERVISORS else None
    return Launch(
        supervisor=supervisor,
        pid=data["pid"],
        start_ticks=data["start_ticks"],
        argv=tuple(data["argv"]),
        name=data["name"],
        revision=data["revision"],
        host=data["host"],
        port=int(data["port"]),
        started_at=datetime.fromisoformat(data["started_at"]),
        unit=data.get("unit", own),
    )


def write_launch(spec: ServerSpec, launch: Launch) -> None:
    write_atomic(spec.launch_file, _record_text(launch))
    if launch.pid is not None:
        write_atomic(spec.pid_file, f"{launch.pid}\n")


def read_launch(spec: ServerSpec) -> Launch | None:
    """The recorded launch; a pid file alone (written by hand or an older tool) gives a record without a
    start time, so only a matching command line can vouch for its process. Unreadable records count as none.
    """
    try:
        return launch_from_dict(
            json.loads(spec.launch_file.read_text(encoding="utf-8")), service=spec.service, color=spec.color
        )
    except FileNotFoundError:
        pass
    except (ValueError, KeyError, TypeError):
        return None
    try:
        pid = int(spec.pid_file.read_text(encoding="ascii").strip())
    except (FileNotFoundError, ValueError):
        return None
    started = datetime.fromtimestamp(spec.pid_file.stat().st_mtime).astimezone()
    version = spec.version
    return Launch(
        supervisor="process",
        pid=pid,
        start_ticks=None,
        argv=spec.argv,
        name=version.name,
        revision=version.revision,
        host=version.host,
        port=version.port,
        started_at=started,
    )


def read_recorded(state_dir: Path, service: str, color: Color) -> Launch | None:
    """The launch record a color's JSON holds, whatever the plan now says of that color; None when unreadable."""
    try:
        return launch_from_dict(
            json.loads(color_file(state_dir, color, ".json").read_text(encoding="utf-8")), service=service, color=color
        )
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def move_launch(state_dir: Path, launch: Launch, source: Color, target: Color) -> None:
    """Make `source`'s record (`launch`), pid file and log `target`'s: the same server, now serving as the other
    color, under the unit it was started as. The record is first rewritten in place to name that unit (an older
    one may not), and moves last, so an interrupted move leaves it where it is found again."""
    write_atomic(color_file(state_dir, source, ".json"), _record_text(launch))
    for suffix in (".log", ".pid", ".json"):
        with contextlib.suppress(FileNotFoundError):
            color_file(state_dir, source, suffix).replace(color_file(state_dir, target, suffix))


def _record_text(launch: Launch) -> str:
    return json.dumps(launch_to_dict(launch), indent=2) + "\n"


def forget_launch(spec: ServerSpec) -> None:
    for path in (spec.pid_file, spec.launch_file):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
