"""The step summary `rollout apply` writes for a reviewer, as golden files: golden/apply-summary/<case>.md.

Set ROLLOUT_UPDATE_GOLDEN=1 to rewrite them after an intended change, then read the diff.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from rollout.gitops.landing import Landing, describe, environment_for, landing_markdown, movement
from rollout.plan import load_plan
from rollout.routers.apply import ApplyResult, plan_change
from rollout.traffic import TrafficState, Weights
from tests.support.golden import assert_golden
from tests.support.hostile import Hostile, corpus, markdown_hazards

GOLDEN = Path(__file__).parent / "golden" / "apply-summary"
PLANS = Path(__file__).parents[1] / "routers" / "golden"
GREEN = "llama-3.3-8b-ft2"


def traffic(stage: str | None, green: int, *, rejected: tuple[str, ...] = ()) -> TrafficState:
    return TrafficState(
        service="chat", stage=stage, green=GREEN if stage else None, weights=Weights.for_green(green), rejected=rejected
    )


def landing(
    kind: str,
    previous: TrafficState,
    current: TrafficState,
    *,
    deployment: int | None = None,
    pulls: tuple[int, ...] = (),
    probes: int = 0,
) -> Landing:
    """What `land` returns when applying `current` after `previous` to a router that had no config."""
    plan = load_plan(PLANS / kind / "rollout-plan.yaml")
    move = movement(previous, current, blue=plan.blue.name)
    change = plan_change(plan, current, current=None, probes=probes, env={})
    return Landing(
        movement=move,
        headline=describe(plan, previous, current, move),
        previous=previous,
        current=current,
        result=ApplyResult(change=change),
        environment=environment_for(plan, previous, current, move) if deployment is not None else None,
        deployment=deployment,
        pulls=pulls,
    )


CASES = {
    "advanced-probed": lambda: landing(
        "nginx", traffic(None, 0), traffic("internal", 5), deployment=7, pulls=(12,), probes=200
    ),
    "rolled-back-with-deployment": lambda: landing(
        "nginx", traffic("majority", 75), traffic(None, 0, rejected=(GREEN,)), deployment=8, probes=200
    ),
    "unchanged-file": lambda: landing("file", traffic("early", 25), traffic("early", 25)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_apply_summary_matches_golden(name: str) -> None:
    found = CASES[name]()
    # The revision digests the config, which names the folder the plan sits in.
    summary = landing_markdown(found).replace(found.result.change.revision, "<revision>")
    assert_golden(GOLDEN / f"{name}.md", summary)


@pytest.mark.parametrize("hostile", corpus("markdown", "terminal"), ids=lambda h: h.name)
def test_text_from_the_router_or_the_traffic_file_renders_inert(hostile: Hostile) -> None:
    honest = CASES["rolled-back-with-deployment"]()  # no PR in it: "Commented on #12" is a link on purpose
    assert markdown_hazards(landing_markdown(honest)) == []
    tainted = replace(
        honest,
        headline=f"advanced green {hostile.text}",
        result=replace(honest.result, change=replace(honest.result.change, summary=hostile.text)),
    )
    assert markdown_hazards(landing_markdown(tainted)) == []
