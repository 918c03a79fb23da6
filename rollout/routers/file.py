"""A JSON feature-flag file for applications that route between the colors themselves.

`{"service": …, "stage": …, "weights": {"blue": …, "green": …}, "audience": "all" | "internal",
"revision": …}`: an application reads it (or is told to by `router.reload`) and sends each request to a
color with those odds; with audience `internal`, only its internal requests may go to green.
"""

from __future__ import annotations

import json

from rollout.plan import Plan
from rollout.routers._shared import REVISION_SLOT, audience
from rollout.traffic import TrafficState


def render(plan: Plan, state: TrafficState) -> str:
    flag = {
        "service": plan.service,
        "stage": state.stage,
        "weights": {"blue": state.weights.blue, "green": state.weights.green},
        "audience": audience(plan, state),
        "revision": REVISION_SLOT,
    }
    return json.dumps(flag, indent=2) + "\n"


def problems(text: str) -> list[str]:
    try:
        flag = json.loads(text)
    except ValueError as exc:
        return [f"not JSON: {exc}"]
    weights = flag.get("weights") if isinstance(flag, dict) else None
    if not isinstance(weights, dict) or set(weights) != {"blue", "green"}:
        return ["weights must name blue and green"]
    if weights["blue"] + weights["green"] != 100:
        return [f"weights add up to {weights['blue'] + weights['green']}, not 100"]
    return []
