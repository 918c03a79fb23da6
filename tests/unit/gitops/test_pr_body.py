"""Golden pull request bodies: what a reviewer reads before merging a stage, a rollback or a decommission.

golden/pr-body/<case>.md is the body for the fixture plan; ROLLOUT_UPDATE_GOLDEN=1 rewrites them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from rollout.gates.report import render_report
from rollout.gates.verdict import RunInfo, load_verdict
from rollout.gitops.proposal import RepoPaths, build_proposal
from rollout.plan import load_plan
from rollout.stages import decide
from rollout.traffic import TrafficState, Weights
from tests.support.golden import VERDICTS, assert_golden
from tests.support.hostile import Hostile, corpus, markdown_hazards
from tests.support.plans import CHAT_PLAN

PLAN = load_plan(CHAT_PLAN)
GOLDEN = Path(__file__).parent / "golden" / "pr-body"
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
PATHS = RepoPaths(
    plan="rollout-plan.yaml", traffic="rollout-traffic.yaml", records="rollout-records/chat", next_record_number=4
)
# case: (the stage traffic is at, the verdict, whether the gate's Markdown report is attached, the action)
CASES = {
    "advance": ("internal", "pass", True, "advance"),
    "advance-without-report": ("internal", "pass", False, "advance"),
    "rollback": ("majority", "fail", True, "rollback"),
    "decommission": ("full", "pass", False, "decommission"),
}


def at(stage: str) -> TrafficState:
    weight = PLAN.stage(stage).weight  # type: ignore[union-attr]
    return TrafficState(service="chat", stage=stage, green="llama-3.3-8b-ft2", weights=Weights.for_green(weight))


@pytest.mark.parametrize("case", CASES)
def test_pr_body_matches_golden(case: str) -> None:
    stage, outcome, with_report, action = CASES[case]
    verdict = load_verdict(VERDICTS / f"{outcome}.json")
    current = at(stage)
    decision = decide(PLAN, current, stage_started_at=NOW - timedelta(days=30), verdict=verdict, now=NOW)
    assert decision.action == action
    proposal = build_proposal(
        PLAN,
        current,
        decision,
        paths=PATHS,
        verdict=verdict,
        report=render_report(verdict) if with_report else None,
        plan_text="promoted plan\n" if action == "decommission" else None,
        now=NOW,
    )
    assert_golden(GOLDEN / f"{case}.md", proposal.body)


@pytest.mark.parametrize("hostile", corpus("markdown", "terminal"), ids=lambda h: h.name)
@pytest.mark.parametrize("action", ["advance-without-report", "rollback"])
def test_model_text_in_a_pr_body_links_and_renders_nothing(hostile: Hostile, action: str) -> None:
    stage, outcome, _, expected = CASES[action]
    honest = load_verdict(VERDICTS / f"{outcome}.json")
    decision = decide(PLAN, at(stage), stage_started_at=NOW - timedelta(days=30), verdict=honest, now=NOW)
    assert decision.action == expected
    verdict = replace(
        honest,
        candidate=RunInfo(model=hostile.text),
        gates=tuple(replace(g, gate=hostile.text, reason=hostile.text) for g in honest.gates),
    )
    current = replace(at(stage), green=hostile.text)
    decision = replace(
        decision, reason=f"{decision.reason}: {hostile.text}", state=replace(decision.state, green=hostile.text)
    )
    proposal = build_proposal(
        PLAN, current, decision, paths=PATHS, verdict=verdict, report=None, plan_text=None, now=NOW
    )
    assert markdown_hazards(proposal.body) == []
