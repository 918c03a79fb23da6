"""What a push did to traffic, read from the traffic file before and after, and where it was deployed."""

from __future__ import annotations

import pytest

from rollout.gitops.landing import Movement, describe, environment_for, movement
from rollout.plan import load_plan
from rollout.traffic import TrafficState, Weights
from tests.support.plans import CHAT_PLAN

PLAN = load_plan(CHAT_PLAN)
GREEN = "llama-3.3-8b-ft2"
INITIAL = TrafficState(service="chat")


def at(stage: str, weight: int) -> TrafficState:
    return TrafficState(service="chat", stage=stage, green=GREEN, weights=Weights.for_green(weight))


@pytest.mark.parametrize(
    ("previous", "current", "blue", "expected"),
    [
        (INITIAL, at("internal", 5), "llama-3.1-8b", "advanced"),
        (at("early", 25), at("majority", 75), "llama-3.1-8b", "advanced"),
        (at("majority", 75), at("early", 25), "llama-3.1-8b", "rolled-back"),
        (at("internal", 5), INITIAL, "llama-3.1-8b", "rolled-back"),
        (at("early", 25), at("early", 25).rejecting(GREEN), "llama-3.1-8b", "rolled-back"),
        (INITIAL, INITIAL.rejecting(GREEN), "llama-3.1-8b", "rolled-back"),
        (at("full", 100), INITIAL, GREEN, "decommissioned"),
        (at("early", 25), at("early", 25), "llama-3.1-8b", "unchanged"),
        (INITIAL, INITIAL, "llama-3.1-8b", "unchanged"),
    ],
)
def test_movement(previous: TrafficState, current: TrafficState, blue: str, expected: Movement) -> None:
    assert movement(previous, current, blue=blue) == expected


def test_the_environment_is_the_stage_that_gained_or_lost_traffic() -> None:
    assert environment_for(PLAN, at("early", 25), at("majority", 75), "advanced") == "production"
    assert environment_for(PLAN, INITIAL, at("internal", 5), "advanced") == "rollout-chat-internal"
    assert environment_for(PLAN, at("majority", 75), at("early", 25), "rolled-back") == "production"
    assert environment_for(PLAN, INITIAL, INITIAL.rejecting(GREEN), "rolled-back") == "rollout-chat"


def test_descriptions_say_what_moved() -> None:
    assert describe(PLAN, at("majority", 75), at("early", 25), "rolled-back") == (
        f"rolled back green {GREEN} from 75% (blue 75% / green 25%)"
    )
    assert describe(PLAN, INITIAL, at("internal", 5), "advanced").startswith(f"advanced green {GREEN} to 5% [internal]")
