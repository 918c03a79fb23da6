"""The merge side on a real repository and the local forge: movement from git history, deployments, comments."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollout.errors import ExternalError
from rollout.forge.local import LocalForge
from rollout.gitops.landing import land, previous_traffic, pushed_sha
from rollout.plan import Plan, load_plan
from rollout.routers.apply import ApplyResult, plan_change
from rollout.traffic import TrafficState, Weights, load_traffic, render_traffic
from tests.support.gitops import GREEN, git, plan_text

INTERNAL = TrafficState(service="chat", stage="internal", green=GREEN, weights=Weights.for_green(5))


@pytest.fixture
def plan(tmp_path: Path) -> Plan:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "rollout-plan.yaml").write_text(plan_text(tmp_path / "flags.json"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "plan")
    return load_plan(repo / "rollout-plan.yaml")


def merged_pull(plan: Plan, forge: LocalForge, text: str) -> int:
    base = forge.branch_head("main")
    assert base is not None
    forge.create_branch("rollout/chat/internal", forge.write_commit(base, {"rollout-traffic.yaml": text}, "m"))
    pull, _ = forge.open_pull(branch="rollout/chat/internal", base="main", title="t", body="", labels=[], reviewers=[])
    forge.merge_pull(pull.number, title="Merge")
    return pull.number


def applied(plan: Plan) -> ApplyResult:
    """What applying INTERNAL to a router with no config yet reports, without touching the router."""
    return ApplyResult(change=plan_change(plan, INTERNAL, current=None, probes=0, env={}))


def test_a_failed_apply_marks_the_deployment_failed_and_says_so_on_the_pull_request(plan: Plan) -> None:
    forge = LocalForge(plan.root)
    number = merged_pull(plan, forge, render_traffic(INTERNAL))

    def broken() -> ApplyResult:
        raise ExternalError("the router did not reload")

    with pytest.raises(ExternalError, match="did not reload"):
        land(plan, load_traffic(plan), forge, sha=pushed_sha(plan, {}), apply=broken)
    assert [s["state"] for s in forge.deployments()[0]["statuses"]] == ["in_progress", "failure"]
    assert "failed, and the router keeps its previous config: the router did not reload" in forge.comments(number)[0]


def test_a_successful_apply_comments_with_the_router_revision(plan: Plan) -> None:
    forge = LocalForge(plan.root)
    number = merged_pull(plan, forge, render_traffic(INTERNAL))
    landing = land(plan, load_traffic(plan), forge, sha=pushed_sha(plan, {}), apply=lambda: applied(plan))
    assert (landing.movement, landing.environment, landing.pulls) == ("advanced", "rollout-chat-internal", (number,))
    assert f"config revision `{applied(plan).change.revision}`" in forge.comments(number)[0]


def test_nothing_moved_records_nothing(plan: Plan) -> None:
    forge = LocalForge(plan.root)
    landing = land(plan, load_traffic(plan), forge, sha=pushed_sha(plan, {}), apply=lambda: applied(plan))
    assert landing.movement == "unchanged" and landing.deployment is None and forge.deployments() == []


def test_an_unreadable_previous_traffic_file_counts_as_the_start(plan: Plan) -> None:
    (plan.root / "rollout-traffic.yaml").write_text("weights: [not, a, mapping\n")
    git(plan.root, "add", "rollout-traffic.yaml")
    git(plan.root, "commit", "-qm", "broken")
    (plan.root / "rollout-traffic.yaml").write_text(render_traffic(INTERNAL))
    git(plan.root, "commit", "-qam", "fixed")
    assert previous_traffic(plan) == TrafficState.initial("chat")
    assert pushed_sha(plan, {"GITHUB_SHA": "abc"}) == "abc"
