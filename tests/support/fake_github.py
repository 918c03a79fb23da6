"""A fake GitHub REST API on loopback, backed by a real bare git repository.

ghapi talks through its own HTTP stack, so tests serve real HTTP rather than mock a client. The
endpoints are the ones the github forge calls, with the shapes, status codes and failures GitHub's
published OpenAPI description gives them (tests/integration/test_github_openapi.py checks every
exchange against it): refs, git data (blobs, trees, commits), contents, pulls (create, list, get,
update, merge, requested reviewers), issue comments and labels, deployments and their statuses, and
the commit-to-pulls lookup. Merges are real (`git merge-tree --write-tree` + `commit-tree`), so
conflicts are real too. Lists are paginated with `Link` headers, as GitHub does.

Tests steer it with:
- `fail(status=503, times=n)`: the next n matching requests fail (server errors, or anything else);
  `applied=True` makes the write happen first, as when GitHub acts and then its gateway answers 502;
  `errors=[...]` adds the `errors` detail GitHub sends with a 422; `ambiguous_writes = True` does that
  to the first try of every write;
- `rate_limit("primary" | "secondary", times=n, wait=s, status=403|429)`: the next n requests hit a limit;
- `delay(method=, path=, seconds=)`: answer matching requests late, to widen races;
- `before(method=, path=, action=)`: run `action` just before the next matching request is handled
  (a push landing between a check and a merge);
- `revoke("pull-requests")`: the token lacks that write permission, so those writes answer 403;
- `teams`: the teams the token can see; a review request naming another fails whole (422), as
  GitHub does for a token without `members: read`;
- `fork_pull(branch, files, deleted=True)`: a pull request from a fork (deleted: `head.repo` null);
- `now`: the commit date the server uses for merges, so tests can simulate soak time;
- `merge(n)`, `revert(n)`, `push(branch, files)`: what a person does in the web UI or with git push.

Every exchange is kept in `exchanges` (method, path and query as sent, bodies, status).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

TOKEN = "ghs_fake_token_for_tests"
Response = tuple[int, Any, dict[str, str]]
IDENTITY = {
    "GIT_AUTHOR_NAME": "GitHub",
    "GIT_AUTHOR_EMAIL": "noreply@github.com",
    "GIT_COMMITTER_NAME": "GitHub",
    "GIT_COMMITTER_EMAIL": "noreply@github.com",
}
DOCS = "https://docs.github.com/rest"
LARGE_FILE = 1024 * 1024
"""Above this size the contents API answers `encoding: none` with no content: the git blob has it."""
REPO_ID, FORK_ID, APP_ID = 1296269, 9999001, 41898282

# What GitHub answers when it refuses a merge (all 405 but the last).
BASE_MODIFIED = "Base branch was modified. Review and try the merge again."
PROTECTED = "At least 1 approving review is required by reviewers with write access."
RULESET = "Repository rule violations found\n\nChanges must be made through a pull request.\n\n"
NOT_MERGEABLE = "Pull Request is not mergeable"
HEAD_MODIFIED = "Head branch was modified. Review and try the merge again."  # 409, when `sha` is stale
ACTIONS_MAY_NOT_OPEN = "GitHub Actions is not permitted to create or approve pull requests."  # 403 on POST /pulls
SECONDARY_LIMIT = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."


@dataclass
class Fault:
    status: int
    times: int
    method: str | None = None
    path: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "Service Unavailable"
    applied: bool = False
    """Handle the request first (the write takes effect), then answer with this fault."""
    errors: list[Any] | None = None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or re.search(self.path, path) is not None
        )

    def response(self) -> Response:
        body: dict[str, Any] = {"message": self.message}
        if self.status >= 400:
            body["documentation_url"] = DOCS
        if self.errors is not None:
            body["errors"] = self.errors
        return self.status, body, dict(self.headers)


@dataclass(frozen=True)
class Exchange:
    """One request and its answer, as they crossed the wire."""

    method: str
    target: str
    """The path and query string as sent."""
    body: Any
    """The request's JSON body, or None when it had none."""
    status: int
    response: Any
    headers: Mapping[str, str]


@dataclass
class Hook:
    method: str
    path: str
    action: Callable[[], object]
    times: int = 1


class FakeGitHub:
    def __init__(
        self, root: Path, *, owner: str = "acme", repo: str = "models", branch: str = "main", api_prefix: str = ""
    ) -> None:
        self.owner, self.repo, self.branch = owner, repo, branch
        self.api_prefix = api_prefix
        """GitHub Enterprise serves the API under /api/v3."""
        self.bare = root / f"{repo}.git"
        _git(root, "init", "--quiet", "--bare", "-b", branch, str(self.bare))
        self.lock = threading.RLock()
        self.pulls: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[str]] = {}
        self.deployments: list[dict[str, Any]] = []
        self.statuses: dict[int, list[dict[str, Any]]] = {}
        self.requests: list[tuple[str, str]] = []
        self.exchanges: list[Exchange] = []
        self.faults: list[Fault] = []
        self.hooks: list[Hook] = []
        self.revoked: set[str] = set()
        self.now: datetime | None = None
        self.collaborators = {"alice", "bob"}
        self.teams = {"oncall", "ml-oncall"}
        self.delays: list[tuple[str, str, float]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._ids = iter(range(1000, 10**9))
        self.ambiguous_writes = False
        """Answer each write 502 the first time it is sent, after it took effect; the same request again passes."""
        self.written: set[tuple[str, str, str]] = set()

    # -- lifecycle and test controls --------------------------------------------------------------

    def __enter__(self) -> FakeGitHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"

    def env(self, token: str = TOKEN) -> dict[str, str]:
        return {
            "GITHUB_REPOSITORY": self.full_name,
            "GITHUB_TOKEN": token,
            "GITHUB_API_URL": self.url + self.api_prefix,
        }

    def fail(
        self,
        *,
        status: int = 503,
        times: int = 1,
        method: str | None = None,
        path: str | None = None,
        headers: Mapping[str, str] | None = None,
        message: str = "Service Unavailable",
        applied: bool = False,
        errors: list[Any] | None = None,
    ) -> None:
        with self.lock:
            self.faults.append(
                Fault(
                    status=status,
                    times=times,
                    method=method,
                    path=path,
                    headers=dict(headers or {}),
                    message=message,
                    applied=applied,
                    errors=errors,
                )
            )

    def rate_limit(self, kind: str, *, times: int = 1, wait: int = 30, status: int = 429) -> None:
        """The primary limit is always a 403; the secondary one comes as a 403 or a 429, with Retry-After."""
        if kind == "primary":
            reset = str(int(time.time()) + wait)
            headers = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
            self.fail(status=403, times=times, headers=headers, message="API rate limit exceeded")
        else:
            self.fail(status=status, times=times, headers={"retry-after": str(wait)}, message=SECONDARY_LIMIT)

    def delay(self, *, method: str, path: str, seconds: float) -> None:
        """Answer matching requests late (without holding up others), e.g. to widen a race between two clients."""
        self.delays.append((method, path, seconds))

    def before(self, *, method: str, path: str, action: Callable[[], object], times: int = 1) -> None:
        """Run `action` just before the next `times` matching requests are handled."""
        with self.lock:
            self.hooks.append(Hook(method=method, path=path, action=action, times=times))

    def fork_pull(
        self, branch: str, files: Mapping[str, str], *, owner: str = "mallory", deleted: bool = True, title: str = ""
    ) -> int:
        """A pull request into the default branch from `owner`'s fork, whose branch is named `branch`.

        Its commit lives in this repository only as refs/pull/N/head, as on GitHub. With `deleted`,
        the fork is gone: GitHub then answers `head.repo: null`.
        """
        with self.lock:
            parent = self.head()
            assert parent is not None
            tree = self._write_tree(
                [{"path": k, "mode": "100644", "content": v} for k, v in files.items()], base=parent
            )
            env = {**self._dates(), "GIT_AUTHOR_NAME": owner, "GIT_COMMITTER_NAME": owner}
            sha = _git(self.bare, "commit-tree", tree, "-p", parent, stdin=title or "A change", env=env).stdout.strip()
            number = self._next_number()
            _git(self.bare, "update-ref", f"refs/pull/{number}/head", sha)
            self.pulls[number] = self._new_pull(
                number,
                title=title or f"Change from {owner}",
                body="",
                head=branch,
                base=self.branch,
                sha=sha,
                fork=None if deleted else owner,
                author=owner,
            )
            self.comments[number] = []
            return number

    def seed_pulls(self, count: int, *, prefix: str = "feature/") -> None:
        """`count` open pull requests from branches of this repository that have nothing to do with rollout."""
        base = self.head()
        assert base is not None
        with self.lock:
            for _ in range(count):
                number = self._next_number()
                self.pulls[number] = self._new_pull(
                    number, title=f"Feature {number}", body="", head=f"{prefix}{number}", base=self.branch, sha=base
                )
                self.comments[number] = []

    def revoke(self, permission: str) -> None:
        self.revoked.add(permission)

    def clone(self, dest: Path) -> Path:
        _git(dest.parent, "clone", "--quiet", str(self.bare), str(dest))
        _git(dest, "config", "user.email", "dev@example.com")
        _git(dest, "config", "user.name", "Dev")
        return dest

    def head(self, branch: str | None = None) -> str | None:
        result = _git(self.bare, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch or self.branch}", check=False)
        return result.stdout.strip() or None

    def branches(self) -> list[str]:
        out = _git(self.bare, "for-each-ref", "--format=%(refname:short)", "refs/heads/").stdout
        return out.split()

    def show(self, ref: str, path: str) -> str | None:
        result = _git(self.bare, "show", f"{ref}:{path}", check=False)
        return result.stdout if result.returncode == 0 else None

    def shown_comments(self, number: int) -> list[str]:
        """The comments on a pull request as GitHub shows them: without HTML comments (hidden markers)."""
        with self.lock:
            return [re.sub(r"\s*<!--.*?-->", "", body, flags=re.DOTALL) for body in self.comments[number]]

    def open_pulls(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self._pull_json(p) for p in self.pulls.values() if p["state"] == "open"]

    def merge(self, number: int) -> str:
        status, body, _ = self._merge(number, {})
        if status != 200:
            raise RuntimeError(f"merge #{number}: {status} {body}")
        return str(body["sha"])

    def push(self, branch: str, files: Mapping[str, str], message: str, *, author: str = "Someone Else") -> str:
        """Commit files on top of a branch (creating it from the default branch) as a person would push.

        In an empty repository this makes the first commit.
        """
        parent = self.head(branch) or self.head()
        entries = [{"path": p, "mode": "100644", "type": "blob", "content": t} for p, t in files.items()]
        tree = self._write_tree(entries, base=parent)
        env = {**self._dates(), "GIT_AUTHOR_NAME": author, "GIT_COMMITTER_NAME": author}
        parents = ["-p", parent] if parent else []
        sha = _git(self.bare, "commit-tree", tree, *parents, stdin=message, env=env).stdout.strip()
        _git(self.bare, "update-ref", f"refs/heads/{branch}", sha)
        return sha

    def revert(self, number: int) -> int:
        """What the "Revert" button does: a branch with `git revert -m 1` of the merge, a PR, and its merge."""
        pull = self.pulls[number]
        branch = f"revert-{number}-{pull['head_ref']}"
        with tempfile.TemporaryDirectory() as tmp:
            work = self.clone(Path(tmp) / "work")
            _git(work, "checkout", "--quiet", "-b", branch)
            _git(work, "revert", "-m", "1", "--no-edit", pull["merge_commit_sha"], env=self._dates())
            _git(work, "push", "--quiet", "origin", branch)
        status, body, _ = self._create_pull(
            {
                "title": f'Revert "{pull["title"]}"',
                "head": branch,
                "base": self.branch,
                "body": f"Reverts {self.full_name}#{number}",
            }
        )
        assert status == 201, body
        self.merge(body["number"])
        return int(body["number"])

    # -- request handling -------------------------------------------------------------------------

    def handle(self, method: str, url: str, headers: Mapping[str, str], payload: Any) -> Response:
        parts = urlsplit(url)
        path = unquote(parts.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        for verb, pattern, seconds in self.delays:
            if verb == method and re.search(pattern, path):
                time.sleep(seconds)
        with self.lock:
            self.requests.append((method, path))
            for hook in self.hooks:
                if hook.times > 0 and hook.method == method and re.search(hook.path, path):
                    hook.times -= 1
                    hook.action()
            if headers.get("authorization") not in (f"token {TOKEN}", f"Bearer {TOKEN}"):
                return _error(401, "Bad credentials")
            fault = next((f for f in self.faults if f.times > 0 and f.matches(method, path)), None)
            if fault is not None:
                fault.times -= 1
                if not fault.applied:
                    return fault.response()
            answer = self._route(method, path, query, payload)
            if fault is not None:
                return fault.response()
            write = (method, path, json.dumps(payload, sort_keys=True))
            if self.ambiguous_writes and method != "GET" and write not in self.written:
                self.written.add(write)
                return Fault(status=502, times=0, message="Bad Gateway").response()
            return answer

    def _route(self, method: str, path: str, query: Mapping[str, str], payload: Any) -> Response:
        prefix = f"{self.api_prefix}/repos/{self.owner}/{self.repo}"
        if not path.startswith(prefix):
            return _error(404, "Not Found")
        route = path[len(prefix) :]
        for verb, pattern, permission, handler in _ROUTES:
            match = re.fullmatch(pattern, route)
            if verb == method and match:
                if permission in self.revoked and method != "GET":
                    return _error(403, "Resource not accessible by integration")
                return handler(self, *match.groups(), payload if method != "GET" else query)
        return _error(404, "Not Found")

    # repository and git data

    def _repo(self, query: Any) -> Response:
        return 200, self._repository(), {}

    def _get_ref(self, branch: str, query: Any) -> Response:
        sha = self.head(branch)
        if sha is None:
            return _error(404, "Not Found")
        return 200, self._ref_json(f"refs/heads/{branch}", sha), {}

    def _create_ref(self, body: Any) -> Response:
        ref, sha = body["ref"], body["sha"]
        if _git(self.bare, "update-ref", ref, sha, "", check=False).returncode != 0:
            return _error(422, "Reference already exists")
        return 201, self._ref_json(ref, sha), {}

    def _update_ref(self, branch: str, body: Any) -> Response:
        old = self.head(branch)
        if old is None:
            return _error(422, "Reference does not exist")
        fast_forward = _git(self.bare, "merge-base", "--is-ancestor", old, body["sha"], check=False).returncode == 0
        if not body.get("force") and not fast_forward:
            return _error(422, "Update is not a fast forward")
        _git(self.bare, "update-ref", f"refs/heads/{branch}", body["sha"], old)
        return 200, self._ref_json(f"refs/heads/{branch}", body["sha"]), {}

    def _delete_ref(self, branch: str, body: Any) -> Response:
        if _git(self.bare, "update-ref", "-d", f"refs/heads/{branch}", check=False).returncode != 0:
            return _error(422, "Reference does not exist")
        return 204, None, {}

    def _create_blob(self, body: Any) -> Response:
        content = body["content"]
        data = base64.b64decode(content) if body.get("encoding") == "base64" else content.encode()
        sha = _git(self.bare, "hash-object", "-w", "--stdin", stdin=data).stdout.strip()
        return 201, {"sha": sha, "url": f"{self._api}/git/blobs/{sha}"}, {}

    def _get_blob(self, sha: str, query: Any) -> Response:
        result = _git_bytes(self.bare, "cat-file", "blob", sha, check=False)
        if result.returncode != 0:
            return _error(404, "Not Found")
        raw = result.stdout
        return (
            200,
            {
                "sha": sha,
                "node_id": _node("B", sha),
                "size": len(raw),
                "url": f"{self._api}/git/blobs/{sha}",
                "content": base64.encodebytes(raw).decode(),
                "encoding": "base64",
            },
            {},
        )

    def _create_tree(self, body: Any) -> Response:
        try:
            sha = self._write_tree(body["tree"], base=body.get("base_tree"))
        except subprocess.CalledProcessError as exc:
            return _error(422, f"tree is invalid: {exc.stderr}")
        return 201, {"sha": sha, "url": f"{self._api}/git/trees/{sha}", "tree": [], "truncated": False}, {}

    def _get_commit(self, sha: str, query: Any) -> Response:
        result = _git(
            self.bare, "show", "-s", "--format=%H%n%T%n%P%n%an%n%ae%n%aI%n%cn%n%ce%n%cI%n%B", sha, check=False
        )
        if result.returncode != 0:
            return _error(404, "Not Found")
        return 200, self._commit_json(result.stdout), {}

    def _create_commit(self, body: Any) -> Response:
        args = [a for p in body.get("parents", []) for a in ("-p", p)]
        result = _git(
            self.bare, "commit-tree", body["tree"], *args, stdin=body["message"], env=self._dates(), check=False
        )
        if result.returncode != 0:
            return _error(422, result.stderr.strip())
        _, made, _ = self._get_commit(result.stdout.strip(), {})
        return 201, made, {}

    def _get_content(self, path: str, query: Any) -> Response:
        ref = query.get("ref", self.branch)
        kind = _git(self.bare, "cat-file", "-t", f"{ref}:{path}", check=False)
        if kind.returncode != 0:
            return _error(404, "Not Found")
        if kind.stdout.strip() == "tree":
            return 200, [], {}
        sha = _git(self.bare, "rev-parse", f"{ref}:{path}").stdout.strip()
        raw = _git_bytes(self.bare, "cat-file", "blob", sha).stdout
        large = len(raw) > LARGE_FILE
        html = f"{self.url}/{self.full_name}/blob/{ref}/{path}"
        git_url = f"{self._api}/git/blobs/{sha}"
        return (
            200,
            {
                "type": "file",
                "name": path.rsplit("/", 1)[-1],
                "path": path,
                "sha": sha,
                "size": len(raw),
                "url": f"{self._api}/contents/{path}?ref={ref}",
                "html_url": html,
                "git_url": git_url,
                "download_url": f"{self.url}/raw/{self.full_name}/{ref}/{path}",
                "encoding": "none" if large else "base64",
                "content": "" if large else base64.encodebytes(raw).decode(),
                "_links": {"self": f"{self._api}/contents/{path}?ref={ref}", "git": git_url, "html": html},
            },
            {},
        )

    # pulls

    def _create_pull(self, body: Any) -> Response:
        head, base = body["head"].split(":")[-1], body["base"]
        sha = self.head(head)
        if sha is None:
            return _validation("PullRequest", "head", "invalid")
        if any(
            p["head_ref"] == head and p["head_repo"] == "self" and p["state"] == "open" for p in self.pulls.values()
        ):
            return _validation(
                "PullRequest", None, "custom", message=f"A pull request already exists for {self.owner}:{head}."
            )
        number = self._next_number()
        self.pulls[number] = self._new_pull(
            number, title=body["title"], body=body.get("body") or "", head=head, base=base, sha=sha
        )
        self.comments[number] = []
        return 201, self._pull_json(self.pulls[number]), {}

    def _list_pulls(self, query: Any) -> Response:
        state = query.get("state", "open")
        owner, _, head = query.get("head", "").rpartition(":")
        found = [
            p
            for p in sorted(self.pulls.values(), key=lambda p: -p["number"])
            if (state == "all" or p["state"] == state)
            and (not head or (p["head_ref"] == head and self._head_owner(p) == (owner or self.owner)))
        ]
        return self._page([self._pull_json(p) for p in found], query, "pulls")

    def _get_pull(self, number: str, query: Any) -> Response:
        pull = self.pulls.get(int(number))
        return (200, self._pull_json(pull), {}) if pull else _error(404, "Not Found")

    def _update_pull(self, number: str, body: Any) -> Response:
        pull = self.pulls.get(int(number))
        if pull is None:
            return _error(404, "Not Found")
        for key in ("title", "body", "state"):
            if key in body and body[key] is not None:
                pull[key] = body[key]
        if pull["state"] == "closed" and pull["closed_at"] is None:
            pull["closed_at"] = self._stamp()
        return 200, self._pull_json(pull), {}

    def _merge_pull(self, number: str, body: Any) -> Response:
        return self._merge(int(number), body)

    def _merge(self, number: int, body: Any) -> Response:
        pull = self.pulls.get(number)
        if pull is None:
            return _error(404, "Not Found")
        if pull["state"] != "open":
            return _error(405, NOT_MERGEABLE)
        head = self._live_head(pull)
        base = self.head(pull["base_ref"])
        assert head is not None and base is not None
        if body.get("sha") and body["sha"] != head:
            return _error(409, HEAD_MODIFIED)
        tree = _git(self.bare, "merge-tree", "--write-tree", base, head, check=False)
        if tree.returncode != 0:
            return _error(405, NOT_MERGEABLE)
        message = body.get("commit_title") or f"Merge pull request #{number} from {self.owner}/{pull['head_ref']}"
        sha = _git(
            self.bare,
            "commit-tree",
            tree.stdout.split()[0],
            "-p",
            base,
            "-p",
            head,
            stdin=f"{message}\n\n{pull['title']}\n",
            env=self._dates(),
        ).stdout.strip()
        _git(self.bare, "update-ref", f"refs/heads/{pull['base_ref']}", sha, base)
        pull.update(
            state="closed", merged_at=self._stamp(), closed_at=self._stamp(), merge_commit_sha=sha, head_sha=head
        )
        return 200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}, {}

    def _request_reviewers(self, number: str, body: Any) -> Response:
        pull = self.pulls.get(int(number))
        if pull is None:
            return _error(404, "Not Found")
        users, teams = body.get("reviewers") or [], body.get("team_reviewers") or []
        hidden = [team for team in teams if team not in self.teams]
        if hidden:
            # what GitHub answers when the token cannot see a team: a bare string in `errors`
            ids = ", ".join(f"'{_node('T', t)}'" for t in hidden)
            return (
                422,
                {
                    "message": "Validation Failed",
                    "errors": [f"Could not resolve to a node with the global id of {ids}."],
                    "documentation_url": DOCS,
                },
                {},
            )
        if any(name not in self.collaborators for name in users):
            return _error(
                422,
                "Reviews may only be requested from collaborators. One or more of the users or teams "
                f"you specified is not a collaborator of the {self.full_name} repository.",
            )
        pull["reviewers"] += [u for u in users if u not in pull["reviewers"]]
        pull["teams"] += [t for t in teams if t not in pull["teams"]]
        return 201, self._pull_json(pull), {}

    def _pulls_for_commit(self, sha: str, query: Any) -> Response:
        found = [p for p in self.pulls.values() if sha in (p["merge_commit_sha"], self._live_head(p))]
        return self._page([self._pull_json(p) for p in found], query, f"commits/{sha}/pulls")

    # issues

    def _add_labels(self, number: str, body: Any) -> Response:
        pull = self.pulls.get(int(number))
        if pull is None:
            return _error(404, "Not Found")
        pull["labels"] += [name for name in body["labels"] if name not in pull["labels"]]
        return 200, [self._label_json(name) for name in pull["labels"]], {}

    def _create_comment(self, number: str, body: Any) -> Response:
        if int(number) not in self.pulls:
            return _error(404, "Not Found")
        self.comments[int(number)].append(body["body"])
        return 201, self._comment_json(int(number), len(self.comments[int(number)]) - 1), {}

    def _list_comments(self, number: str, query: Any) -> Response:
        found = [self._comment_json(int(number), i) for i in range(len(self.comments.get(int(number), [])))]
        return self._page(found, query, f"issues/{number}/comments")

    # deployments

    def _create_deployment(self, body: Any) -> Response:
        sha = _git(
            self.bare, "rev-parse", "--verify", "--quiet", f"{body['ref']}^{{commit}}", check=False
        ).stdout.strip()
        if not sha:
            return _validation("Deployment", "ref", "invalid", message=f"No ref found for: {body['ref']}")
        deployment = {
            "id": len(self.deployments) + 1,
            "ref": body["ref"],
            "sha": sha,
            "task": body.get("task", "deploy"),
            "payload": body.get("payload") or {},
            "environment": body.get("environment", "production"),
            "description": body.get("description"),
            "production_environment": bool(body.get("production_environment")),
            "created_at": self._stamp(),
        }
        self.deployments.append(deployment)
        self.statuses[deployment["id"]] = []
        return 201, self._deployment_json(deployment), {}

    def _list_deployments(self, query: Any) -> Response:
        found = [
            self._deployment_json(d)
            for d in reversed(self.deployments)
            if all(query.get(key) in (None, d[key]) for key in ("sha", "ref", "task", "environment"))
        ]
        return self._page(found, query, "deployments")

    def _create_status(self, deployment: str, body: Any) -> Response:
        if int(deployment) not in self.statuses:
            return _error(404, "Not Found")
        status = {
            "id": next(self._ids),
            "state": body["state"],
            "environment": body.get("environment"),
            "description": body.get("description") or "",
            "created_at": self._stamp(),
        }
        self.statuses[int(deployment)].append(status)
        return 201, self._status_json(int(deployment), status), {}

    def _list_statuses(self, deployment: str, query: Any) -> Response:
        if int(deployment) not in self.statuses:
            return _error(404, "Not Found")
        found = [self._status_json(int(deployment), s) for s in reversed(self.statuses[int(deployment)])]
        return self._page(found, query, f"deployments/{deployment}/statuses")

    # GitHub's shapes

    @property
    def _api(self) -> str:
        return f"{self.url}{self.api_prefix}/repos/{self.full_name}"

    def _page(self, items: list[Any], query: Mapping[str, str], route: str) -> Response:
        """One page of a list, with the `Link` header GitHub sends when there are more."""
        per_page, page = min(int(query.get("per_page", 30)), 100), int(query.get("page", 1))
        last = max((len(items) + per_page - 1) // per_page, 1)
        rest = "&".join(f"{k}={v}" for k, v in query.items() if k not in ("page", "per_page"))
        links = [
            f'<{self._api}/{route}?{rest}&per_page={per_page}&page={n}>; rel="{rel}"'
            for rel, n in (("next", page + 1), ("last", last))
            if page < last
        ]
        return 200, items[(page - 1) * per_page : page * per_page], ({"link": ", ".join(links)} if links else {})

    def _user(self, login: str, kind: str = "User") -> dict[str, Any]:
        url = f"{self.url}{self.api_prefix}/users/{login}"
        uid = APP_ID if login == "github-actions[bot]" else int(hashlib.sha1(login.encode()).hexdigest()[:6], 16)
        return {
            "login": login,
            "id": uid,
            "node_id": _node("U", login),
            "avatar_url": f"{self.url}/avatars/{uid}",
            "gravatar_id": "",
            "url": url,
            "html_url": f"{self.url}/{login}",
            "followers_url": f"{url}/followers",
            "following_url": f"{url}/following{{/other_user}}",
            "gists_url": f"{url}/gists{{/gist_id}}",
            "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{url}/subscriptions",
            "organizations_url": f"{url}/orgs",
            "repos_url": f"{url}/repos",
            "events_url": f"{url}/events{{/privacy}}",
            "received_events_url": f"{url}/received_events",
            "type": "Bot" if login.endswith("[bot]") else kind,
            "site_admin": False,
        }

    def _repository(self, owner: str | None = None) -> dict[str, Any]:
        """This repository, or (with `owner`) a fork of it."""
        owner = owner or self.owner
        full = f"{owner}/{self.repo}"
        api = f"{self.url}{self.api_prefix}/repos/{full}"
        templated = {
            "archive_url": "/{archive_format}{/ref}",
            "assignees_url": "/assignees{/user}",
            "blobs_url": "/git/blobs{/sha}",
            "branches_url": "/branches{/branch}",
            "collaborators_url": "/collaborators{/collaborator}",
            "comments_url": "/comments{/number}",
            "commits_url": "/commits{/sha}",
            "compare_url": "/compare/{base}...{head}",
            "contents_url": "/contents/{+path}",
            "contributors_url": "/contributors",
            "deployments_url": "/deployments",
            "downloads_url": "/downloads",
            "events_url": "/events",
            "forks_url": "/forks",
            "git_commits_url": "/git/commits{/sha}",
            "git_refs_url": "/git/refs{/sha}",
            "git_tags_url": "/git/tags{/sha}",
            "hooks_url": "/hooks",
            "issue_comment_url": "/issues/comments{/number}",
            "issue_events_url": "/issues/events{/number}",
            "issues_url": "/issues{/number}",
            "keys_url": "/keys{/key_id}",
            "labels_url": "/labels{/name}",
            "languages_url": "/languages",
            "merges_url": "/merges",
            "milestones_url": "/milestones{/number}",
            "notifications_url": "/notifications{?since,all,participating}",
            "pulls_url": "/pulls{/number}",
            "releases_url": "/releases{/id}",
            "stargazers_url": "/stargazers",
            "statuses_url": "/statuses/{sha}",
            "subscribers_url": "/subscribers",
            "subscription_url": "/subscription",
            "tags_url": "/tags",
            "teams_url": "/teams",
            "trees_url": "/git/trees{/sha}",
        }
        fork = owner != self.owner
        return {
            "id": FORK_ID if fork else REPO_ID,
            "node_id": _node("R", full),
            "name": self.repo,
            "full_name": full,
            "owner": self._user(owner, "User" if fork else "Organization"),
            "private": False,
            "fork": fork,
            "url": api,
            "html_url": f"{self.url}/{full}",
            **{key: api + suffix for key, suffix in templated.items()},
            "git_url": f"git://127.0.0.1/{full}.git",
            "ssh_url": f"git@127.0.0.1:{full}.git",
            "clone_url": f"{self.url}/{full}.git",
            "svn_url": f"{self.url}/{full}",
            "mirror_url": None,
            "homepage": None,
            "description": None,
            "language": None,
            "license": None,
            "default_branch": self.branch,
            "forks": 0,
            "forks_count": 0,
            "stargazers_count": 0,
            "watchers": 0,
            "watchers_count": 0,
            "open_issues": 0,
            "open_issues_count": 0,
            "network_count": 0,
            "subscribers_count": 0,
            "size": 1,
            "has_issues": True,
            "has_projects": False,
            "has_wiki": False,
            "has_pages": False,
            "has_downloads": False,
            "has_discussions": False,
            "archived": False,
            "disabled": False,
            "pushed_at": "2026-11-01T09:00:00Z",
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-11-01T09:00:00Z",
        }

    def _ref_json(self, ref: str, sha: str) -> dict[str, Any]:
        return {
            "ref": ref,
            "node_id": _node("REF", ref),
            "url": f"{self._api}/git/{ref}",
            "object": {"sha": sha, "type": "commit", "url": f"{self._api}/git/commits/{sha}"},
        }

    def _commit_json(self, shown: str) -> dict[str, Any]:
        sha, tree, parents, an, ae, ad, cn, ce, cd, message = shown.split("\n", 9)
        return {
            "sha": sha,
            "node_id": _node("C", sha),
            "url": f"{self._api}/git/commits/{sha}",
            "html_url": f"{self.url}/{self.full_name}/commit/{sha}",
            "author": {"name": an, "email": ae, "date": ad},
            "committer": {"name": cn, "email": ce, "date": cd},
            "message": message.rstrip("\n"),
            "tree": {"sha": tree, "url": f"{self._api}/git/trees/{tree}"},
            "parents": [
                {"sha": p, "url": f"{self._api}/git/commits/{p}", "html_url": f"{self.url}/{self.full_name}/commit/{p}"}
                for p in parents.split()
            ],
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        }

    def _label_json(self, name: str) -> dict[str, Any]:
        return {
            "id": int(hashlib.sha1(name.encode()).hexdigest()[:6], 16),
            "node_id": _node("LA", name),
            "url": f"{self._api}/labels/{name}",
            "name": name,
            "description": f"Set by rollout: {name}",
            "color": "ededed",
            "default": False,
        }

    def _comment_json(self, number: int, index: int) -> dict[str, Any]:
        cid = number * 100_000 + index + 1
        return {
            "id": cid,
            "node_id": _node("IC", str(cid)),
            "url": f"{self._api}/issues/comments/{cid}",
            "html_url": f"{self.url}/{self.full_name}/pull/{number}#issuecomment-{cid}",
            "issue_url": f"{self._api}/issues/{number}",
            "body": self.comments[number][index],
            "user": self._user("github-actions[bot]"),
            "author_association": "NONE",
            "created_at": self._stamp(),
            "updated_at": self._stamp(),
        }

    def _deployment_json(self, deployment: Mapping[str, Any]) -> dict[str, Any]:
        url = f"{self._api}/deployments/{deployment['id']}"
        return {
            "id": deployment["id"],
            "node_id": _node("DE", str(deployment["id"])),
            "url": url,
            "sha": deployment["sha"],
            "ref": deployment["ref"],
            "task": deployment["task"],
            "payload": deployment["payload"],
            "original_environment": deployment["environment"],
            "environment": deployment["environment"],
            "description": deployment["description"],
            "creator": self._user("github-actions[bot]"),
            "created_at": deployment["created_at"],
            "updated_at": deployment["created_at"],
            "statuses_url": f"{url}/statuses",
            "repository_url": self._api,
            "transient_environment": False,
            "production_environment": deployment["production_environment"],
        }

    def _status_json(self, deployment: int, status: Mapping[str, Any]) -> dict[str, Any]:
        url = f"{self._api}/deployments/{deployment}"
        return {
            "id": status["id"],
            "node_id": _node("DES", str(status["id"])),
            "url": f"{url}/statuses/{status['id']}",
            "state": status["state"],
            "creator": self._user("github-actions[bot]"),
            "description": status["description"],
            "environment": status["environment"] or "",
            "target_url": "",
            "log_url": "",
            "environment_url": "",
            "deployment_url": url,
            "repository_url": self._api,
            "created_at": status["created_at"],
            "updated_at": status["created_at"],
        }

    # helpers

    def _next_number(self) -> int:
        return len(self.pulls) + 1

    def _new_pull(
        self,
        number: int,
        *,
        title: str,
        body: str,
        head: str,
        base: str,
        sha: str,
        fork: str | None = "self",
        author: str = "github-actions[bot]",
    ) -> dict[str, Any]:
        return {
            "number": number,
            "id": 500_000 + number,
            "title": title,
            "body": body,
            "head_ref": head,
            "head_repo": fork,  # "self" (this repository), a fork's owner, or None for a deleted fork
            "base_ref": base,
            "state": "open",
            "author": author,
            "created_at": self._stamp(),
            "closed_at": None,
            "merged_at": None,
            "merge_commit_sha": None,
            "labels": [],
            "reviewers": [],
            "teams": [],
            "head_sha": sha,
        }

    def _head_owner(self, pull: Mapping[str, Any]) -> str | None:
        return self.owner if pull["head_repo"] == "self" else pull["head_repo"]

    def _live_head(self, pull: Mapping[str, Any]) -> str:
        if pull["state"] == "open" and pull["head_repo"] == "self":
            return self.head(pull["head_ref"]) or str(pull["head_sha"])
        return str(pull["head_sha"])

    def _pull_json(self, pull: Mapping[str, Any]) -> dict[str, Any]:
        number = pull["number"]
        api, html = self._api, f"{self.url}/{self.full_name}/pull/{number}"
        owner = self._head_owner(pull)
        head_repo = None if owner is None else self._repository(owner)
        head_user = self._user(owner or "ghost")
        merged = pull["merged_at"] is not None
        return {
            "id": pull["id"],
            "node_id": _node("PR", str(pull["id"])),
            "number": number,
            "title": pull["title"],
            "body": pull["body"],
            "state": pull["state"],
            "locked": False,
            "draft": False,
            "url": f"{api}/pulls/{number}",
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": f"{api}/issues/{number}",
            "commits_url": f"{api}/pulls/{number}/commits",
            "review_comments_url": f"{api}/pulls/{number}/comments",
            "review_comment_url": f"{api}/pulls/comments{{/number}}",
            "comments_url": f"{api}/issues/{number}/comments",
            "statuses_url": f"{api}/statuses/{self._live_head(pull)}",
            "head": {
                "label": f"{owner or 'unknown'}:{pull['head_ref']}",
                "ref": pull["head_ref"],
                "sha": self._live_head(pull),
                "repo": head_repo,
                "user": head_user,
            },
            "base": {
                "label": f"{self.owner}:{pull['base_ref']}",
                "ref": pull["base_ref"],
                "sha": self.head(pull["base_ref"]),
                "repo": self._repository(),
                "user": self._user(self.owner, "Organization"),
            },
            "_links": {
                name: {"href": href}
                for name, href in {
                    "self": f"{api}/pulls/{number}",
                    "html": html,
                    "issue": f"{api}/issues/{number}",
                    "comments": f"{api}/issues/{number}/comments",
                    "review_comments": f"{api}/pulls/{number}/comments",
                    "review_comment": f"{api}/pulls/comments{{/number}}",
                    "commits": f"{api}/pulls/{number}/commits",
                    "statuses": f"{api}/statuses/{self._live_head(pull)}",
                }.items()
            },
            "user": self._user(pull["author"]),
            "author_association": "CONTRIBUTOR" if pull["head_repo"] != "self" else "NONE",
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "auto_merge": None,
            "active_lock_reason": None,
            "created_at": pull["created_at"],
            "updated_at": pull["closed_at"] or pull["created_at"],
            "closed_at": pull["closed_at"],
            "merged_at": pull["merged_at"],
            "merge_commit_sha": pull["merge_commit_sha"],
            "merged": merged,
            "merged_by": self._user("github-actions[bot]") if merged else None,
            "mergeable": None,
            "mergeable_state": "unknown",
            "maintainer_can_modify": False,
            "comments": len(self.comments.get(number, [])),
            "review_comments": 0,
            "commits": 1,
            "additions": 1,
            "deletions": 0,
            "changed_files": 1,
            "labels": [self._label_json(name) for name in pull["labels"]],
            "requested_reviewers": [self._user(name) for name in pull["reviewers"]],
            "requested_teams": [self._team_json(name) for name in pull["teams"]],
        }

    def _team_json(self, slug: str) -> dict[str, Any]:
        url = f"{self.url}{self.api_prefix}/orgs/{self.owner}/teams/{slug}"
        tid = int(hashlib.sha1(slug.encode()).hexdigest()[:6], 16)
        return {
            "id": tid,
            "node_id": _node("T", slug),
            "url": url,
            "html_url": f"{self.url}/orgs/{self.owner}/teams/{slug}",
            "name": slug,
            "slug": slug,
            "description": None,
            "privacy": "closed",
            "notification_setting": "notifications_enabled",
            "permission": "pull",
            "type": "organization",
            "members_url": f"{url}/members{{/member}}",
            "repositories_url": f"{url}/repos",
            "parent": None,
        }

    def _stamp(self) -> str:
        return (self.now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _write_tree(self, entries: list[dict[str, Any]], *, base: str | None) -> str:
        with tempfile.TemporaryDirectory() as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if base:
                _git(self.bare, "read-tree", base, env=env)
            for entry in entries:
                if entry.get("content") is not None:
                    blob = _git(self.bare, "hash-object", "-w", "--stdin", stdin=entry["content"]).stdout.strip()
                elif entry.get("sha") is not None:
                    blob = entry["sha"]
                else:
                    _git(self.bare, "update-index", "--index-info", stdin=f"0 {'0' * 40}\t{entry['path']}\n", env=env)
                    continue
                _git(
                    self.bare,
                    "update-index",
                    "--add",
                    "--cacheinfo",
                    f"{entry['mode']},{blob},{entry['path']}",
                    env=env,
                )
            return _git(self.bare, "write-tree", env=env).stdout.strip()

    def _dates(self) -> dict[str, str]:
        stamp = (
            {"GIT_AUTHOR_DATE": self.now.isoformat(), "GIT_COMMITTER_DATE": self.now.isoformat()} if self.now else {}
        )
        return {**IDENTITY, **stamp}


_ROUTES: list[tuple[str, str, str, Callable[..., Response]]] = [
    ("GET", r"", "metadata", FakeGitHub._repo),
    ("GET", r"/git/ref/heads/(.+)", "contents", FakeGitHub._get_ref),
    ("POST", r"/git/refs", "contents", FakeGitHub._create_ref),
    ("PATCH", r"/git/refs/heads/(.+)", "contents", FakeGitHub._update_ref),
    ("DELETE", r"/git/refs/heads/(.+)", "contents", FakeGitHub._delete_ref),
    ("POST", r"/git/blobs", "contents", FakeGitHub._create_blob),
    ("POST", r"/git/trees", "contents", FakeGitHub._create_tree),
    ("GET", r"/git/blobs/([0-9a-f]+)", "contents", FakeGitHub._get_blob),
    ("GET", r"/git/commits/([0-9a-f]+)", "contents", FakeGitHub._get_commit),
    ("POST", r"/git/commits", "contents", FakeGitHub._create_commit),
    ("GET", r"/contents/(.+)", "contents", FakeGitHub._get_content),
    ("POST", r"/pulls", "pull-requests", FakeGitHub._create_pull),
    ("GET", r"/pulls", "pull-requests", FakeGitHub._list_pulls),
    ("GET", r"/pulls/(\d+)", "pull-requests", FakeGitHub._get_pull),
    ("PATCH", r"/pulls/(\d+)", "pull-requests", FakeGitHub._update_pull),
    ("PUT", r"/pulls/(\d+)/merge", "pull-requests", FakeGitHub._merge_pull),
    ("POST", r"/pulls/(\d+)/requested_reviewers", "pull-requests", FakeGitHub._request_reviewers),
    ("GET", r"/commits/([0-9a-f]+)/pulls", "pull-requests", FakeGitHub._pulls_for_commit),
    ("POST", r"/issues/(\d+)/labels", "pull-requests", FakeGitHub._add_labels),
    ("POST", r"/issues/(\d+)/comments", "pull-requests", FakeGitHub._create_comment),
    ("GET", r"/issues/(\d+)/comments", "pull-requests", FakeGitHub._list_comments),
    ("POST", r"/deployments", "deployments", FakeGitHub._create_deployment),
    ("GET", r"/deployments", "deployments", FakeGitHub._list_deployments),
    ("POST", r"/deployments/(\d+)/statuses", "deployments", FakeGitHub._create_status),
    ("GET", r"/deployments/(\d+)/statuses", "deployments", FakeGitHub._list_statuses),
]


def _error(status: int, message: str) -> Response:
    return status, {"message": message, "documentation_url": DOCS}, {}


def _validation(resource: str, field: str | None, code: str, *, message: str | None = None) -> Response:
    """A 422 with GitHub's `errors` detail: what was wrong, with which field of which resource."""
    error: dict[str, Any] = {"resource": resource, "code": code}
    if field is not None:
        error["field"] = field
    if message is not None:
        error["message"] = message
    return 422, {"message": "Validation Failed", "errors": [error], "documentation_url": DOCS}, {}


def _node(kind: str, key: str) -> str:
    return f"{kind}_{hashlib.sha1(key.encode()).hexdigest()[:16]}"


def _handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            sent = json.loads(raw) if raw else None
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, body, extra = fake.handle(self.command, self.path, headers, {} if sent is None else sent)
            with fake.lock:
                fake.exchanges.append(Exchange(self.command, self.path, sent, status, body, dict(extra)))
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json; charset=utf-8")
            self.send_header("content-length", str(len(data)))
            self.send_header("x-ratelimit-limit", "5000")
            for key, value in {"x-ratelimit-remaining": "4999", **extra}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _git(
    cwd: Path,
    *args: str,
    check: bool = True,
    stdin: str | bytes | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    result = _git_bytes(cwd, *args, check=check, stdin=stdin, env=env)
    return subprocess.CompletedProcess(result.args, result.returncode, result.stdout.decode(), result.stderr.decode())


def _git_bytes(
    cwd: Path, *args: str, check: bool = True, stdin: str | bytes | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    result = subprocess.run(
        ["git", *args], cwd=cwd, input=data, capture_output=True, check=False, env={**os.environ, **(env or {})}
    )
    if check and result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, ["git", *args], result.stdout, result.stderr)
    return result
