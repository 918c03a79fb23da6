from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollout.errors import InputError
from rollout.gates.verdict import GateOutcome, GateResult, RunInfo, Verdict
from rollout.plan import Plan, load_plan
from rollout.stages import decide, decide_rollback
from rollout.traffic import ROLLED_BACK, TrafficState, Weights
from tests.support.plans import CHAT_PLAN, candidate_of

PLAN = load_plan(CHAT_PLAN)
GREEN = "llama-3.3-8b-ft2"
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)


def verdict(outcome: GateOutcome, model: str = GREEN, plan: Plan = PLAN) -> Verdict:
    green = plan.model("green")
    return Verdict(
        outcome=outcome,
        baseline=RunInfo(model="llama-3.1-8b"),
        candidate=candidate_of(green) if model == green.name else RunInfo(model=model),
        gates=(GateResult(gate="quality", outcome=outcome, reason=f"quality {outcome}"),),
    )


def at_stage(name: str | None, plan: Plan = PLAN) -> TrafficState:
    stage = plan.stage(name)
    return TrafficState(
        service="chat",
        stage=name,
        green=GREEN if name else None,
        weights=Weights.for_green(stage.weight if stage else 0),
    )


def test_full_timeline_from_nothing_to_decommission() -> None:
    state = TrafficState.initial("chat")
    now = T0
    steps = []
    started: datetime | None = None
    while True:
        decision = decide(PLAN, state, stage_started_at=started, verdict=verdict("pass"), now=now)
        steps.append((decision.action, decision.state.stage, decision.state.weights.green))
        if decision.action == "advance":
            state, started = decision.state, now
            assert decision.stage is not None
            now = now + decision.stage.soak  # exactly at the end of the soak is allowed
        elif decision.action == "complete":
            assert decision.earliest is not None
            now = decision.earliest
        else:
            break
    assert steps == [
        ("advance", "internal", 5),
        ("advance", "early", 25),
        ("advance", "majority", 75),
        ("advance", "full", 100),
        ("complete", "full", 100),
        ("decommission", None, 0),
    ]
    assert now == started + PLAN.decommission_after


def test_holds_before_soak_with_the_earliest_time() -> None:
    decision = decide(
        PLAN, at_stage("early"), stage_started_at=T0, verdict=verdict("pass"), now=T0 + timedelta(hours=20)
    )
    assert decision.action == "hold"
    assert decision.earliest == T0 + timedelta(days=2)
    assert "1d4h left" in decision.reason


@pytest.mark.parametrize(
    ("evidence", "reason"),
    [
        (None, "no verdict for green"),
        (verdict("inconclusive"), "inconclusive"),
        (verdict("pass", model="some-other-version"), "the verdict is for some-other-version"),
        (verdict("inconclusive", model=""), "the verdict holds no results of green"),
    ],
)
def test_holds_without_conclusive_evidence_for_this_green(evidence: Verdict | None, reason: str) -> None:
    decision = decide(PLAN, at_stage("early"), stage_started_at=T0, verdict=evidence, now=T0 + timedelta(days=30))
    assert decision.action == "hold"
    assert reason in decision.reason
    assert decision.state == at_stage("early")


def test_a_failed_gate_rolls_back_and_rejects() -> None:
    decision = decide(PLAN, at_stage("majority"), stage_started_at=T0, verdict=verdict("fail"), now=T0)
    assert decision.action == "rollback"
    assert decision.state.stage == ROLLED_BACK
    assert decision.state.weights == Weights(blue=100, green=0)
    assert decision.state.rejected == (GREEN,)
    assert "take its 75% back to blue" in decision.reason


def test_a_rejected_version_is_not_proposed_again_until_a_new_one_is_named() -> None:
    rejected = at_stage("majority").rejecting(GREEN)
    decision = decide(PLAN, rejected, stage_started_at=T0, verdict=verdict("pass"), now=T0 + timedelta(days=99))
    assert decision.action == "hold"
    assert "rejected" in decision.reason
    assert PLAN.green is not None
    newer = replace(PLAN, green=replace(PLAN.green, name="llama-3.3-8b-ft3"))
    decision = decide(
        newer, rejected, stage_started_at=T0, verdict=verdict("pass", model="llama-3.3-8b-ft3", plan=newer), now=T0
    )
    assert (decision.action, decision.state.stage, decision.state.green) == ("advance", "internal", "llama-3.3-8b-ft3")
    assert decision.state.rejected == (GREEN,)


@pytest.mark.parametrize(
    "change",
    [
        {"revision": "r2"},
        {"args": ("--max-model-len", "32768")},
        {"model": "acme/other-weights"},
        {"env": {"VLLM_ATTENTION_BACKEND": "FLASHINFER"}},
    ],
    ids=["revision", "args", "weights", "env"],
)
def test_a_verdict_never_advances_a_green_whose_revision_or_serving_arguments_changed(
    change: dict[str, object],
) -> None:
    assert PLAN.green is not None
    evaluated = verdict("pass")  # for the plan's green as it was
    changed = replace(PLAN, green=replace(PLAN.green, **change))  # type: ignore[arg-type]
    for state, started in ((TrafficState.initial("chat"), None), (at_stage("early"), T0)):
        decision = decide(changed, state, stage_started_at=started, verdict=evaluated, now=T0 + timedelta(days=30))
        assert decision.action == "hold", (change, state.stage)
        assert "the verdict is for llama-3.3-8b-ft2 @ 4f1d3c2b9a8e" in decision.reason
        assert "gate the current version" in decision.reason
    fresh = decide(
        changed, TrafficState.initial("chat"), stage_started_at=None, verdict=verdict("pass", plan=changed), now=T0
    )
    assert fresh.action == "advance"


def test_a_verdict_without_the_serving_digest_binds_to_nothing() -> None:
    bare = replace(verdict("pass"), candidate=replace(verdict("pass").candidate, serving_digest=None))
    decision = decide(PLAN, TrafficState.initial("chat"), stage_started_at=None, verdict=bare, now=T0)
    assert decision.action == "hold" and "serving arguments none" in decision.reason


def test_a_new_green_named_mid_rollout_starts_from_the_first_stage() -> None:
    state = replace(at_stage("majority"), green="llama-3.3-8b-ft1")
    decision = decide(PLAN, state, stage_started_at=T0, verdict=verdict("pass"), now=T0)
    assert (decision.action, decision.state.stage, decision.state.weights.green) == ("advance", "internal", 5)


def test_a_rollback_by_hand_takes_green_s_traffic_back_once() -> None:
    decision = decide_rollback(PLAN, at_stage("majority"), reason="latency spikes")
    assert (decision.action, decision.state.stage, decision.state.rejected) == ("rollback", ROLLED_BACK, (GREEN,))
    assert decision.reason == f"green {GREEN}: latency spikes: take its 75% back to blue and reject it"
    before = decide_rollback(PLAN, at_stage(None), reason=None)
    assert before.reason == f"green {GREEN}: rolled back by hand: it never received traffic and reject it"
    again = decide_rollback(PLAN, decision.state, reason=None)
    assert (again.action, again.state) == ("hold", decision.state)
    with pytest.raises(InputError, match="no green version to roll back"):
        decide_rollback(replace(PLAN, green=None), TrafficState.initial("chat"), reason=None)


def test_a_plan_without_green_is_complete() -> None:
    decision = decide(
        replace(PLAN, green=None), TrafficState.initial("chat"), stage_started_at=None, verdict=None, now=T0
    )
    assert decision.action == "complete"


stage_names = st.sampled_from([None, *(s.name for s in PLAN.stages), ROLLED_BACK])
outcomes = st.sampled_from(["pass", "fail", "inconclusive", None])
offsets = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40))


@given(stage=stage_names, outcome=outcomes, elapsed=offsets, rejected=st.booleans())
def test_invariants(stage: str | None, outcome: str | None, elapsed: timedelta, rejected: bool) -> None:
    state = at_stage(stage) if stage != ROLLED_BACK else at_stage(None).rejecting("older-version")
    if rejected:
        state = replace(state, rejected=(*state.rejected, GREEN))
    evidence = verdict(outcome) if outcome else None  # type: ignore[arg-type]
    decision = decide(PLAN, state, stage_started_at=T0, verdict=evidence, now=T0 + elapsed)
    names = [s.name for s in PLAN.stages]
    current = names.index(stage) if stage in names and state.green == GREEN else -1

    if decision.action == "advance":
        assert outcome == "pass", "never advances on fail, inconclusive or a missing verdict"
        assert decision.stage is not None
        assert names.index(decision.stage.name) == current + 1, "never skips a stage"
        assert decision.state.weights.green == decision.stage.weight
        if current >= 0:
            assert elapsed >= PLAN.stages[current].soak, "never advances before the soak has passed"
        assert decision.state.green not in state.rejected, "a rejected version is never proposed"
    if decision.action == "rollback":
        assert decision.state.weights.green == 0 and decision.state.weights.blue == 100
        assert GREEN in decision.state.rejected
    if rejected:
        assert decision.action == "hold"
    assert decision.state.weights.blue + decision.state.weights.green == 100


def live_failure(window_start: datetime, candidate: RunInfo) -> Verdict:
    """A watch round's verdict: the live-errors gate failed over the window from `window_start`, next to offline
    results for `candidate`."""
    live = GateResult(
        gate="live-errors",
        outcome="fail",
        reason="green failed 26 of 500 requests (5.20%): above the 2.0% ceiling",
        details={"window": {"start": window_start.isoformat(), "end": (window_start + timedelta(hours=1)).isoformat()}},
    )
    return Verdict(
        outcome="fail",
        baseline=RunInfo(model="llama-3.1-8b"),
        candidate=candidate,
        gates=(GateResult(gate="quality", outcome="pass", reason="quality pass"), live),
    )


@pytest.mark.parametrize(
    "candidate",
    [
        replace(candidate_of(PLAN.model("green")), revision="an-older-revision"),
        replace(candidate_of(PLAN.model("green")), serving_digest=None),
        RunInfo(model="llama-3.3-8b-ft1"),
    ],
    ids=["older-revision", "no-serving-digest", "older-version"],
)
def test_a_live_failure_in_this_stage_rolls_back_whatever_build_the_offline_results_are_for(
    candidate: RunInfo,
) -> None:
    evidence = live_failure(T0, candidate)
    decision = decide(PLAN, at_stage("early"), stage_started_at=T0, verdict=evidence, now=T0 + timedelta(minutes=30))
    assert decision.action == "rollback", decision.reason
    assert decision.state.weights == Weights(blue=100, green=0) and decision.state.rejected == (GREEN,)
    assert "live-errors (green failed 26 of 500 requests" in decision.reason
    assert "quality" not in decision.reason


def test_a_live_failure_from_another_stage_s_window_does_not_roll_back_on_a_stale_verdict() -> None:
    evidence = live_failure(
        T0 - timedelta(days=1), replace(candidate_of(PLAN.model("green")), revision="an-older-revision")
    )
    decision = decide(PLAN, at_stage("early"), stage_started_at=T0, verdict=evidence, now=T0 + timedelta(days=3))
    assert decision.action == "hold" and "the verdict is for" in decision.reason
