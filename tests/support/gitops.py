"""A rollout repository to drive through the GitOps loop, over either forge.

`LocalSite` is a plain git repository using the local forge; `GithubSite` is a checkout of the
fake GitHub's bare repository, as actions/checkout would make it. Both expose the same few moves a
person makes (merge a PR, revert it, look at PRs, comments and deployments) so one scenario runs
over both. Commands run through the real CLI, in-process; the router is the `file` kind, so
`rollout apply` is real but cheap.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

from click.testing import CliRunner

from rollout.cli import cli
from rollout.forge import Forge
from rollout.forge.github import github_forge
from rollout.forge.local import LocalForge
from rollout.gates.verdict import GateOutcome, GateResult, RunInfo, Verdict, verdict_to_json
from rollout.plan import ModelVersion
from tests.support.fake_github import FakeGitHub
from tests.support.plans import candidate_of

ACTIONS_VARIABLES = (
    "GITHUB_ACTIONS",
    "GITHUB_OUTPUT",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_SHA",
    "GITHUB_REPOSITORY",
    "GITHUB_TOKEN",
    "GITHUB_API_URL",
)
"""Unset for every command unless a test sets them: tests that run inside Actions must not write its files."""
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)
"""When the test rollouts start; everything else happens `at(days, hours)` after it."""
BLUE = "llama-3.1-8b"
GREEN = "llama-3.3-8b-ft2"
PLAN = """\
# The plan for the test rollout.
version: 1
service: chat
models:
  blue:  {{name: {blue}, model: meta/blue, port: 8001}}   # the model in service
  green: {{name: {green}, model: acme/green, port: 8002}}
router: {{kind: file, config: {router}}}
stages:
  - {{name: internal, weight: 5,   soak: 1d, audience: internal}}
  - {{name: early,    weight: 25,  soak: 2d}}
  - {{name: majority, weight: 75,  soak: 4d, environment: production}}
  - {{name: full,     weight: 100, soak: 7d, environment: production}}
decommission_after: 14d
gates:
  latency: {{p95_ratio_max: 1.2}}
rollback: {{on_gate_failure: {rollback}}}
reviewers: [alice, acme/ml-oncall]
"""


def plan_text(router: Path, *, green: str = GREEN, rollback: str = "open-pr") -> str:
    return PLAN.format(blue=BLUE, green=green, router=router, rollback=rollback)


def verdict(outcome: GateOutcome, *, green: str = GREEN, gate: str = "latency") -> Verdict:
    return Verdict(
        outcome=outcome,
        baseline=RunInfo(model=BLUE),
        # As `rollout gate` records it for the plan's green (plan_text): name, revision, serving arguments.
        candidate=candidate_of(ModelVersion(color="green", name=green, model="acme/green", port=8002), run_ids=("r1",)),
        gates=(GateResult(gate=gate, outcome=outcome, reason=f"p95 ratio {outcome}s", estimate=1.05),),
    )


def write_verdict(path: Path, outcome: GateOutcome, *, green: str = GREEN) -> Path:
    path.write_text(verdict_to_json(verdict(outcome, green=green)))
    return path


def git(repo: Path, *args: str, date: datetime | None = None, check: bool = True) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
    }
    if date is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date.isoformat()
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, env=env, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {result.stderr}")
    return result.stdout


@dataclass(frozen=True)
class Result:
    code: int
    output: str

    def json(self) -> Any:
        return json.loads(self.output)


class Site(Protocol):
    forge: str
    checkout: Path
    router: Path

    def env(self) -> dict[str, str]: ...
    def merge(self, number: int, at: datetime) -> str: ...
    def revert(self, number: int, at: datetime) -> None: ...
    def sync(self) -> None: ...
    def open_pulls(self) -> list[dict[str, Any]]: ...
    def comments(self, number: int) -> list[str]: ...
    def deployments(self) -> list[tuple[str, list[str]]]: ...
    def labels(self, number: int) -> list[str]: ...
    def branch_file(self, branch: str, path: str) -> str | None: ...
    def push(self, branch: str, files: Mapping[str, str], message: str, at: datetime) -> None: ...
    def api(self) -> Forge: ...


def run(site: Site, *args: str, extra_env: Mapping[str, str] | None = None) -> Result:
    """A rollout command in the site's checkout, as a workflow step would run it."""
    plan = site.checkout / "rollout-plan.yaml"
    env: dict[str, str | None] = {name: None for name in ACTIONS_VARIABLES}
    env |= {**site.env(), **(extra_env or {})}
    forge = ["--forge", site.forge] if args[0] in ("propose", "rollback", "apply") else []
    result = CliRunner().invoke(cli, [args[0], "--plan", str(plan), *forge, *args[1:]], env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Result(code=result.exit_code, output=result.output)


class LocalSite:
    forge = "local"

    def __init__(self, root: Path, started: datetime, *, rollback: str = "open-pr", plan: str | None = None) -> None:
        self.checkout = root / "repo"
        self.router = root / "router" / "flags.json"
        self.checkout.mkdir(parents=True)
        git(self.checkout, "init", "-q", "-b", "main")
        (self.checkout / "rollout-plan.yaml").write_text(plan or plan_text(self.router, rollback=rollback))
        git(self.checkout, "add", "rollout-plan.yaml")
        git(self.checkout, "commit", "-qm", "Start the rollout of green", date=started)

    def _forge(self, at: datetime | None = None) -> LocalForge:
        return LocalForge(self.checkout, clock=(lambda: at) if at else None)

    def api(self) -> Forge:
        return self._forge()

    def env(self) -> dict[str, str]:
        return {}

    def merge(self, number: int, at: datetime) -> str:
        return self._forge(at).merge_pull(number, title=f"Merge pull request #{number}")

    def revert(self, number: int, at: datetime) -> None:
        self._forge(at).revert_pull(number)

    def sync(self) -> None:
        """The checkout is the repository itself."""

    def open_pulls(self) -> list[dict[str, Any]]:
        return [
            {"number": p.number, "branch": p.branch, "title": p.title, "body": p.body}
            for p in self._forge().pulls()
            if p.state == "open"
        ]

    def comments(self, number: int) -> list[str]:
        return self._forge().comments(number)

    def deployments(self) -> list[tuple[str, list[str]]]:
        return [(d["environment"], [s["state"] for s in d["statuses"]]) for d in self._forge().deployments()]

    def labels(self, number: int) -> list[str]:
        return list(self._forge().extras(number)["labels"])

    def branch_file(self, branch: str, path: str) -> str | None:
        return self._forge().read_file(path, f"refs/heads/{branch}")

    def push(self, branch: str, files: Mapping[str, str], message: str, at: datetime) -> None:
        if branch == "main":
            for path, text in files.items():
                (self.checkout / path).write_text(text)
            git(self.checkout, "add", *files)
            git(self.checkout, "commit", "-qm", message, date=at)
            return
        forge = self._forge(at)
        parent = forge.branch_head(branch)
        assert parent is not None
        forge.move_branch(branch, forge.write_commit(parent, files, message))


class GithubSite:
    forge = "github"

    def __init__(
        self, root: Path, fake: FakeGitHub, started: datetime, *, rollback: str = "open-pr", plan: str | None = None
    ) -> None:
        self.fake = fake
        self.router = root / "router" / "flags.json"
        seed = root / "seed"
        seed.mkdir()
        git(seed, "init", "-q", "-b", "main")
        (seed / "rollout-plan.yaml").write_text(plan or plan_text(self.router, rollback=rollback))
        git(seed, "add", "rollout-plan.yaml")
        git(seed, "commit", "-qm", "Start the rollout of green", date=started)
        git(seed, "push", "-q", str(fake.bare), "main")
        self.checkout = fake.clone(root / "checkout")

    def env(self) -> dict[str, str]:
        return {**self.fake.env(), "ROLLOUT_GITHUB_MAX_WAIT": "3"}

    def api(self) -> Forge:
        return github_forge(self.env())

    def merge(self, number: int, at: datetime) -> str:
        self.fake.now = at
        sha = self.fake.merge(number)
        self.sync()
        return sha

    def revert(self, number: int, at: datetime) -> None:
        self.fake.now = at
        self.fake.revert(number)
        self.sync()

    def sync(self) -> None:
        git(self.checkout, "pull", "-q", "--ff-only")

    def open_pulls(self) -> list[dict[str, Any]]:
        return [
            {"number": p["number"], "branch": p["head"]["ref"], "title": p["title"], "body": p["body"]}
            for p in sorted(self.fake.open_pulls(), key=lambda p: p["number"])
        ]

    def comments(self, number: int) -> list[str]:
        return self.fake.shown_comments(number)

    def deployments(self) -> list[tuple[str, list[str]]]:
        return [(d["environment"], [s["state"] for s in self.fake.statuses[d["id"]]]) for d in self.fake.deployments]

    def labels(self, number: int) -> list[str]:
        return list(self.fake.pulls[number]["labels"])

    def branch_file(self, branch: str, path: str) -> str | None:
        return self.fake.show(f"refs/heads/{branch}", path)

    def push(self, branch: str, files: Mapping[str, str], message: str, at: datetime) -> None:
        self.fake.now = at
        self.fake.push(branch, files, message)
        self.sync()


def numbers(pulls: Sequence[Mapping[str, Any]]) -> list[int]:
    return [int(p["number"]) for p in pulls]


@contextlib.contextmanager
def open_site(
    kind: str, root: Path, started: datetime, *, rollback: str = "open-pr", plan: str | None = None
) -> Iterator[Site]:
    """A fresh rollout repository on the `local` forge or on a fake GitHub started for it; `plan` replaces the
    test plan (whose router is the `file` kind)."""
    if kind == "local":
        yield LocalSite(root, started, rollback=rollback, plan=plan)
        return
    with FakeGitHub(root) as fake:
        yield GithubSite(root, fake, started, rollback=rollback, plan=plan)


def at(days: float, hours: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours)


def propose(site: Site, verdict: Path, when: datetime, *extra: str) -> dict[str, Any]:
    result = run(site, "propose", "--verdict", str(verdict), "--now", when.isoformat(), "--json", *extra)
    data: dict[str, Any] = json.loads(result.output)
    data["exit"] = result.code
    return data


def advance(site: Site, verdict: Path, when: datetime) -> int:
    """Propose the next stage at `when`, merge its PR an hour later, and apply the merge."""
    data = propose(site, verdict, when)
    assert (data["exit"], data["decision"]["action"], data["status"]) == (0, "advance", "opened"), data
    number = data["pr"]["number"]
    site.merge(number, when + timedelta(hours=1))
    applied = run(site, "apply")
    assert applied.code == 0, applied.output
    assert "this push: advanced" in applied.output
    return int(number)


def router_green(site: Site) -> int:
    return int(json.loads(site.router.read_text())["weights"]["green"])
