"""What git knows about the rollout's state: when the traffic file last changed, and what it said before."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from rollout.errors import InputError
from rollout.subprocesses import run_command


def git(
    cwd: Path, *args: str, check: bool = True, env: Mapping[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run git; `env` adds to (not replaces) the environment, e.g. GIT_COMMITTER_DATE or GIT_INDEX_FILE."""
    return run_command(["git", *args], cwd=cwd, extra_env=env, stdin=stdin, check=check, what="git")


def is_repository(path: Path) -> bool:
    return path.is_dir() and git(path, "rev-parse", "--git-dir", check=False).returncode == 0


def require_full_history(root: Path, *, why: str) -> None:
    """Refuse a shallow clone: its oldest commit seems to add every file, so times and diffs read from it lie."""
    if is_repository(root) and git(root, "rev-parse", "--is-shallow-repository").stdout.strip() == "true":
        raise InputError.at(
            str(root),
            f"the checkout is shallow, so git cannot tell {why}: check out the whole history "
            "(actions/checkout with fetch-depth: 0)",
        )


def last_changed(path: Path, *, rev: str = "HEAD") -> datetime | None:
    """Commit time of the last commit (up to `rev`) that changed `path`; None if it was never committed.

    Only the first-parent line counts: when a rollout PR is merged with a merge commit, traffic moved
    at the merge, not when the PR's own commit was made.
    """
    root = path.parent
    if not is_repository(root):
        return None
    result = git(root, "log", "-1", "--first-parent", "--format=%cI", rev, "--", path.name, check=False)
    text = result.stdout.strip()
    return datetime.fromisoformat(text) if result.returncode == 0 and text else None


def file_at(path: Path, rev: str) -> str | None:
    """The file's text at `rev`, or None if it did not exist there (or is not in a git repository)."""
    root = path.parent
    found = git(root, "rev-parse", "--show-toplevel", check=False)
    if found.returncode != 0:
        return None
    top = found.stdout.strip()
    relative = path.resolve().relative_to(Path(top).resolve())
    result = git(root, "show", f"{rev}:{relative.as_posix()}", check=False)
    return result.stdout if result.returncode == 0 else None
