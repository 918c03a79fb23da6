"""Rollout pull requests computed from decisions: names, titles, bodies, files and fingerprints."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from rollout.gates.verdict import GateOutcome, GateResult, RunInfo, Verdict
from rollout.gitops.planedit import promote
from rollout.gitops.proposal import (
    BODY_LIMIT,
    Proposal,
    RepoPaths,
    branch_name,
    build_proposal,
    proposal_fingerprint,
)
from rollout.plan import load_plan
from rollout.stages import Decision, decide
from rollout.traffic import TrafficState, Weights
from tests.support.plans import CHAT_PLAN, candidate_of

PLAN = load_plan(CHAT_PLAN)
GREEN = "llama-3.3-8b-ft2"
NOW = datetime(2026, 11, 10, tzinfo=timezone.utc)
PATHS = RepoPaths(
    plan="rollout-plan.yaml", traffic="rollout-traffic.yaml", records="rollout-records/chat", next_record_number=3
)


def verdict(outcome: GateOutcome, estimate: float = 0.01, run: str = "r1") -> Verdict:
    return Verdict(
        outcome=outcome,
        baseline=RunInfo(model="llama-3.1-8b"),
        candidate=candidate_of(PLAN.model("green"), run_ids=(run,)),
        gates=(GateResult(gate="quality", outcome=outcome, reason=f"quality {outcome}", estimate=estimate),),
    )


def at(stage: str | None) -> TrafficState:
    weight = PLAN.stage(stage).weight if PLAN.stage(stage) else 0  # type: ignore[union-attr]
    return TrafficState(service="chat", stage=stage, green=GREEN if stage else None, weights=Weights.for_green(weight))


def advance_from(stage: str | None, v: Verdict | None = None, now: datetime = NOW) -> Decision:
    return decide(PLAN, at(stage), stage_started_at=NOW - timedelta(days=30), verdict=v or verdict("pass"), now=now)


def proposal_for(
    decision: Decision,
    current: TrafficState,
    v: Verdict | None = None,
    now: datetime = NOW,
    report: str | None = None,
    plan_text: str | None = None,
) -> Proposal:
    return build_proposal(
        PLAN, current, decision, paths=PATHS, verdict=v or verdict("pass"), report=report, plan_text=plan_text, now=now
    )


def test_an_advance_names_its_branch_title_labels_and_files() -> None:
    decision = advance_from("internal")
    proposal = proposal_for(decision, at("internal"))
    assert proposal.branch == "rollout/chat/early" == branch_name(PLAN, decision)
    assert proposal.title == f"rollout(chat): 25% -> green {GREEN} [early]"
    assert proposal.labels == ("rollout", "stage:early") and proposal.reviewers == ("ml-platform-oncall",)
    assert set(proposal.changes) == {"rollout-traffic.yaml", "rollout-records/chat/0003-early.json"}
    traffic = yaml.safe_load(proposal.changes["rollout-traffic.yaml"] or "")
    assert (traffic["stage"], traffic["weights"]) == ("early", {"blue": 75, "green": 25})
    record = json.loads(proposal.changes["rollout-records/chat/0003-early.json"] or "")
    assert (record["action"], record["verdict"]["outcome"], record["plan_digest"]) == ("advance", "pass", PLAN.digest)
    assert record["green"]["revision"] == PLAN.green.revision  # type: ignore[union-attr]
    assert proposal_fingerprint(proposal.message) == proposal.fingerprint


def test_a_rollback_goes_to_its_own_branch_and_explains_the_rejection() -> None:
    current = at("early")
    decision = decide(PLAN, current, stage_started_at=NOW, verdict=verdict("fail"), now=NOW)
    proposal = proposal_for(decision, current, verdict("fail"), report="## Quality\n\n**fail**\n")
    assert proposal.branch == f"rollout/chat/rollback-{GREEN}"
    assert proposal.title == f"rollout(chat): roll back green {GREEN} (25% -> 0%)"
    assert proposal.labels == ("rollout", "stage:rolled-back")
    assert "## Quality" in proposal.body and "`rejected`" in proposal.body
    assert "rollout-records/chat/0003-rolled-back.json" in proposal.changes


def test_a_decommission_changes_the_plan_too() -> None:
    current = at("full")
    decision = decide(PLAN, current, stage_started_at=NOW - timedelta(days=30), verdict=verdict("pass"), now=NOW)
    assert decision.action == "decommission"
    proposal = proposal_for(decision, current, plan_text="new plan\n")
    assert proposal.branch == f"rollout/chat/decommission-{GREEN}"
    assert proposal.title == f"rollout(chat): promote {GREEN} to blue, retire llama-3.1-8b"
    assert proposal.changes["rollout-plan.yaml"] == "new plan\n"


def test_the_fingerprint_ignores_the_time_and_new_estimates_but_not_new_outcomes() -> None:
    base = proposal_for(advance_from("internal"), at("internal"))
    later = proposal_for(
        advance_from("internal", now=NOW + timedelta(hours=5)), at("internal"), now=NOW + timedelta(hours=5)
    )
    re_estimated = proposal_for(advance_from("internal"), at("internal"), verdict("pass", estimate=0.03, run="r2"))
    assert base.fingerprint == later.fingerprint == re_estimated.fingerprint
    assert base.changes["rollout-records/chat/0003-early.json"] != later.changes["rollout-records/chat/0003-early.json"]
    other_plan = build_proposal(
        replace(PLAN, digest="0" * 64),
        at("internal"),
        advance_from("internal"),
        paths=PATHS,
        verdict=verdict("pass"),
        report=None,
        plan_text=None,
        now=NOW,
    )
    assert other_plan.fingerprint != base.fingerprint
    gated_differently = replace(
        verdict("pass"), gates=(*verdict("pass").gates, GateResult(gate="safety", outcome="pass", reason="ok"))
    )
    assert proposal_for(advance_from("internal"), at("internal"), gated_differently).fingerprint != base.fingerprint


def test_hold_and_complete_propose_nothing() -> None:
    hold = decide(PLAN, at("internal"), stage_started_at=NOW, verdict=verdict("pass"), now=NOW)
    assert hold.action == "hold"
    with pytest.raises(ValueError, match="proposes no pull request"):
        proposal_for(hold, at("internal"))


def test_a_huge_report_is_cut_to_fit_a_pull_request() -> None:
    proposal = proposal_for(advance_from("internal"), at("internal"), report="x" * (BODY_LIMIT * 2))
    assert len(proposal.body) < 65_536 and "report cut" in proposal.body


def test_without_a_report_the_body_tabulates_the_verdict() -> None:
    proposal = proposal_for(advance_from("internal"), at("internal"))
    assert "| quality | pass | quality pass |" in proposal.body
    assert "| blue `llama-3.1-8b` | 95% | 75% |" in proposal.body


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("t\n\nRollout-Proposal: 0123456789abcdef0123456789abcdef\n", "0123456789abcdef0123456789abcdef"),
        ("t\n\nSigned-off-by: someone\n", None),
        ("Rollout-Proposal: not-hex\n", None),
    ],
)
def test_only_our_commits_carry_a_fingerprint(message: str, expected: str | None) -> None:
    assert proposal_fingerprint(message) == expected


def test_branch_names_are_safe_for_git() -> None:
    plan = replace(PLAN, service="chat bot:v2")
    current = TrafficState(
        service=plan.service, stage="early", green="org/model:v1..2.lock", weights=Weights.for_green(25)
    )
    decision = Decision(action="rollback", reason="r", state=current.rejecting("org/model:v1..2.lock"))
    assert branch_name(plan, decision) == "rollout/chat-bot-v2/rollback-org-model-v1.2-lock"


def test_a_gateway_api_route_in_the_repository_changes_in_the_same_pull_request() -> None:
    plan = replace(
        PLAN,
        router=replace(
            PLAN.router,
            kind="gateway-api",
            config=CHAT_PLAN.parent / "deploy" / "httproute.yaml",
            gateway="chat-gateway",
        ),
    )
    decision = decide(plan, at("internal"), stage_started_at=NOW - timedelta(days=30), verdict=verdict("pass"), now=NOW)
    proposal = build_proposal(
        plan,
        at("internal"),
        decision,
        paths=replace(PATHS, route="deploy/httproute.yaml"),
        verdict=verdict("pass"),
        report=None,
        plan_text=None,
        now=NOW,
    )
    route = yaml.safe_load(proposal.changes["deploy/httproute.yaml"] or "")
    assert route["kind"] == "HTTPRoute"
    weights = {ref["name"]: ref["weight"] for rule in route["spec"]["rules"] for ref in rule["backendRefs"]}
    assert weights == {"chat-blue": 75, "chat-green": 25}
    assert "deploy/httproute.yaml" not in proposal_for(decision, at("internal")).changes


KUBERNETES_PLANS = Path(__file__).resolve().parents[1] / "routers" / "golden"


@pytest.mark.parametrize(
    ("kind", "route"),
    [("kserve", "deploy/llminferenceservices.yaml"), ("gateway-api", "deploy/httproute.yaml")],
)
def test_a_decommission_routes_everything_to_the_promoted_objects_which_keep_their_names(
    tmp_path: Path, kind: str, route: str
) -> None:
    """Not to blue's objects, which still run the retired version; green's become blue's, and blue's are the next
    green's."""
    text = (KUBERNETES_PLANS / kind / "rollout-plan.yaml").read_text()
    text = text.replace("port: 8002", "port: 8002, supervisor: kubernetes").replace(
        "port: 8001}", "port: 8001, supervisor: kubernetes}"
    )
    (tmp_path / "rollout-plan.yaml").write_text(text)
    plan = load_plan(tmp_path / "rollout-plan.yaml")
    current = TrafficState(service="chat", stage="full", green=plan.model("green").name, weights=Weights.for_green(100))
    passed = Verdict(
        outcome="pass",
        baseline=RunInfo(model=plan.blue.name),
        candidate=candidate_of(plan.model("green"), run_ids=("r1",)),
        gates=(GateResult(gate="quality", outcome="pass", reason="quality pass", estimate=0.0),),
    )
    decision = decide(plan, current, stage_started_at=NOW - timedelta(days=30), verdict=passed, now=NOW)
    assert decision.action == "decommission"
    promotion = promote(plan, text)
    proposal = build_proposal(
        plan,
        current,
        decision,
        paths=replace(PATHS, route=route),
        verdict=passed,
        report=None,
        plan_text=promotion.text,
        promoted=promotion.plan,
        now=NOW,
    )
    green_name = plan.router.backends.get("green", "chat-green")
    assert yaml.safe_load(proposal.changes["rollout-plan.yaml"] or "")["router"]["backends"] == {
        "blue": green_name,
        "green": "chat-blue",
    }
    objects = list(yaml.safe_load_all(proposal.changes[route] or ""))
    if kind == "kserve":
        [served] = objects
        assert served["metadata"]["name"] == green_name and served["spec"]["model"]["uri"] == "hf://acme/ft-v2"
        assert served["spec"]["router"]["route"] == {"group": "chat", "weight": 100}
    else:
        [rule] = objects[0]["spec"]["rules"]
        assert rule["backendRefs"] == [{"name": green_name, "port": 8002, "weight": 100}]
