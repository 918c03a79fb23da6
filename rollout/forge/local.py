"""A forge that is just a git repository: offline runs, the demo, and tests.

A pull request is a branch plus a JSON record in `.git/rollout-prs/<number>.json` (inside the git
directory, so it is never committed and never dirties the work tree). Merging is
`git merge --no-ff` into the checked-out default branch and reverting is `git revert -m 1` of that
merge, exactly what a person would type. Deployments are records in `.git/rollout-deployments/`.
Records are read and written under an flock, so concurrent runs see one another's pull requests.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from rollout.atomic import write_atomic
from rollout.errors import CheckFailed, ExternalError, InputError
from rollout.forge import Commit, DeploymentState, PullRequest
from rollout.history import git

Clock = Callable[[], datetime]
IDENTITY = {
    "GIT_AUTHOR_NAME": "rollout",
    "GIT_AUTHOR_EMAIL": "rollout@localhost",
    "GIT_COMMITTER_NAME": "rollout",
    "GIT_COMMITTER_EMAIL": "rollout@localhost",
}


class LocalForge:
    name = "local"

    def __init__(self, root: Path, *, clock: Clock | None = None) -> None:
        top = git(root, "rev-parse", "--show-toplevel", check=False)
        if top.returncode != 0:
            raise InputError.at(str(root), "is not inside a git repository (the local forge keeps rollouts in git)")
        self.root = Path(top.stdout.strip())
        self.git_dir = Path(git(self.root, "rev-parse", "--path-format=absolute", "--git-common-dir").stdout.strip())
        self.clock = clock

    # -- git data ---------------------------------------------------------------------------------

    def default_branch(self) -> str:
        result = git(self.root, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        if result.returncode != 0:
            raise InputError.at(str(self.root), "HEAD is detached: check out the default branch first")
        return result.stdout.strip()

    def branch_head(self, branch: str) -> str | None:
        result = git(self.root, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}", check=False)
        return result.stdout.strip() or None

    def commit(self, sha: str) -> Commit:
        lines = git(self.root, "show", "-s", "--format=%H%n%P%n%B", sha).stdout.split("\n", 2)
        return Commit(sha=lines[0], parents=tuple(lines[1].split()), message=lines[2].rstrip("\n"))

    def read_file(self, path: str, ref: str) -> str | None:
        result = git(self.root, "show", f"{ref}:{path}", check=False)
        return result.stdout if result.returncode == 0 else None

    def write_commit(self, parent: str | None, changes: Mapping[str, str | None], message: str) -> str:
        with tempfile.TemporaryDirectory(prefix="rollout-index-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            git(self.root, "read-tree", parent or "--empty", env=env)
            for path, text in changes.items():
                if text is None:
                    git(self.root, "update-index", "--index-info", stdin=f"0 {'0' * 40}\t{path}\n", env=env)
                    continue
                blob = git(self.root, "hash-object", "-w", "--stdin", "--path", path, stdin=text).stdout.strip()
                git(self.root, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
            tree = git(self.root, "write-tree", env=env).stdout.strip()
        parents = ["-p", parent] if parent else []
        return git(self.root, "commit-tree", tree, *parents, stdin=message, env=self._commit_env()).stdout.strip()

    def create_branch(self, branch: str, sha: str) -> bool:
        result = git(self.root, "update-ref", f"refs/heads/{branch}", sha, "", check=False)
        if result.returncode == 0:
            return True
        if self.branch_head(branch) is not None:
            return False
        raise ExternalError(f"cannot create branch {branch}: {result.stderr.strip()}")

    def move_branch(self, branch: str, sha: str) -> None:
        git(self.root, "update-ref", f"refs/heads/{branch}", sha)

    # -- pull requests ----------------------------------------------------------------------------

    def open_pulls(self, prefix: str) -> Sequence[PullRequest]:
        with self._records() as records:
            return [p for p in records.values() if p.state == "open" and p.branch.startswith(prefix)]

    def pulls(self) -> Sequence[PullRequest]:
        """Every pull request, oldest first."""
        with self._records() as records:
            return sorted(records.values(), key=lambda p: p.number)

    def pull(self, number: int) -> PullRequest:
        with self._records() as records:
            return self._get(records, number)

    def open_pull(
        self, *, branch: str, base: str, title: str, body: str, labels: Sequence[str], reviewers: Sequence[str]
    ) -> tuple[PullRequest, bool]:
        with self._records() as records:
            existing = next((p for p in records.values() if p.state == "open" and p.branch == branch), None)
            if existing is not None:
                return existing, False
            number = max(records, default=0) + 1
            pull = PullRequest(
                number=number,
                url=str(self._record_path(number)),
                branch=branch,
                base=base,
                title=title,
                body=body,
                head_sha=self.branch_head(branch) or "",
            )
            self._save(pull, extra={"labels": list(labels), "reviewers": list(reviewers), "comments": []})
            return pull, True

    def update_pull(self, number: int, *, title: str, body: str) -> None:
        with self._records() as records:
            pull = self._get(records, number)
            self._save(replace(pull, title=title, body=body, head_sha=self.branch_head(pull.branch) or ""))

    def close_pull(self, number: int, *, comment: str) -> None:
        self.comment(number, comment)
        with self._records() as records:
            self._save(replace(self._get(records, number), state="closed"))

    def comment(self, number: int, body: str) -> None:
        with self._records() as records:
            pull = self._get(records, number)
            self._save(pull, extra={"comments": [*self.extras(number).get("comments", []), body]})

    def comments(self, number: int) -> list[str]:
        return list(self.extras(number).get("comments", []))

    def extras(self, number: int) -> dict[str, Any]:
        """Labels, reviewers, comments and the revert of one pull request's record."""
        data: dict[str, Any] = json.loads(self._record_path(number).read_text())
        return {k: data[k] for k in ("labels", "reviewers", "comments", "revert_sha") if k in data}

    def merge_pull(self, number: int, *, title: str, sha: str | None = None) -> str:
        pull = self.pull(number)
        if pull.state != "open":
            raise CheckFailed(f"pull request #{number} is {pull.state}, not open")
        head = self.branch_head(pull.branch)
        if sha is not None and head != sha:
            raise CheckFailed(
                f"pull request #{number} was not merged: its branch moved after rollout checked it (it is at "
                f"{(head or 'nothing')[:12]}, not {sha[:12]}); look at what was pushed to it, then run "
                f"`rollout propose` again"
            )
        if pull.base != self.default_branch():
            raise InputError.at(str(self.root), f"check out {pull.base} to merge #{number} into it")
        result = git(
            self.root,
            "merge",
            "--no-ff",
            "--no-edit",
            "-m",
            title,
            f"refs/heads/{pull.branch}",
            check=False,
            env=self._commit_env(),
        )
        if result.returncode != 0:
            conflicts = git(self.root, "diff", "--name-only", "--diff-filter=U").stdout.split()
            git(self.root, "merge", "--abort", check=False)
            where = f" (conflict in {', '.join(conflicts)})" if conflicts else f" ({result.stderr.strip()})"
            raise CheckFailed(
                f"pull request #{number} cannot be merged into {pull.base}{where}: "
                f"run `rollout propose` again to rebuild it on the current {pull.base}"
            )
        sha = git(self.root, "rev-parse", "HEAD").stdout.strip()
        with self._records() as records:
            self._save(replace(self._get(records, number), state="merged", merge_sha=sha))
        return sha

    def revert_pull(self, number: int) -> str:
        """Revert a merged pull request on the default branch (`git revert -m 1`); return the new commit."""
        pull = self.pull(number)
        if pull.merge_sha is None:
            raise CheckFailed(f"pull request #{number} was never merged; there is nothing to revert")
        result = git(self.root, "revert", "-m", "1", "--no-edit", pull.merge_sha, check=False, env=self._commit_env())
        if result.returncode != 0:
            git(self.root, "revert", "--abort", check=False)
            raise CheckFailed(f"cannot revert #{number}: {result.stdout.strip() or result.stderr.strip()}")
        sha = git(self.root, "rev-parse", "HEAD").stdout.strip()
        with self._records() as records:
            self._save(self._get(records, number), extra={"revert_sha": sha})
        return sha

    def pulls_for_commit(self, sha: str) -> Sequence[PullRequest]:
        full = git(self.root, "rev-parse", "--verify", "--quiet", f"{sha}^{{commit}}", check=False).stdout.strip()
        return [p for p in self.pulls() if full in (p.merge_sha, p.head_sha, self.extras(p.number).get("revert_sha"))]

    # -- deployments ------------------------------------------------------------------------------

    def start_deployment(self, *, sha: str, environment: str, description: str) -> int:
        folder = self.git_dir / "rollout-deployments"
        folder.mkdir(parents=True, exist_ok=True)
        with self._locked():
            number = 1 + max((int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit()), default=0)
            data = {"id": number, "sha": sha, "environment": environment, "description": description, "statuses": []}
            write_atomic(folder / f"{number}.json", json.dumps(data, indent=2) + "\n")
        return number

    def deployment_status(self, deployment: int, state: DeploymentState, *, environment: str, description: str) -> None:
        path = self.git_dir / "rollout-deployments" / f"{deployment}.json"
        with self._locked():
            data = json.loads(path.read_text())
            data["statuses"].append({"state": state, "environment": environment, "description": description})
            write_atomic(path, json.dumps(data, indent=2) + "\n")

    def deployments(self) -> list[dict[str, Any]]:
        folder = self.git_dir / "rollout-deployments"
        paths = sorted(folder.glob("*.json"), key=lambda p: int(p.stem)) if folder.is_dir() else []
        return [json.loads(p.read_text()) for p in paths]

    # -- records ----------------------------------------------------------------------------------

    def _commit_env(self) -> dict[str, str]:
        configured = git(self.root, "config", "user.email", check=False).stdout.strip()
        env = {} if configured else dict(IDENTITY)
        if self.clock is not None:
            stamp = self.clock().isoformat()
            env |= {"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
        return env

    def _record_path(self, number: int) -> Path:
        return self.git_dir / "rollout-prs" / f"{number}.json"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.git_dir.joinpath("rollout-prs").mkdir(parents=True, exist_ok=True)
        with open(self.git_dir / "rollout-prs" / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def _records(self) -> Iterator[dict[int, PullRequest]]:
        with self._locked():
            records = {}
            for path in self.git_dir.joinpath("rollout-prs").glob("*.json"):
                data = json.loads(path.read_text())
                records[data["number"]] = PullRequest(**{k: data[k] for k in _PULL_FIELDS if k in data})
            yield records

    def _get(self, records: Mapping[int, PullRequest], number: int) -> PullRequest:
        if number not in records:
            raise InputError.at(str(self._record_path(number)), f"there is no pull request #{number}")
        return records[number]

    def _save(self, pull: PullRequest, *, extra: Mapping[str, Any] | None = None) -> None:
        path = self._record_path(pull.number)
        old = json.loads(path.read_text()) if path.exists() else {}
        data = {**old, **asdict(pull), **(extra or {})}
        write_atomic(path, json.dumps(data, indent=2) + "\n")


_PULL_FIELDS = tuple(PullRequest.__dataclass_fields__)
