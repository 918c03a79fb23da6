"""The step outputs the reusable workflows branch on: phase, environment and the eval matrix."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from rollout.actions.job_outputs import environment, eval_matrix, phase, status_outputs
from rollout.plan import load_plan
from rollout.stages import Decision
from rollout.traffic import ROLLED_BACK, TrafficState, Weights
from tests.support.plans import CHAT_PLAN

PLAN = load_plan(CHAT_PLAN)
GREEN = "llama-3.3-8b-ft2"


def at(stage: str | None, *, green: str | None = GREEN, rejected: tuple[str, ...] = ()) -> TrafficState:
    weight = PLAN.stage(stage).weight if PLAN.stage(stage) else 0  # type: ignore[union-attr]
    return TrafficState(service="chat", stage=stage, green=green, weights=Weights.for_green(weight), rejected=rejected)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (TrafficState.initial("chat"), "new"),
        (at("internal"), "rolling"),
        (at("full"), "rolling"),
        (at("early", green="llama-3.2-old"), "new"),
        (at(ROLLED_BACK, rejected=(GREEN,)), "rejected"),
        (at(ROLLED_BACK, green="llama-3.2-old", rejected=("llama-3.2-old",)), "new"),
    ],
)
def test_phase_follows_the_planned_green(state: TrafficState, expected: str) -> None:
    assert phase(PLAN, state) == expected


def test_a_plan_without_green_is_idle_and_evaluates_blue_only() -> None:
    plan = replace(PLAN, green=None)
    assert phase(plan, TrafficState.initial("chat")) == "idle"
    assert {entry["color"] for entry in eval_matrix(plan)} == {"blue"}


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        (None, ""),
        ("internal", ""),
        ("early", ""),
        ("majority", "production"),
        ("full", "production"),
        (ROLLED_BACK, ""),
    ],
)
def test_environment_is_the_stage_s_and_never_guards_a_move_back_to_blue(stage: str | None, expected: str) -> None:
    assert environment(PLAN, at(stage)) == expected


def test_eval_matrix_pairs_every_suite_with_both_colors() -> None:
    matrix = eval_matrix(PLAN)
    assert [(e["gate"], e["color"]) for e in matrix] == [
        ("quality", "blue"),
        ("quality", "green"),
        ("safety", "blue"),
        ("safety", "green"),
    ]
    green = next(e for e in matrix if e["color"] == "green")
    assert green["model"] == GREEN
    assert Path(green["suite"]) == PLAN.gates.quality.suite  # type: ignore[union-attr]


def test_status_outputs_are_strings_for_github_output() -> None:
    decision = Decision(action="hold", reason="soaking", state=at("majority"))
    outputs = status_outputs(PLAN, at("majority"), decision)
    assert outputs["decision"] == "hold"
    assert outputs["stage"] == "majority"
    assert outputs["environment"] == "production"
    assert outputs["phase"] == "rolling"
    assert outputs["green"] == GREEN
    assert json.loads(outputs["evals"]) == eval_matrix(PLAN)
    assert all(isinstance(value, str) and "\n" not in value for value in outputs.values())
