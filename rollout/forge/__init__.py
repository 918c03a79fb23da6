"""Where pull requests live: what the GitOps loop needs from a forge, and which forges there are.

Two kinds sit behind the `Forge` Protocol, one module each: `github.py` (GitHub or GitHub Enterprise
through ghapi's REST client) and `local.py` (a plain git repository, for offline runs, the demo and
tests). `open_forge` picks one by name: `github` in Actions, `local` for a plain git repository, `auto`
for whichever fits. Paths are repository-relative, with forward slashes.

GitHub Actions' own side channels (step outputs, the step summary, annotations) are not a forge: they
live in `rollout/actions/`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from rollout.history import is_repository

PullState = Literal["open", "closed", "merged"]
DeploymentState = Literal["in_progress", "success", "failure", "error"]


@dataclass(frozen=True, kw_only=True)
class PullRequest:
    number: int
    url: str
    branch: str
    base: str
    title: str
    body: str = ""
    state: PullState = "open"
    head_sha: str = ""
    merge_sha: str | None = None
    foreign: str | None = None
    """Where the head is when it is not a branch of this repository (a fork, "a deleted fork"): such a pull
    request is never updated, commented on or merged, whatever its branch is called."""


@dataclass(frozen=True, kw_only=True)
class Commit:
    sha: str
    message: str
    parents: tuple[str, ...]


class Forge(Protocol):
    """The few operations a rollout performs on a repository host.

    Each raises ExternalError when the host fails, InputError when it is misconfigured, and merge_pull
    raises CheckFailed for a pull request that cannot be merged (a conflict, a head that moved) and
    ExternalError when the host's rules refuse the merge (branch protection, rulesets). Every write is
    safe to retry after an ambiguous failure: it is looked for before it is made again.
    """

    name: str

    def default_branch(self) -> str: ...

    def branch_head(self, branch: str) -> str | None:
        """The commit a branch points at, or None if there is no such branch."""

    def commit(self, sha: str) -> Commit: ...

    def read_file(self, path: str, ref: str) -> str | None:
        """The file's text at `ref`, or None if it does not exist there."""

    def write_commit(self, parent: str | None, changes: Mapping[str, str | None], message: str) -> str:
        """Create (but point no branch at) a commit on `parent` that writes or (None) deletes files; with no
        parent, a first commit that holds only the files written (a branch with a history of its own)."""

    def create_branch(self, branch: str, sha: str) -> bool:
        """Create a branch; False if it exists already. Creating is the lock between concurrent runs."""

    def move_branch(self, branch: str, sha: str) -> None:
        """Point an existing branch at `sha`, even if that is not a fast-forward."""

    def open_pulls(self, prefix: str) -> Sequence[PullRequest]:
        """Open pull requests whose head branch starts with `prefix`, foreign ones included (marked so)."""

    def open_pull(
        self, *, branch: str, base: str, title: str, body: str, labels: Sequence[str], reviewers: Sequence[str]
    ) -> tuple[PullRequest, bool]:
        """Open a pull request, or find the open one for `branch`; True if this call opened it."""

    def update_pull(self, number: int, *, title: str, body: str) -> None: ...

    def close_pull(self, number: int, *, comment: str) -> None: ...

    def comment(self, number: int, body: str) -> None: ...

    def merge_pull(self, number: int, *, title: str, sha: str | None = None) -> str:
        """Merge with a merge commit, as the default branch's history expects; return the merge commit.

        With `sha`, only while the head is still that commit: a push that landed since is refused.
        """

    def pulls_for_commit(self, sha: str) -> Sequence[PullRequest]:
        """Pull requests that introduced `sha` (its merge commit or head)."""

    def start_deployment(self, *, sha: str, environment: str, description: str) -> int:
        """Record a deployment of `sha` to `environment`; return its id."""

    def deployment_status(
        self, deployment: int, state: DeploymentState, *, environment: str, description: str
    ) -> None: ...


ForgeChoice = Literal["auto", "github", "local"]
FORGE_CHOICES: tuple[ForgeChoice, ...] = ("auto", "github", "local")


def _github(root: Path, env: Mapping[str, str]) -> Forge:
    # ghapi builds its client from GitHub's whole OpenAPI description: import it only when it is used
    from rollout.forge.github import github_forge

    return github_forge(env)


def _local(root: Path, env: Mapping[str, str]) -> Forge:
    # local.py imports this module's records, so it is imported once this module is complete
    from rollout.forge.local import LocalForge

    return LocalForge(root)


FORGES: dict[str, Callable[[Path, Mapping[str, str]], Forge]] = {"github": _github, "local": _local}


def open_forge(choice: ForgeChoice, *, root: Path, env: Mapping[str, str]) -> Forge:
    """`auto` is github when GITHUB_REPOSITORY is set (as in Actions), else the git repository at `root`."""
    kind = ("github" if env.get("GITHUB_REPOSITORY") else "local") if choice == "auto" else choice
    return FORGES[kind](root, env)


def optional_forge(choice: ForgeChoice, *, root: Path, env: Mapping[str, str]) -> Forge | None:
    """Like open_forge, but `auto` outside Actions and outside git is no forge at all."""
    if choice == "auto" and not env.get("GITHUB_REPOSITORY") and not is_repository(root):
        return None
    return open_forge(choice, root=root, env=env)
