"""Pick a forge by name: `github` in Actions, `local` for a plain git repository, `auto` for whichever fits."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal

from rollout.forge.base import Forge
from rollout.forge.local import LocalForge
from rollout.history import is_repository

ForgeChoice = Literal["auto", "github", "local"]
FORGE_CHOICES: tuple[ForgeChoice, ...] = ("auto", "github", "local")


def _github(root: Path, env: Mapping[str, str]) -> Forge:
    # ghapi builds its client from GitHub's whole OpenAPI description: import it only when it is used
    from rollout.forge.github import github_forge

    return github_forge(env)


FORGES: dict[str, Callable[[Path, Mapping[str, str]], Forge]] = {
    "github": _github,
    "local": lambda root, env: LocalForge(root),
}


def open_forge(choice: ForgeChoice, *, root: Path, env: Mapping[str, str]) -> Forge:
    """`auto` is github when GITHUB_REPOSITORY is set (as in Actions), else the git repository at `root`."""
    kind = ("github" if env.get("GITHUB_REPOSITORY") else "local") if choice == "auto" else choice
    return FORGES[kind](root, env)


def optional_forge(choice: ForgeChoice, *, root: Path, env: Mapping[str, str]) -> Forge | None:
    """Like open_forge, but `auto` outside Actions and outside git is no forge at all."""
    if choice == "auto" and not env.get("GITHUB_REPOSITORY") and not is_repository(root):
        return None
    return open_forge(choice, root=root, env=env)
