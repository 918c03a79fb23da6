"""What the GitOps loop needs from a forge: branches, commits, pull requests and deployments.

Two implementations sit behind this Protocol: `github` (the REST API through ghapi) and `local`
(a plain git repository, for offline runs, the demo and tests). Paths are repository-relative,
with forward slashes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

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


@dataclass(frozen=True, kw_only=True)
class Commit:
    sha: str
    message: str
    parents: tuple[str, ...]


class Forge(Protocol):
    """The few operations a rollout performs on a repository host.

    Each raises ExternalError when the host fails, InputError when it is misconfigured, and merge_pull
    raises CheckFailed for a pull request that cannot be merged (a conflict, a protected branch).
    """

    name: str

    def default_branch(self) -> str: ...

    def branch_head(self, branch: str) -> str | None:
        """The commit a branch points at, or None if there is no such branch."""

    def commit(self, sha: str) -> Commit: ...

    def read_file(self, path: str, ref: str) -> str | None:
        """The file's text at `ref`, or None if it does not exist there."""

    def write_commit(self, parent: str, changes: Mapping[str, str | None], message: str) -> str:
        """Create (but point no branch at) a commit on `parent` that writes or (None) deletes files."""

    def create_branch(self, branch: str, sha: str) -> bool:
        """Create a branch; False if it exists already. Creating is the lock between concurrent runs."""

    def move_branch(self, branch: str, sha: str) -> None:
        """Point an existing branch at `sha`, even if that is not a fast-forward."""

    def open_pulls(self, prefix: str) -> Sequence[PullRequest]:
        """Open pull requests whose head branch starts with `prefix`."""

    def open_pull(
        self, *, branch: str, base: str, title: str, body: str, labels: Sequence[str], reviewers: Sequence[str]
    ) -> tuple[PullRequest, bool]:
        """Open a pull request, or find the open one for `branch`; True if this call opened it."""

    def update_pull(self, number: int, *, title: str, body: str) -> None: ...

    def close_pull(self, number: int, *, comment: str) -> None: ...

    def comment(self, number: int, body: str) -> None: ...

    def merge_pull(self, number: int, *, title: str) -> str:
        """Merge with a merge commit, as the default branch's history expects; return the merge commit."""

    def pulls_for_commit(self, sha: str) -> Sequence[PullRequest]:
        """Pull requests that introduced `sha` (its merge commit or head)."""

    def start_deployment(self, *, sha: str, environment: str, description: str) -> int:
        """Record a deployment of `sha` to `environment`; return its id."""

    def deployment_status(
        self, deployment: int, state: DeploymentState, *, environment: str, description: str
    ) -> None: ...
