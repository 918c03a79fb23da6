"""sync_pulls against an in-memory forge: the order of writes, the branch lock, and what is left alone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from rollout.errors import ExternalError
from rollout.forge import Commit, DeploymentState, PullRequest
from rollout.gates.verdict import GateResult, RunInfo, Verdict
from rollout.gitops.proposal import Proposal, RepoPaths, build_proposal
from rollout.gitops.sync import sync_pulls
from rollout.plan import load_plan
from rollout.stages import Decision, decide
from rollout.traffic import TrafficState
from tests.support.plans import CHAT_PLAN, candidate_of

PLAN = load_plan(CHAT_PLAN)
NOW = datetime(2026, 11, 10, tzinfo=timezone.utc)
PASS = Verdict(
    outcome="pass",
    baseline=RunInfo(model="llama-3.1-8b"),
    candidate=candidate_of(PLAN.model("green")),
    gates=(GateResult(gate="quality", outcome="pass", reason="ok"),),
)
PATHS = RepoPaths(
    plan="rollout-plan.yaml", traffic="rollout-traffic.yaml", records="rollout-records/chat", next_record_number=1
)


class MemoryForge:
    """Just enough of a forge to watch what sync_pulls writes, in which order."""

    name = "memory"

    def __init__(self) -> None:
        self.commits: dict[str, Commit] = {"base": Commit(sha="base", message="init", parents=())}
        self.branches: dict[str, str] = {"main": "base"}
        self.pulls: dict[int, PullRequest] = {}
        self.log: list[str] = []
        self.steal_branch = False
        self.fail_pull = False

    def default_branch(self) -> str:
        return "main"

    def branch_head(self, branch: str) -> str | None:
        return self.branches.get(branch)

    def commit(self, sha: str) -> Commit:
        return self.commits[sha]

    def read_file(self, path: str, ref: str) -> str | None:
        return None

    def write_commit(self, parent: str, changes: Mapping[str, str | None], message: str) -> str:
        sha = f"c{len(self.commits)}"
        self.commits[sha] = Commit(sha=sha, message=message, parents=(parent,))
        self.log.append("commit")
        return sha

    def create_branch(self, branch: str, sha: str) -> bool:
        if self.steal_branch:
            self.branches[branch] = "someone-elses"
            return False
        self.log.append(f"branch {branch}")
        return self.branches.setdefault(branch, sha) == sha

    def move_branch(self, branch: str, sha: str) -> None:
        self.log.append(f"move {branch}")
        self.branches[branch] = sha

    def open_pulls(self, prefix: str) -> Sequence[PullRequest]:
        return [p for p in self.pulls.values() if p.state == "open" and p.branch.startswith(prefix)]

    def open_pull(
        self, *, branch: str, base: str, title: str, body: str, labels: Sequence[str], reviewers: Sequence[str]
    ) -> tuple[PullRequest, bool]:
        if self.fail_pull:
            raise ExternalError("GitHub refused to open a pull request")
        number = len(self.pulls) + 1
        self.pulls[number] = PullRequest(number=number, url=f"u/{number}", branch=branch, base=base, title=title)
        self.log.append(f"open #{number}")
        return self.pulls[number], True

    def update_pull(self, number: int, *, title: str, body: str) -> None:
        self.log.append(f"update #{number}")

    def close_pull(self, number: int, *, comment: str) -> None:
        self.pulls[number] = replace(self.pulls[number], state="closed")
        self.log.append(f"close #{number}")

    def comment(self, number: int, body: str) -> None:
        self.log.append(f"comment #{number}")

    def merge_pull(self, number: int, *, title: str, sha: str | None = None) -> str:
        self.log.append(f"merge #{number} at {sha}")
        return "merged"

    def pulls_for_commit(self, sha: str) -> Sequence[PullRequest]:
        return []

    def start_deployment(self, *, sha: str, environment: str, description: str) -> int:
        return 1

    def deployment_status(self, deployment: int, state: DeploymentState, *, environment: str, description: str) -> None:
        pass


def advance() -> tuple[Decision, Proposal]:
    current = TrafficState.initial("chat")
    decision = decide(PLAN, current, stage_started_at=None, verdict=PASS, now=NOW)
    return decision, build_proposal(
        PLAN, current, decision, paths=PATHS, verdict=PASS, report=None, plan_text=None, now=NOW
    )


def test_the_commit_comes_before_the_branch_and_the_branch_before_the_pull_request() -> None:
    forge = MemoryForge()
    decision, proposal = advance()
    outcome = sync_pulls(forge, decision, proposal, prefix="rollout/chat/")
    assert outcome.status == "opened"
    assert forge.log == ["commit", "branch rollout/chat/internal", "open #1"]
    forge.log.clear()
    assert sync_pulls(forge, decision, proposal, prefix="rollout/chat/").status == "unchanged"
    assert forge.log == []


def test_losing_the_branch_race_stops_without_a_pull_request() -> None:
    forge = MemoryForge()
    forge.steal_branch = True
    decision, proposal = advance()
    outcome = sync_pulls(forge, decision, proposal, prefix="rollout/chat/")
    assert outcome.status == "busy" and forge.pulls == {}
    assert "another run created" in outcome.describe()


def test_a_failed_pull_request_step_says_the_branch_exists() -> None:
    forge = MemoryForge()
    forge.fail_pull = True
    decision, proposal = advance()
    with pytest.raises(ExternalError, match="branch rollout/chat/internal holds the proposal"):
        sync_pulls(forge, decision, proposal, prefix="rollout/chat/")
    forge.fail_pull = False
    assert sync_pulls(forge, decision, proposal, prefix="rollout/chat/").status == "opened"


def test_a_moved_default_branch_rebuilds_and_updates() -> None:
    forge = MemoryForge()
    decision, proposal = advance()
    sync_pulls(forge, decision, proposal, prefix="rollout/chat/")
    forge.commits["base2"] = Commit(sha="base2", message="unrelated", parents=("base",))
    forge.branches["main"] = "base2"
    forge.log.clear()
    outcome = sync_pulls(forge, decision, proposal, prefix="rollout/chat/")
    assert outcome.status == "updated"
    assert forge.log == ["commit", "move rollout/chat/internal", "update #1", "comment #1"]
    assert forge.commits[forge.branches["rollout/chat/internal"]].parents == ("base2",)


def test_a_hold_closes_ours_and_leaves_others_alone() -> None:
    forge = MemoryForge()
    decision, proposal = advance()
    sync_pulls(forge, decision, proposal, prefix="rollout/chat/")
    forge.commits["hand"] = Commit(sha="hand", message="my edit", parents=("base",))
    forge.branches["rollout/chat/early"] = "hand"
    forge.pulls[2] = PullRequest(number=2, url="u/2", branch="rollout/chat/early", base="main", title="t")
    hold = decide(PLAN, TrafficState.initial("chat"), stage_started_at=None, verdict=None, now=NOW + timedelta(1))
    outcome = sync_pulls(forge, hold, None, prefix="rollout/chat/")
    assert (outcome.status, outcome.closed) == ("none", (1,))
    assert outcome.notes == ("left #2 open: someone else pushed to rollout/chat/early",)
    assert forge.pulls[2].state == "open"


def test_a_dry_run_writes_nothing() -> None:
    forge = MemoryForge()
    decision, proposal = advance()
    assert sync_pulls(forge, decision, proposal, prefix="rollout/chat/", dry_run=True).status == "would-open"
    assert forge.log == [] and forge.pulls == {}


def test_merge_after_opening() -> None:
    forge = MemoryForge()
    decision, proposal = advance()
    outcome = sync_pulls(forge, decision, proposal, prefix="rollout/chat/", merge=True)
    pushed = forge.branches["rollout/chat/internal"]
    assert (outcome.status, outcome.merge_sha, forge.log[-1]) == ("merged", "merged", f"merge #1 at {pushed}")


def test_a_foreign_pull_request_on_the_branch_name_is_left_alone_and_the_proposal_moves_aside() -> None:
    forge = MemoryForge()
    for number, where in ((1, "a deleted fork"), (2, "mallory/models")):
        branch = "rollout/chat/internal" + ("" if number == 1 else "-2")
        forge.pulls[number] = PullRequest(number=number, url="u", branch=branch, base="main", title="x", foreign=where)
    decision, proposal = advance()
    outcome = sync_pulls(forge, decision, proposal, prefix="rollout/chat/", merge=True)
    assert (outcome.status, outcome.branch) == ("merged", "rollout/chat/internal-3")
    assert outcome.notes == (
        "left #1 alone: its head is in a deleted fork, not this repository, though its branch is named "
        "rollout/chat/internal; proposing on rollout/chat/internal-3 instead",
    )
    assert [line for line in forge.log if "#1" in line or "#2" in line] == []
    assert forge.log[-1].startswith("merge #3 at ") and proposal.branch == "rollout/chat/internal"
