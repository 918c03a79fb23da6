"""What git knows about the rollout's state: when the traffic file last changed, and what it said before."""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path

from rollout.errors import ExternalError


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise ExternalError("git is not installed (it is needed to read the rollout's history)") from None
    if check and result.returncode != 0:
        raise ExternalError(f"git {' '.join(args)} failed in {cwd}: {result.stderr.strip() or result.stdout.strip()}")
    return result


def is_repository(path: Path) -> bool:
    return path.is_dir() and git(path, "rev-parse", "--git-dir", check=False).returncode == 0


def last_changed(path: Path, *, rev: str = "HEAD") -> datetime | None:
    """Commit time of the last commit (up to `rev`) that changed `path`; None if it was never committed."""
    root = path.parent
    if not is_repository(root):
        return None
    result = git(root, "log", "-1", "--format=%cI", rev, "--", path.name, check=False)
    text = result.stdout.strip()
    return datetime.fromisoformat(text) if result.returncode == 0 and text else None


def file_at(path: Path, rev: str) -> str | None:
    """The file's text at `rev`, or None if it did not exist there."""
    root = path.parent
    top = git(root, "rev-parse", "--show-toplevel").stdout.strip()
    relative = path.resolve().relative_to(Path(top).resolve())
    result = git(root, "show", f"{rev}:{relative.as_posix()}", check=False)
    return result.stdout if result.returncode == 0 else None
