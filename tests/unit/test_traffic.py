from __future__ import annotations

import json
from pathlib import Path

import pytest

from rollout.errors import InputError
from rollout.gates.verdict import GateResult, RunInfo, Verdict, verdict_to_dict
from rollout.plan import load_plan
from rollout.records import latest_recorded_verdict, next_record_number, record_name, record_number, traffic_build
from rollout.traffic import (
    ROLLED_BACK,
    TrafficState,
    Weights,
    load_traffic,
    parse_traffic_text,
    render_traffic,
    write_traffic,
)
from tests.support.plans import CHAT_PLAN, candidate_of


@pytest.fixture
def plan(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "eval_suites").symlink_to(CHAT_PLAN.parent / "eval_suites")
    (tmp_path / "rollout-plan.yaml").write_text(CHAT_PLAN.read_text())
    return load_plan(tmp_path / "rollout-plan.yaml")


def test_a_missing_traffic_file_is_the_initial_state(plan) -> None:  # type: ignore[no-untyped-def]
    assert load_traffic(plan) == TrafficState(
        service="chat", stage=None, green=None, weights=Weights(blue=100, green=0)
    )


def test_write_then_read_round_trips(plan) -> None:  # type: ignore[no-untyped-def]
    state = TrafficState(
        service="chat",
        stage="early",
        green="llama-3.3-8b-ft2",
        weights=Weights.for_green(25),
        rejected=("llama-3.3-8b-ft1",),
    )
    write_traffic(plan, state)
    assert load_traffic(plan) == state
    assert not [p for p in plan.root.iterdir() if p.name.startswith(".rollout-traffic")], "no temp file left behind"


def test_the_format_is_the_one_in_the_design() -> None:
    text = render_traffic(TrafficState(service="chat", stage="early", green="g2", weights=Weights.for_green(25)))
    body = [line for line in text.splitlines() if not line.startswith("#")]
    assert body == ["service: chat", "stage: early", "green: g2", "weights: {blue: 75, green: 25}", "rejected: []"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "service: chat\nstage: early\ngreen: g\nweights: {blue: 70, green: 25}\n",
            "rollout-traffic.yaml:4: weights: weights add up to 95, not 100",
        ),
        (
            "service: chat\nstage: late\ngreen: g\nweights: {blue: 75, green: 25}\n",
            "rollout-traffic.yaml:2: stage: 'late' is not a stage of the plan",
        ),
        (
            "service: chat\nstage: early\ngreen: g\nweights: {blue: 70, green: 30}\n",
            "weights.green: 30 is not the weight of stage 'early' (25)",
        ),
        (
            "service: chat\nstage: null\nweights: {blue: 90, green: 10}\n",
            "green gets no traffic when the stage is null",
        ),
        (
            "service: mail\nstage: null\nweights: {blue: 100, green: 0}\n",
            "service: 'mail' is not the plan's service 'chat'",
        ),
        ("service: chat\nstage: null\nweights: {blue: 100, green: 0}\nextra: 1\n", "unknown key 'extra'"),
        ("service: chat\nstage: null\nweights: {blue: 100}\n", "'green' is required"),
    ],
)
def test_invalid_states_are_refused(plan, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError) as info:
        parse_traffic_text(text, plan)
    assert message in str(info.value)


GREEN = "llama-3.3-8b-ft2"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "service: chat\nstage: early\ngreen: some-other-model\nweights: {blue: 75, green: 25}\n",
            f"rollout-traffic.yaml:3: green: 'some-other-model' gets 25% of the traffic but the plan's green is '{GREEN}'",
        ),
        (
            "service: chat\nstage: early\ngreen: null\nweights: {blue: 75, green: 25}\n",
            f"rollout-traffic.yaml:3: green: names no green version but gives green 25%: name the plan's green '{GREEN}'",
        ),
        (
            f"service: chat\nstage: early\ngreen: {GREEN}\nweights: {{blue: 75, green: 25}}\nrejected: [{GREEN}]\n",
            f"rollout-traffic.yaml:5: rejected: '{GREEN}' is rejected but gets 25% of the traffic",
        ),
        (
            f"service: chat\nstage: early\ngreen: {GREEN}\nweights: {{blue: 75.0, green: 25.0}}\n",
            "rollout-traffic.yaml:4: weights.blue: 75.0 is not a whole number: weights are integers",
        ),
    ],
)
def test_traffic_goes_only_to_the_plan_s_green_unrejected_in_whole_percents(  # type: ignore[no-untyped-def]
    plan, text: str, message: str
) -> None:
    with pytest.raises(InputError) as info:
        parse_traffic_text(text, plan)
    assert message in str(info.value)


def test_a_version_other_than_the_plan_s_green_may_hold_no_traffic(plan) -> None:  # type: ignore[no-untyped-def]
    text = (
        "service: chat\nstage: rolled-back\ngreen: old-model\nweights: {blue: 100, green: 0}\nrejected: [old-model]\n"
    )
    assert parse_traffic_text(text, plan).green == "old-model"


def test_rejecting_sends_everything_to_blue_and_remembers_the_version() -> None:
    state = TrafficState(service="chat", stage="majority", green="g2", weights=Weights.for_green(75), rejected=("g1",))
    rejected = state.rejecting("g2")
    assert (rejected.stage, rejected.weights, rejected.rejected) == (
        ROLLED_BACK,
        Weights(blue=100, green=0),
        ("g1", "g2"),
    )
    assert rejected.rejecting("g2").rejected == ("g1", "g2")


def test_records_are_numbered_per_service(plan) -> None:  # type: ignore[no-untyped-def]
    assert next_record_number(plan) == 1
    first = plan.records_dir / record_name(1, "internal")
    assert first.relative_to(plan.root).as_posix() == "rollout-records/chat/0001-internal.json"
    first.parent.mkdir(parents=True)
    first.write_text("{}")
    (first.parent / "notes.txt").write_text("not a record")
    (first.parent / "notes.json").write_text("{}")
    assert next_record_number(plan) == 2
    assert record_number(record_name(12, "rolled-back")) == 12
    assert record_number("notes.json") is None


def test_the_newest_record_is_the_highest_number_not_the_last_name(plan) -> None:  # type: ignore[no-untyped-def]
    def verdict(outcome: str) -> Verdict:
        return Verdict(
            outcome=outcome,  # type: ignore[arg-type]
            baseline=RunInfo(model="llama-3.1-8b"),
            candidate=candidate_of(plan.model("green")),
            gates=(GateResult(gate="quality", outcome=outcome, reason="r"),),  # type: ignore[arg-type]
        )

    plan.records_dir.mkdir(parents=True)
    for number, outcome in ((9999, "fail"), (10000, "pass")):
        record = {
            "action": "advance",
            "green": {"name": "g", "build": number},
            "verdict": verdict_to_dict(verdict(outcome)),
        }
        (plan.records_dir / record_name(number, "early")).write_text(json.dumps(record))
    assert record_name(10000, "early") < record_name(9999, "early"), "names alone sort the newest first"
    found = latest_recorded_verdict(plan)
    assert found is not None and found.outcome == "pass"
    state = TrafficState(service="chat", stage="early", green="g", weights=Weights.for_green(25))
    assert traffic_build(plan, state) == {"name": "g", "build": 10000, "record": "10000-early.json"}
