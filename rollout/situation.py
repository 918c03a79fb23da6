"""Where a rollout stands in its checkout, and what to do next: `status`, `next` and `propose` all decide here.

The traffic state is rollout-traffic.yaml; its stage started when that file last changed on the
first-parent line of git history. The decision itself is pure (rollout/stages.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rollout.gates.verdict import Verdict
from rollout.history import last_changed
from rollout.plan import Plan
from rollout.stages import Decision, decide
from rollout.traffic import TrafficState, load_traffic


@dataclass(frozen=True, kw_only=True)
class Situation:
    state: TrafficState
    stage_started_at: datetime | None
    """None when the traffic file has no commit yet (or the plan is not in a git repository)."""


def read_situation(plan: Plan) -> Situation:
    return Situation(state=load_traffic(plan), stage_started_at=last_changed(plan.traffic_path))


def decide_next(plan: Plan, situation: Situation, *, verdict: Verdict | None, now: datetime) -> Decision:
    return decide(plan, situation.state, stage_started_at=situation.stage_started_at, verdict=verdict, now=now)
