"""GitHub (or GitHub Enterprise) through ghapi's REST client, with retries and plain-spoken failures.

Every request goes through `_call`, which retries server errors and rate limits (`retryable` reads
GitHub's headers; rollout/retry.py waits) with an injected `sleep` and `clock`, and turns a refusal
into a message naming its cause and what to change. The token is only ever in the client's headers:
no message or log includes it.

GitHub can act on a write and still answer 502 (or not at all), so a write that is not safe to repeat
is looked for before it is made again: a pull request by its head branch and commit, a comment by a
hidden marker, a deployment by ref, environment and a key in its payload, a status by the deployment's
latest, a merge by the pull request's merged state and merge commit. Labels, reviewers, branch moves
and pull request edits are safe to repeat; trees and commits are content-addressed.

A pull request is ours only if its head is a branch of this repository (by id or full name): one from
a fork, or from a fork since deleted (`head.repo: null`), is marked `foreign` whatever its branch is called.
"""

from __future__ import annotations

import base64
import math
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, TypeVar

from fasttransport.errors import APIError
from ghapi.core import GhApi

from rollout.errors import CheckFailed, ExternalError, InputError, RolloutError
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
KEY = "rollout-key"
"""The deployment payload's key under which a deployment carries the key that finds it again."""
ACTIONS_MAY_NOT_OPEN = "github actions is not permitted to create or approve pull requests"


class _Refused(Exception):
    """GitHub refused with a status the caller handles itself (see `expect` in `_call`)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


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
        key: Callable[[], str] = lambda: secrets.token_hex(8),
    ) -> None:
        self.api = api
        self.repository = repository
        self.owner = repository.split("/", 1)[0]
        self.sleep = sleep
        self.clock = clock
        self.policy = policy
        self.key = key
        """A fresh key for each write that is not safe to repeat, to find it again after an ambiguous failure."""
        self.repository_id: int | None = None

    # -- git data ---------------------------------------------------------------------------------

    def default_branch(self) -> str:
        data = self._call(CONTENTS_READ, "read the repository", self.api.repos.get)
        self.repository_id = int(data.id) if data.get("id") is not None else None
        return str(data.default_branch)

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
        if data.get("encoding") == "none":
            # over 1 MB the contents API leaves the content out: the git blob still has it
            data = self._call(CONTENTS_READ, f"read {path}", self.api.git.get_blob, file_sha=data["sha"])
        return base64.b64decode(data["content"]).decode("utf-8")

    def write_commit(self, parent: str | None, changes: Mapping[str, str | None], message: str) -> str:
        # Trees and commits are content-addressed: repeating one after a failure makes at most an unused object.
        base: dict[str, Any] = {}
        if parent is not None:
            made = self._call(CONTENTS_READ, f"read commit {parent[:12]}", self.api.git.get_commit, commit_sha=parent)
            base["base_tree"] = made.tree.sha
        entries = [
            {"path": path, "mode": "100644", "type": "blob", **({"sha": None} if text is None else {"content": text})}
            for path, text in changes.items()
        ]
        tree = self._call(CONTENTS_WRITE, "create a tree", self.api.git.create_tree, tree=entries, **base)
        made = self._call(
            CONTENTS_WRITE,
            "create a commit",
            self.api.git.create_commit,
            message=message,
            tree=tree.sha,
            parents=[parent] if parent is not None else [],
        )
        return str(made.sha)

    def create_branch(self, branch: str, sha: str) -> bool:
        def created() -> Any:
            # after an ambiguous failure: the branch at our commit is ours; at another, a racing run's
            head = self.branch_head(branch)
            return None if head is None else {"ours": head == sha}

        try:
            made = self._call(
                CONTENTS_WRITE,
                f"create branch {branch}",
                self.api.git.create_ref,
                ref=f"refs/heads/{branch}",
                sha=sha,
                expect=(422,),
                recover=created,
            )
        except _Refused:
            return False
        return bool(made.get("ours", True))

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
        found = self._pages(PULLS_READ, "list pull requests", self.api.pulls.list, state="open")
        return [self._pull(p) for p in found if str(p.head.ref).startswith(prefix)]

    def open_pull(
        self, *, branch: str, base: str, title: str, body: str, labels: Sequence[str], reviewers: Sequence[str]
    ) -> tuple[PullRequest, bool]:
        def ours() -> Any:
            """Our open pull request from `branch`: from this repository, with the branch's head."""
            head = self.branch_head(branch)
            batch = self._pages(
                PULLS_READ, "list pull requests", self.api.pulls.list, state="open", head=f"{self.owner}:{branch}"
            )
            return next((p for p in batch if self._foreign(p) is None and p.head.sha == head), None)

        try:
            data = self._call(
                PULLS_WRITE,
                f"open a pull request from {branch}",
                self.api.pulls.create,
                head=branch,
                base=base,
                title=title,
                body=body,
                expect=(422,),
                recover=ours,
            )
        except _Refused as exc:
            found = ours() if "already exists" in exc.message else None
            if found is None:
                raise ExternalError(f"GitHub would not open a pull request from {branch} ({exc})") from None
            return self._pull(found), False
        pull = self._pull(data)
        if labels:
            self._call(
                PULLS_WRITE,
                f"label #{pull.number}",
                self.api.issues.add_labels,
                issue_number=pull.number,
                labels=list(labels),
            )
        self._request_reviews(pull.number, reviewers)
        return pull, True

    def _request_reviews(self, number: int, reviewers: Sequence[str]) -> None:
        """Ask users and `org/team`s to review; one name GitHub refuses must not drop the others.

        GitHub refuses the whole request (422) for one user who is not a collaborator or one team the
        token cannot see, so after a refusal each reviewer is asked on their own, and the pull request
        says who could not be asked and why.
        """

        def ask(names: Sequence[str]) -> None:
            self._call(
                PULLS_WRITE,
                f"request reviewers on #{number}",
                self.api.pulls.request_reviewers,
                pull_number=number,
                reviewers=[n for n in names if "/" not in n],
                team_reviewers=[n.split("/", 1)[1] for n in names if "/" in n],
                expect=(422,),
            )

        if not reviewers:
            return
        try:
            ask(reviewers)
            return
        except _Refused:
            pass
        refused: list[str] = []
        for name in reviewers:
            try:
                ask([name])
            except _Refused as exc:
                refused.append(f"- `{name}`: {_why_not(name, exc.message, self.repository)}")
        if refused:
            self.comment(number, "Could not request reviews from:\n" + "\n".join(refused))

    def update_pull(self, number: int, *, title: str, body: str) -> None:
        self._call(PULLS_WRITE, f"update #{number}", self.api.pulls.update, pull_number=number, title=title, body=body)

    def close_pull(self, number: int, *, comment: str) -> None:
        self.comment(number, comment)
        self._call(PULLS_WRITE, f"close #{number}", self.api.pulls.update, pull_number=number, state="closed")

    def comment(self, number: int, body: str) -> None:
        marker = f"<!-- rollout:{self.key()} -->"

        def posted() -> Any:
            found = self._pages(
                PULLS_READ, f"read the comments of #{number}", self.api.issues.list_comments, issue_number=number
            )
            return next((c for c in found if marker in str(c.get("body") or "")), None)

        self._call(
            PULLS_WRITE,
            f"comment on #{number}",
            self.api.issues.create_comment,
            issue_number=number,
            body=f"{body}\n\n{marker}",
            recover=posted,
        )

    def merge_pull(self, number: int, *, title: str, sha: str | None = None) -> str:
        def merged() -> Any:
            data = self._call(PULLS_READ, f"read #{number}", self.api.pulls.get, pull_number=number)
            return {"sha": data.merge_commit_sha} if data.get("merged") else None

        expected: dict[str, Any] = {"sha": sha} if sha else {}
        try:
            data = self._call(
                PULLS_WRITE,
                f"merge #{number}",
                self.api.pulls.merge,
                pull_number=number,
                commit_title=title,
                merge_method="merge",
                **expected,
                expect=(405, 409),
                again=lambda status, message: status == 405 and "base branch was modified" in message.lower(),
                recover=merged,
            )
        except _Refused as exc:
            done = merged()
            if done is not None:  # merged meanwhile: by an attempt whose answer was lost, or by a person
                return str(done["sha"])
            raise _merge_refusal(number, exc) from None
        return str(data["sha"])

    def pulls_for_commit(self, sha: str) -> Sequence[PullRequest]:
        batch = self._pages(
            PULLS_READ,
            f"find the pull request of {sha[:12]}",
            self.api.repos.list_pull_requests_associated_with_commit,
            commit_sha=sha,
        )
        return [self._pull(p) for p in batch]

    # -- deployments ------------------------------------------------------------------------------

    def start_deployment(self, *, sha: str, environment: str, description: str) -> int:
        key = self.key()

        def recorded() -> Any:
            found = self._pages(
                DEPLOYMENTS_WRITE,
                f"list the deployments of {sha[:12]}",
                self.api.repos.list_deployments,
                sha=sha,
                environment=environment,
            )
            return next((d for d in found if isinstance(d.get("payload"), dict) and d.payload.get(KEY) == key), None)

        data = self._call(
            DEPLOYMENTS_WRITE,
            f"record a deployment to {environment}",
            self.api.repos.create_deployment,
            ref=sha,
            environment=environment,
            description=description,
            payload={KEY: key},
            auto_merge=False,
            required_contexts=[],
            production_environment=environment == "production",
            recover=recorded,
        )
        if data.get("id") is None:
            # 202: GitHub merged the default branch into the ref instead (auto_merge), and recorded nothing
            found = recorded()
            if found is None:
                raise ExternalError(
                    f"GitHub recorded no deployment of {sha[:12]} to {environment} (202: {data.get('message')}): "
                    f"run `rollout apply` again"
                )
            data = found
        return int(data["id"])

    def deployment_status(self, deployment: int, state: DeploymentState, *, environment: str, description: str) -> None:
        text = description[:140]

        def set_already() -> Any:
            latest = self._call(
                DEPLOYMENTS_WRITE,
                f"read deployment {deployment}",
                self.api.repos.list_deployment_statuses,
                deployment_id=deployment,
                per_page=1,
            )
            last = latest[0] if latest else None
            return last if last is not None and last.state == state and (last.description or "") == text else None

        self._call(
            DEPLOYMENTS_WRITE,
            f"set deployment {deployment} to {state}",
            self.api.repos.create_deployment_status,
            deployment_id=deployment,
            state=state,
            environment=environment,
            description=text,
            auto_inactive=True,
            recover=set_already,
        )

    # -- requests ---------------------------------------------------------------------------------

    def _foreign(self, data: Any) -> str | None:
        """Where a pull request's head is, when it is not a branch of this repository."""
        repo = data.head.get("repo")
        if repo is None:
            return "a deleted fork"
        same_id = self.repository_id is not None and repo.get("id") == self.repository_id
        if same_id or str(repo.get("full_name", "")).lower() == self.repository.lower():
            return None
        return str(repo.get("full_name") or "another repository")

    def _pull(self, data: Any) -> PullRequest:
        return replace(_pull(data), foreign=self._foreign(data))

    def _pages(self, need: str, what: str, op: Callable[..., Any], /, **kwargs: Any) -> list[Any]:
        found: list[Any] = []
        for page in range(1, 100):
            batch = self._call(need, what, op, per_page=100, page=page, **kwargs)
            found += batch
            if len(batch) < 100:
                break
        return found

    def _call(
        self,
        need: str,
        what: str,
        op: Callable[..., T],
        /,
        *,
        missing_ok: bool = False,
        expect: tuple[int, ...] = (),
        again: Callable[[int, str], bool] | None = None,
        recover: Callable[[], T | None] | None = None,
        **kwargs: Any,
    ) -> T:
        """Call one endpoint, retrying what waiting can fix.

        `missing_ok` turns a 404 into None; a status in `expect` raises _Refused for the caller to
        handle; `again` marks more refusals as worth retrying. A write that is not safe to repeat
        passes `recover`: after an ambiguous failure (a 5xx or no answer: the write may have happened)
        it is asked before each retry, and what it finds is taken as the write's result.
        """
        doubt = False

        def attempt() -> T:
            nonlocal doubt
            if doubt and recover is not None:
                found = recover()
                if found is not None:
                    return found
            try:
                return op(**kwargs)
            except APIError as exc:
                status, message = exc.status_code, _message(exc)
                headers = dict(exc.response.headers) if exc.response is not None else {}
            if status == 404 and missing_ok:
                return None  # type: ignore[return-value]
            if status is not None and again is not None and again(status, message):
                raise Retryable(f"{status}: {message}")
            if status in expect:
                assert status is not None
                raise _Refused(status, message)
            failure = retryable(status, headers, message, now=self.clock())
            if failure is None:
                raise self._refusal(need, what, status, message)
            doubt = doubt or status is None or status >= 500
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
        if status == 403 and ACTIONS_MAY_NOT_OPEN in message.lower():
            return ExternalError(
                f"GitHub refused to {what} (403: {message}): the repository does not let GitHub Actions open "
                f"pull requests; in Settings → Actions → General → Workflow permissions (or the organization's), "
                f"allow GitHub Actions to create and approve pull requests, or pass an app token (docs/setup.md)"
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


def _message(exc: APIError) -> str:
    """GitHub's message with the `errors` detail it sends along (objects or, for some endpoints, strings)."""
    raw = exc.raw if isinstance(exc.raw, dict) else {}
    details = []
    for error in raw.get("errors") or ():
        if isinstance(error, dict):
            named = " ".join(str(error[k]) for k in ("resource", "field", "code") if error.get(k))
            details.append(str(error.get("message") or named))
        else:
            details.append(str(error))
    return str(exc.message) + (f": {'; '.join(details)}" if details else "")


def _why_not(reviewer: str, message: str, repository: str) -> str:
    if "/" in reviewer and "could not resolve to a node" in message.lower():
        return (
            f"the token cannot see this team ({message}); an app token needs the organization permission "
            f"Members: read, and the workflow asks for it when the plan names a team (docs/setup.md)"
        )
    return f"{message} (a user must be a collaborator on {repository}, a team must have access to it)"


def _merge_refusal(number: int, refused: _Refused) -> RolloutError:
    if refused.status == 409:
        return CheckFailed(
            f"pull request #{number} was not merged: its branch moved after rollout checked it ({refused}); "
            f"look at what was pushed to it, then run `rollout propose` again"
        )
    if "not mergeable" in refused.message.lower():
        return CheckFailed(
            f"pull request #{number} cannot be merged ({refused.message}): if its branch conflicts, run "
            f"`rollout propose` again to rebuild it on the current default branch"
        )
    return ExternalError(
        f"GitHub refused to merge #{number} ({refused}): the default branch's protection rules or rulesets "
        f"ask for more than rollout gives; to let rollout merge rollbacks itself, add its app to the bypass "
        f"list (docs/setup.md), or merge #{number} by hand"
    )


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
