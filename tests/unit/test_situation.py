"""A green with traffic keeps the build its traffic was moved to: a new revision or new serving arguments under it
are refused, since no verdict covers them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from rollout.errors import InputError
from rollout.plan import Plan, load_plan, serving_args_digest
from rollout.situation import read_situation
from tests.support.plans import CHAT_PLAN

GREEN = "llama-3.3-8b-ft2"


@pytest.fixture
def plan(tmp_path: Path) -> Plan:
    (tmp_path / "eval_suites").symlink_to(CHAT_PLAN.parent / "eval_suites")
    (tmp_path / "rollout-plan.yaml").write_text(CHAT_PLAN.read_text())
    plan = load_plan(tmp_path / "rollout-plan.yaml")
    (tmp_path / "rollout-traffic.yaml").write_text(
        f"service: chat\nstage: early\ngreen: {GREEN}\nweights: {{blue: 75, green: 25}}\nrejected: []\n"
    )
    return plan


def record(plan: Plan, number: int, action: str, **green: str) -> None:
    plan.records_dir.mkdir(parents=True, exist_ok=True)
    data = {"schema": "rollout.record/v1", "action": action, "green": {"name": GREEN, **green}}
    (plan.records_dir / f"{number:04d}-early.json").write_text(json.dumps(data))


def test_the_build_the_traffic_was_moved_to_still_serves(plan: Plan) -> None:
    assert plan.green is not None
    record(plan, 1, "advance", revision=plan.green.revision or "", serving_digest=serving_args_digest(plan.green))
    assert read_situation(plan).state.weights.green == 25


@pytest.mark.parametrize("change", ["revision", "serving arguments"])
def test_a_new_revision_or_new_serving_arguments_under_live_traffic_is_refused(plan: Plan, change: str) -> None:
    assert plan.green is not None
    green = plan.green
    before = replace(green, revision="r1") if change == "revision" else replace(green, args=("--max-model-len", "4096"))
    record(plan, 1, "advance", revision=before.revision or "", serving_digest=serving_args_digest(before))
    record(plan, 2, "rollback", revision="never-moved-traffic")  # only advances put a build under traffic
    with pytest.raises(InputError) as raised:
        read_situation(plan)
    message = str(raised.value)
    assert f"rollout-plan.yaml: models.green: green {GREEN} serves 25% of the traffic" in message
    assert f"recorded in 0001-early.json, but the plan changes its {change}" in message
    assert "roll green back (`rollout rollback`) first" in message


def test_records_without_a_serving_digest_compare_the_revision_only(plan: Plan) -> None:
    assert plan.green is not None
    record(plan, 1, "advance", revision=plan.green.revision or "")
    assert read_situation(plan).state.stage == "early"
    (plan.records_dir / "0002-early.json").write_text("{not json")
    assert read_situation(plan).state.stage == "early"
