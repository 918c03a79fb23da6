"""What /proc says about a process: enough to tell the server we started from a stranger reusing its pid."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

PROC = Path("/proc")
GONE_STATES = frozenset({"Z", "X", "x"})

Liveness = Literal["running", "gone", "foreign"]


@dataclass(frozen=True, kw_only=True)
class ProcessInfo:
    pid: int
    state: str
    pgid: int
    start_ticks: int
    cmdline: tuple[str, ...]


def parse_stat(text: str) -> tuple[str, int, int]:
    """(state, process group, start time in clock ticks since boot) from a /proc/<pid>/stat line.

    The command name sits in parentheses and may itself hold spaces and parentheses, so fields are
    counted from the last ')'.
    """
    rest = text[text.rindex(")") + 2 :].split()
    return rest[0], int(rest[2]), int(rest[19])


def process_info(pid: int, proc: Path = PROC) -> ProcessInfo | None:
    try:
        stat = (proc / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    state, pgid, start_ticks = parse_stat(stat)
    cmdline = tuple(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    return ProcessInfo(pid=pid, state=state, pgid=pgid, start_ticks=start_ticks, cmdline=cmdline)


def identify(info: ProcessInfo | None, *, start_ticks: int | None, argv: tuple[str, ...]) -> Liveness:
    """Is the recorded process still the one running under its pid?

    A recorded start time decides; without one, the command line must end with the recorded argv
    (an interpreter may stand in front of a script's name).
    """
    if info is None or info.state in GONE_STATES:
        return "gone"
    if start_ticks is not None:
        return "running" if info.start_ticks == start_ticks else "foreign"
    if not argv or not info.cmdline:
        return "foreign"
    if len(argv) == 1:
        return "running" if Path(info.cmdline[-1]).name == Path(argv[0]).name else "foreign"
    return "running" if info.cmdline[-(len(argv) - 1) :] == argv[1:] else "foreign"


def group_members(pgid: int, proc: Path = PROC) -> tuple[int, ...]:
    """Live (non-zombie) processes in a process group."""
    members = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            info = process_info(int(entry.name), proc)
            if info is not None and info.pgid == pgid and info.state not in GONE_STATES:
                members.append(info.pid)
    return tuple(sorted(members))
