"""GitHub (or GitHub Enterprise) through ghapi's REST client, with retries and plain-spoken failures.

Every request goes through `_call`, which retries server errors and rate limits (`retryable` reads
GitHub's headers; rollout/retry.py waits) with an injected `sleep` and `clock`, and turns a refusal into a message naming the token permission the
workflow must grant. The token is only ever in the client's headers: no message or log includes it.
"""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, TypeVar

from fasttransport.errors import APIError
from ghapi.core import GhApi

from rollout.errors import CheckFailed, ExternalError, InputError
from rollout.forge import Commit, DeploymentState, PullRequest
from rollout.retry import GaveUp, Retryable, RetryPolicy, parse_retry_after, retry_call

DEFAULT_API = "https://api.github.com"
GITHUB_POLICY = RetryPolicy(backoff=1.0, max_backoff=30.0, jitter=False, max_retry_after=math.inf, max_wait=300.0)
"""Five requests in all; GitHub's own waits are honoured whole, as long as one request waits at most 5 minutes."""
SECONDARY_DEFAULT_WAIT = 60.0
T = TypeVar("T")

CONTENTS_READ = "contents: read"
CONTENTS_WRITE = "contents: write"
PULLS_READ = "pull-requests: read"
PULLS_WRITE = "pull-requests: write"
DEPLOYMENTS_WRITE = "deployments: write"


class _Exists(Exception):
    """GitHub answered 422: what we tried to create is there already."""


class GithubForge:
    name = "github"

    def __init__(
        self,
        api: GhApi,
        *,
        repository: str,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        policy: RetryPolicy = GITHUB_POLICY,
    ) -> None:
        self.api = api
        self.repository = repository
        self.owner = repository.split("/", 1)[0]
        self.sleep = sleep
        self.clock = clock
        self.policy = policy

    # -- git data ---------------------------------------------------------------------------------

    def default_branch(self) -> str:
        return str(self._call(CONTENTS_READ, "read the repository", self.api.repos.get).default_branch)

    def branch_head(self, branch: str) -> str | None:
        ref = self._call(
            CONTENTS_READ, f"read branch {branch}", self.api.git.get_ref, ref=f"heads/{branch}", missing_ok=True
        )
        return None if ref is None else str(ref.object.sha)

    def commit(self, sha: str) -> Commit:
        data = self._call(CONTENTS_READ, f"read commit {sha[:12]}", self.api.git.get_commit, commit_sha=sha)
        return Commit(sha=data.sha, message=data.message, parents=tuple(p.sha for p in data.parents))

    def read_file(self, path: str, ref: str) -> str | None:
        data = self._call(
            CONTENTS_READ, f"read {path}", self.api.repos.get_content, path=path, ref=ref, missing_ok=True
        )
        if not isinstance(data, dict) or data.get("type") != "file":
            return None
        return base64.b64decode(data["content"]).decode("utf-8")

    def write_commit(self, parent: str, changes: Mapping[str, str | None], message: str) -> str:
        base = self._call(CONTENTS_READ, f"read commit {parent[:12]}", self.api.git.get_commit, commit_sha=parent)
        entries = [
            {"path": path, "mode": "100644", "type": "blob", **({"sha": None} if text is None else {"content": text})}
            for path, text in changes.items()
        ]
        tree = self._call(
            CONTENTS_WRITE, "create a tree", self.api.git.create_tree, tree=entries, base_tree=base.tree.sha
        )
        made = self._call(
            CONTENTS_WRITE,
            "create a commit",
            self.api.git.create_commit,
            message=message,
            tree=tree.sha,
            parents=[parent],
        )
        return str(made.sha)

    def create_branch(self, branch: str, sha: str) -> bool:
        try:
            self._call(
                CONTENTS_WRITE,
                f"create branch {branch}",
                self.api.git.create_ref,
                ref=f"refs/heads/{branch}",
                sha=sha,
                exists_ok=True,
            )
        except _Exists:
            return False
        return True

    def move_branch(self, branch: str, sha: str) -> None:
        self._call(
            CONTENTS_WRITE,
            f"update branch {branch}",
            self.api.git.update_ref,
            ref=f"heads/{branch}",
            sha=sha,
            force=True,
        )

    # -- pull requests ----------------------------------------------------------------------------

    def open_pulls(self, prefix: str) -> Sequence[PullRequest]:
        found: list[PullRequest] = []
        for page in range(1, 100):
            batch = self._call(
                PULLS_READ, "list pull requests", self.api.pulls.list, state="open", per_page=100, page=page
            )
            found += [_pull(p) for p in batch if p.head.ref.startswith(prefix) and self._ours(p)]
            if len(batch) < 100:
                break
        return found

    def open_pull(
        self, *, branch: str, base: str, title: str, body: str, labels: Sequence[str], reviewers: Sequence[str]
    ) -> tuple[PullRequest, bool]:
        try:
            data = self._call(
                PULLS_WRITE,
                f"open a pull request from {branch}",
                self.api.pulls.create,
                head=branch,
                base=base,
                title=title,
                body=body,
                exists_ok=True,
            )
        except _Exists:
            batch = self._call(
                PULLS_READ, "list pull requests", self.api.pulls.list, state="open", head=f"{self.owner}:{branch}"
            )
            if not batch:
                raise ExternalError(f"GitHub would not open a pull request from {branch} and none is open") from None
            return _pull(batch[0]), False
        pull = _pull(data)
        if labels:
            self._call(
                PULLS_WRITE,
                f"label #{pull.number}",
                self.api.issues.add_labels,
                issue_number=pull.number,
                labels=list(labels),
            )
        users = [r for r in reviewers if "/" not in r]
        teams = [r.split("/", 1)[1] for r in reviewers if "/" in r]
        if users or teams:
            try:
                self._call(
                    PULLS_WRITE,
                    f"request reviewers on #{pull.number}",
                    self.api.pulls.request_reviewers,
                    pull_number=pull.number,
                    reviewers=users,
                    team_reviewers=teams,
                    exists_ok=True,
                )
            except _Exists as exc:
                # A reviewer who is not a collaborator must not stop the rollout; the PR says who to ask.
                self.comment(pull.number, f"Could not request reviews from {', '.join(reviewers)}: {exc}")
        return pull, True

    def update_pull(self, number: int, *, title: str, body: str) -> None:
        self._call(PULLS_WRITE, f"update #{number}", self.api.pulls.update, pull_number=number, title=title, body=body)

    def close_pull(self, number: int, *, comment: str) -> None:
        self.comment(number, comment)
        self._call(PULLS_WRITE, f"close #{number}", self.api.pulls.update, pull_number=number, state="closed")

    def comment(self, number: int, body: str) -> None:
        self._call(PULLS_WRITE, f"comment on #{number}", self.api.issues.create_comment, issue_number=number, body=body)

    def merge_pull(self, number: int, *, title: str) -> str:
        try:
            data = self._call(
                PULLS_WRITE,
                f"merge #{number}",
                self.api.pulls.merge,
                pull_number=number,
                commit_title=title,
                merge_method="merge",
                refused_ok=True,
            )
        except _Exists as exc:
            raise CheckFailed(
                f"pull request #{number} cannot be merged ({exc}): if its branch conflicts, run "
                f"`rollout propose` again to rebuild it on the current default branch"
            ) from None
        return str(data.sha)

    def pulls_for_commit(self, sha: str) -> Sequence[PullRequest]:
        batch = self._call(
            PULLS_READ,
            f"find the pull request of {sha[:12]}",
            self.api.repos.list_pull_requests_associated_with_commit,
            commit_sha=sha,
        )
        return [_pull(p) for p in batch]

    # -- deployments ------------------------------------------------------------------------------

    def start_deployment(self, *, sha: str, environment: str, description: str) -> int:
        data = self._call(
            DEPLOYMENTS_WRITE,
            f"record a deployment to {environment}",
            self.api.repos.create_deployment,
            ref=sha,
            environment=environment,
            description=description,
            auto_merge=False,
            required_contexts=[],
            production_environment=environment == "production",
        )
        return int(data.id)

    def deployment_status(self, deployment: int, state: DeploymentState, *, environment: str, description: str) -> None:
        self._call(
            DEPLOYMENTS_WRITE,
            f"set deployment {deployment} to {state}",
            self.api.repos.create_deployment_status,
            deployment_id=deployment,
            state=state,
            environment=environment,
            description=description[:140],
            auto_inactive=True,
        )

    # -- requests ---------------------------------------------------------------------------------

    def _ours(self, data: Any) -> bool:
        repo = data.head.get("repo")
        return repo is None or repo.get("full_name", self.repository) == self.repository

    def _call(
        self,
        need: str,
        what: str,
        op: Callable[..., T],
        /,
        *,
        missing_ok: bool = False,
        exists_ok: bool = False,
        refused_ok: bool = False,
        **kwargs: Any,
    ) -> T:
        """Call one endpoint, retrying what waiting can fix; `*_ok` turn 404 / 422 / 405 into None / _Exists."""

        def attempt() -> T:
            try:
                return op(**kwargs)
            except APIError as exc:
                status, message = exc.status_code, exc.message
                headers = dict(exc.response.headers) if exc.response is not None else {}
            if status == 404 and missing_ok:
                return None  # type: ignore[return-value]
            if (status == 422 and exists_ok) or (status in (405, 409) and refused_ok):
                raise _Exists(message)
            failure = retryable(status, headers, message, now=self.clock())
            if failure is None:
                raise self._refusal(need, what, status, message)
            raise failure

        try:
            return retry_call(attempt, self.policy, sleep=self.sleep)
        except GaveUp as exc:
            beyond = (
                f"; the next retry would wait {exc.next_wait:.0f}s, beyond the limit of {self.policy.max_wait:.0f}s"
                if exc.next_wait is not None
                else ""
            )
            raise ExternalError(
                f"GitHub did not {what} after {exc.attempts} attempts over {exc.waited:.0f}s ({exc.last}){beyond}"
            ) from None

    def _refusal(self, need: str, what: str, status: int | None, message: str) -> ExternalError:
        if status == 401:
            return ExternalError(
                f"GitHub rejected the token while trying to {what} (401: {message}): "
                f"check GITHUB_TOKEN (or the app token passed in)"
            )
        if status in (403, 404):
            return ExternalError(
                f"GitHub refused to {what} ({status}: {message}): the token needs the '{need}' permission "
                f"on {self.repository} (in the workflow: `permissions: {{{need}}}`)"
            )
        return ExternalError(f"GitHub could not {what} ({status}: {message})")


def github_forge(
    env: Mapping[str, str],
    *,
    token: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
    policy: RetryPolicy = GITHUB_POLICY,
) -> GithubForge:
    """A forge for the repository the workflow runs in: GITHUB_REPOSITORY, GITHUB_TOKEN, GITHUB_API_URL.

    ROLLOUT_GITHUB_MAX_WAIT (seconds) bounds the time one request may spend waiting to be retried.
    """
    repository = env.get("GITHUB_REPOSITORY", "")
    if repository.count("/") != 1:
        raise InputError.at("GITHUB_REPOSITORY", f"{repository!r} is not owner/name (it is set in GitHub Actions)")
    token = token or env.get("GITHUB_TOKEN")
    if not token:
        raise InputError.at("GITHUB_TOKEN", "no token: pass `env: GITHUB_TOKEN: ${{ github.token }}` (or an app token)")
    wait = env.get("ROLLOUT_GITHUB_MAX_WAIT", "")
    if wait:
        try:
            policy = replace(policy, max_wait=float(wait))
        except ValueError:
            raise InputError.at("ROLLOUT_GITHUB_MAX_WAIT", f"{wait!r} is not a number of seconds") from None
    owner, repo = repository.split("/")
    api = GhApi(  # type: ignore[no-untyped-call]
        owner=owner, repo=repo, token=token, gh_host=env.get("GITHUB_API_URL") or DEFAULT_API, sync=True
    )
    api.transport.retries = 0  # we retry, with our policy and clock, in GithubForge._call
    return GithubForge(api, repository=repository, sleep=sleep, clock=clock, policy=policy)


def retryable(status: int | None, headers: Mapping[str, str], message: str, *, now: float) -> Retryable | None:
    """The failure as one worth retrying, with the wait GitHub asked for if it named one; None: waiting won't help.

    GitHub signals three kinds of "try later": a server error (5xx, or no answer at all), the primary
    rate limit (`x-ratelimit-remaining: 0` until the epoch second in `x-ratelimit-reset`), and the
    secondary rate limit (403 or 429, usually with `Retry-After` in seconds; without it GitHub asks
    for at least a minute). Anything else is not going to get better by waiting.
    """
    problem = "no answer" if status is None else f"{status}: {message}"
    if status is None or status >= 500:
        return Retryable(problem)
    if status not in (403, 429):
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    retry_after = parse_retry_after(lowered.get("retry-after"), now=datetime.fromtimestamp(now, timezone.utc))
    if retry_after is not None:
        return Retryable(problem, retry_after=retry_after)
    if lowered.get("x-ratelimit-remaining") == "0":
        reset = lowered.get("x-ratelimit-reset", "")
        wait = max(float(reset) - now, 0.0) + 1.0 if reset.strip().isdigit() else SECONDARY_DEFAULT_WAIT
        return Retryable(problem, retry_after=wait)
    if status == 429 or "rate limit" in message.lower():
        return Retryable(problem, retry_after=SECONDARY_DEFAULT_WAIT)
    return None


def _pull(data: Any) -> PullRequest:
    merged = bool(data.get("merged_at") or data.get("merged"))
    return PullRequest(
        number=int(data.number),
        url=str(data.html_url),
        branch=str(data.head.ref),
        base=str(data.base.ref),
        title=str(data.title),
        body=str(data.get("body") or ""),
        state="merged" if merged else data.state,
        head_sha=str(data.head.sha),
        merge_sha=data.get("merge_commit_sha") if merged else None,
    )
