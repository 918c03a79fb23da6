"""A fake GitHub REST API on loopback, backed by a real bare git repository.

ghapi talks through its own HTTP stack, so tests serve real HTTP rather than mock a client. The
endpoints are the ones the github forge calls, with GitHub's shapes and status codes: refs, git
data (blobs, trees, commits), contents, pulls (create, list, get, update, merge, requested
reviewers), issue comments and labels, deployments and their statuses, and the commit-to-pulls
lookup. Merges are real (`git merge-tree --write-tree` + `commit-tree`), so conflicts are real too.

Tests steer it with:
- `fail(status=503, times=n)`: the next n matching requests fail (server errors, or anything else);
- `rate_limit("primary" | "secondary", times=n, wait=s)`: the next n requests hit a rate limit;
- `delay(method=, path=, seconds=)`: answer matching requests late, to widen races;
- `revoke("pull-requests")`: the token lacks that write permission, so those writes answer 403;
- `now`: the commit date the server uses for merges, so tests can simulate soak time;
- `merge(n)`, `revert(n)`, `push(branch, files)`: what a person does in the web UI or with git push.
"""

from __future__ import annotations

import base64
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


@dataclass
class Fault:
    status: int
    times: int
    method: str | None = None
    path: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "Service Unavailable"

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or re.search(self.path, path) is not None
        )


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
        self.faults: list[Fault] = []
        self.revoked: set[str] = set()
        self.now: datetime | None = None
        self.collaborators = {"alice", "bob"}
        self.delays: list[tuple[str, str, float]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

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
    ) -> None:
        with self.lock:
            self.faults.append(
                Fault(
                    status=status, times=times, method=method, path=path, headers=dict(headers or {}), message=message
                )
            )

    def rate_limit(self, kind: str, *, times: int = 1, wait: int = 30) -> None:
        if kind == "primary":
            reset = str(int(time.time()) + wait)
            headers = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
            self.fail(status=403, times=times, headers=headers, message="API rate limit exceeded")
        else:
            self.fail(
                status=429,
                times=times,
                headers={"retry-after": str(wait)},
                message="You have exceeded a secondary rate limit",
            )

    def delay(self, *, method: str, path: str, seconds: float) -> None:
        """Answer matching requests late (without holding up others), e.g. to widen a race between two clients."""
        self.delays.append((method, path, seconds))

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
            if headers.get("authorization") not in (f"token {TOKEN}", f"Bearer {TOKEN}"):
                return _error(401, "Bad credentials")
            for fault in self.faults:
                if fault.times > 0 and fault.matches(method, path):
                    fault.times -= 1
                    return fault.status, {"message": fault.message}, dict(fault.headers)
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
        return (
            200,
            {"full_name": self.full_name, "default_branch": self.branch, "html_url": f"{self.url}/{self.full_name}"},
            {},
        )

    def _get_ref(self, branch: str, query: Any) -> Response:
        sha = self.head(branch)
        if sha is None:
            return _error(404, "Not Found")
        return 200, {"ref": f"refs/heads/{branch}", "object": {"sha": sha, "type": "commit"}}, {}

    def _create_ref(self, body: Any) -> Response:
        ref, sha = body["ref"], body["sha"]
        if _git(self.bare, "update-ref", ref, sha, "", check=False).returncode != 0:
            return _error(422, "Reference already exists")
        return 201, {"ref": ref, "object": {"sha": sha, "type": "commit"}}, {}

    def _update_ref(self, branch: str, body: Any) -> Response:
        old = self.head(branch)
        if old is None:
            return _error(422, "Reference does not exist")
        fast_forward = _git(self.bare, "merge-base", "--is-ancestor", old, body["sha"], check=False).returncode == 0
        if not body.get("force") and not fast_forward:
            return _error(422, "Update is not a fast forward")
        _git(self.bare, "update-ref", f"refs/heads/{branch}", body["sha"], old)
        return 200, {"ref": f"refs/heads/{branch}", "object": {"sha": body["sha"], "type": "commit"}}, {}

    def _delete_ref(self, branch: str, body: Any) -> Response:
        if _git(self.bare, "update-ref", "-d", f"refs/heads/{branch}", check=False).returncode != 0:
            return _error(422, "Reference does not exist")
        return 204, None, {}

    def _create_blob(self, body: Any) -> Response:
        content = body["content"]
        data = base64.b64decode(content) if body.get("encoding") == "base64" else content.encode()
        sha = _git(self.bare, "hash-object", "-w", "--stdin", stdin=data).stdout.strip()
        return 201, {"sha": sha}, {}

    def _create_tree(self, body: Any) -> Response:
        try:
            sha = self._write_tree(body["tree"], base=body.get("base_tree"))
        except subprocess.CalledProcessError as exc:
            return _error(422, f"tree is invalid: {exc.stderr}")
        return 201, {"sha": sha, "tree": []}, {}

    def _get_commit(self, sha: str, query: Any) -> Response:
        result = _git(self.bare, "show", "-s", "--format=%H%n%T%n%P%n%B", sha, check=False)
        if result.returncode != 0:
            return _error(404, "Not Found")
        commit, tree, parents, message = result.stdout.split("\n", 3)
        return (
            200,
            {
                "sha": commit,
                "message": message.rstrip("\n"),
                "tree": {"sha": tree},
                "parents": [{"sha": p} for p in parents.split()],
            },
            {},
        )

    def _create_commit(self, body: Any) -> Response:
        args = [a for p in body.get("parents", []) for a in ("-p", p)]
        result = _git(
            self.bare, "commit-tree", body["tree"], *args, stdin=body["message"], env=self._dates(), check=False
        )
        if result.returncode != 0:
            return _error(422, result.stderr.strip())
        return 201, {"sha": result.stdout.strip()}, {}

    def _get_content(self, path: str, query: Any) -> Response:
        ref = query.get("ref", self.branch)
        kind = _git(self.bare, "cat-file", "-t", f"{ref}:{path}", check=False)
        if kind.returncode != 0:
            return _error(404, "Not Found")
        if kind.stdout.strip() == "tree":
            return 200, [], {}
        raw = _git_bytes(self.bare, "cat-file", "blob", f"{ref}:{path}").stdout
        return 200, {"type": "file", "path": path, "encoding": "base64", "content": base64.b64encode(raw).decode()}, {}

    # pulls

    def _create_pull(self, body: Any) -> Response:
        head, base = body["head"].split(":")[-1], body["base"]
        if self.head(head) is None:
            return _error(422, "Validation Failed: head does not exist")
        if any(p["head_ref"] == head and p["state"] == "open" for p in self.pulls.values()):
            return (
                422,
                {
                    "message": "Validation Failed",
                    "errors": [
                        {
                            "resource": "PullRequest",
                            "code": "custom",
                            "message": f"A pull request already exists for {self.owner}:{head}.",
                        }
                    ],
                },
                {},
            )
        number = len(self.pulls) + 1
        self.pulls[number] = {
            "number": number,
            "title": body["title"],
            "body": body.get("body") or "",
            "head_ref": head,
            "base_ref": base,
            "state": "open",
            "merged_at": None,
            "merge_commit_sha": None,
            "labels": [],
            "reviewers": [],
            "teams": [],
            "head_sha": self.head(head),
        }
        self.comments[number] = []
        return 201, self._pull_json(self.pulls[number]), {}

    def _list_pulls(self, query: Any) -> Response:
        state = query.get("state", "open")
        head = query.get("head", "").split(":")[-1]
        found = [
            p
            for p in sorted(self.pulls.values(), key=lambda p: -p["number"])
            if (state == "all" or p["state"] == state) and (not head or p["head_ref"] == head)
        ]
        per_page, page = int(query.get("per_page", 30)), int(query.get("page", 1))
        return 200, [self._pull_json(p) for p in found[(page - 1) * per_page : page * per_page]], {}

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
        return 200, self._pull_json(pull), {}

    def _merge_pull(self, number: str, body: Any) -> Response:
        return self._merge(int(number), body)

    def _merge(self, number: int, body: Any) -> Response:
        pull = self.pulls.get(number)
        if pull is None:
            return _error(404, "Not Found")
        if pull["state"] != "open":
            return _error(405, "Pull Request is not mergeable")
        head = self.head(pull["head_ref"])
        base = self.head(pull["base_ref"])
        assert head is not None and base is not None
        if body.get("sha") and body["sha"] != head:
            return _error(409, "Head branch was modified. Review and try the merge again.")
        tree = _git(self.bare, "merge-tree", "--write-tree", base, head, check=False)
        if tree.returncode != 0:
            return _error(405, "Pull Request is not mergeable")
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
            state="closed",
            merged_at=(self.now or datetime.now(timezone.utc)).isoformat(),
            merge_commit_sha=sha,
            head_sha=head,
        )
        return 200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}, {}

    def _request_reviewers(self, number: str, body: Any) -> Response:
        pull = self.pulls.get(int(number))
        if pull is None:
            return _error(404, "Not Found")
        strangers = [name for name in body.get("reviewers") or [] if name not in self.collaborators]
        if strangers:
            return _error(
                422,
                "Reviews may only be requested from collaborators. One or more of the users or teams "
                "you specified is not a collaborator of the acme/models repository.",
            )
        pull["reviewers"] += body.get("reviewers") or []
        pull["teams"] += body.get("team_reviewers") or []
        return 201, self._pull_json(pull), {}

    def _pulls_for_commit(self, sha: str, query: Any) -> Response:
        found = [p for p in self.pulls.values() if sha in (p["merge_commit_sha"], self._live_head(p))]
        return 200, [self._pull_json(p) for p in found], {}

    # issues

    def _add_labels(self, number: str, body: Any) -> Response:
        pull = self.pulls.get(int(number))
        if pull is None:
            return _error(404, "Not Found")
        pull["labels"] += [name for name in body["labels"] if name not in pull["labels"]]
        return 200, [{"name": name} for name in pull["labels"]], {}

    def _create_comment(self, number: str, body: Any) -> Response:
        if int(number) not in self.pulls:
            return _error(404, "Not Found")
        self.comments[int(number)].append(body["body"])
        return 201, {"id": len(self.comments[int(number)]), "body": body["body"]}, {}

    def _list_comments(self, number: str, query: Any) -> Response:
        return 200, [{"body": b} for b in self.comments.get(int(number), [])], {}

    # deployments

    def _create_deployment(self, body: Any) -> Response:
        deployment = {
            "id": len(self.deployments) + 1,
            "ref": body["ref"],
            "sha": body["ref"],
            "environment": body.get("environment", "production"),
            "description": body.get("description"),
        }
        self.deployments.append(deployment)
        self.statuses[deployment["id"]] = []
        return 201, deployment, {}

    def _create_status(self, deployment: str, body: Any) -> Response:
        if int(deployment) not in self.statuses:
            return _error(404, "Not Found")
        status = {
            "id": len(self.statuses[int(deployment)]) + 1,
            "state": body["state"],
            "environment": body.get("environment"),
            "description": body.get("description"),
        }
        self.statuses[int(deployment)].append(status)
        return 201, status, {}

    def _list_deployments(self, query: Any) -> Response:
        return 200, list(reversed(self.deployments)), {}

    # helpers

    def _live_head(self, pull: Mapping[str, Any]) -> str | None:
        return self.head(pull["head_ref"]) if pull["state"] == "open" else pull["head_sha"]

    def _pull_json(self, pull: Mapping[str, Any]) -> dict[str, Any]:
        repo = {"full_name": self.full_name}
        return {
            "number": pull["number"],
            "title": pull["title"],
            "body": pull["body"],
            "state": pull["state"],
            "html_url": f"{self.url}/{self.full_name}/pull/{pull['number']}",
            "head": {"ref": pull["head_ref"], "sha": self._live_head(pull), "repo": repo},
            "base": {"ref": pull["base_ref"], "sha": self.head(pull["base_ref"]), "repo": repo},
            "merged_at": pull["merged_at"],
            "merge_commit_sha": pull["merge_commit_sha"],
            "labels": [{"name": name} for name in pull["labels"]],
            "requested_reviewers": [{"login": name} for name in pull["reviewers"]],
            "requested_teams": [{"slug": name} for name in pull["teams"]],
        }

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
]


def _error(status: int, message: str) -> Response:
    return status, {"message": message, "documentation_url": "https://docs.github.com/rest"}, {}


def _handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            payload = json.loads(raw) if raw else {}
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, body, extra = fake.handle(self.command, self.path, headers, payload)
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
