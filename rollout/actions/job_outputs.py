"""What the reusable workflows' jobs need to know from the plan and the traffic state, as step outputs.

`rollout status` writes these to `$GITHUB_OUTPUT`, so a light first job can decide which jobs run,
which GitHub environment guards the apply, and which eval jobs to fan out.
"""

from __future__ import annotations

import json
from typing import Literal

from rollout.gitops.proposal import evidence_branch
from rollout.plan import COLORS, Color, Plan
from rollout.stages import Decision
from rollout.traffic import TrafficState

Phase = Literal["idle", "new", "rolling", "rejected"]


def phase(plan: Plan, state: TrafficState) -> Phase:
    """idle: the plan names no green; new: green has had no traffic yet (deploy it); rolling: green is at a
    stage (watch it); rejected: green failed a gate and waits for the plan to name another version."""
    green = plan.green
    if green is None:
        return "idle"
    if green.name in state.rejected:
        return "rejected"
    if state.green == green.name and plan.stage(state.stage) is not None:
        return "rolling"
    return "new"


def environment(plan: Plan, state: TrafficState) -> str:
    """The GitHub environment guarding the traffic in `state`: its stage's, or none ("") for the states that
    send traffic back to blue (not started, rolled back), which must never wait for a reviewer."""
    stage = plan.stage(state.stage)
    return (stage.environment or "") if stage is not None else ""


def eval_matrix(plan: Plan) -> list[dict[str, str]]:
    """One entry per (suite gate, color): the matrix of eval test jobs."""
    suites = {"quality": plan.gates.quality, "safety": plan.gates.safety}
    colors: tuple[Color, ...] = COLORS if plan.green is not None else ("blue",)
    return [
        {"gate": gate, "suite": spec.suite.as_posix(), "color": color, "model": plan.model(color).name}
        for gate, spec in suites.items()
        if spec is not None
        for color in colors
    ]


def status_outputs(plan: Plan, state: TrafficState, decision: Decision) -> dict[str, str]:
    return {
        "decision": decision.action,
        "stage": state.stage or "",
        "environment": environment(plan, state),
        "phase": phase(plan, state),
        "green": plan.green.name if plan.green else "",
        "evals": json.dumps(eval_matrix(plan), separators=(",", ":")),
        "evidence-branch": evidence_branch(plan.service),
    }
