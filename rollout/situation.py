"""Where a rollout stands in its checkout, and what to do next: `status`, `next` and `propose` all decide here.

The traffic state is rollout-traffic.yaml; its stage started when that file last changed on the
first-parent line of git history. The decision itself is pure (rollout/stages.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rollout.errors import InputError
from rollout.gates.live import LiveWindow
from rollout.gates.verdict import Verdict
from rollout.history import last_changed, require_full_history
from rollout.plan import Plan, build_of
from rollout.records import traffic_build
from rollout.stages import Decision, decide
from rollout.traffic import TrafficState, load_traffic


@dataclass(frozen=True, kw_only=True)
class Situation:
    state: TrafficState
    stage_started_at: datetime | None
    """None when the traffic file has no commit yet (or the plan is not in a git repository)."""


def read_situation(plan: Plan) -> Situation:
    state = load_traffic(plan)
    check_build(plan, state, traffic_build(plan, state))
    return Situation(state=state, stage_started_at=last_changed(plan.traffic_path))


def read_situation_to_decide(plan: Plan) -> Situation:
    """The situation a decision is made on: in a shallow checkout the stage's start time would be the oldest
    commit's, so one is refused (a plan outside git has no start time and decides as such)."""
    situation = read_situation(plan)
    _require_stage_history(plan)
    return situation


def _require_stage_history(plan: Plan) -> None:
    require_full_history(plan.root, why="when the current stage started")


def check_build(plan: Plan, state: TrafficState, moved: Mapping[str, Any] | None) -> None:
    """A green that has traffic may not change its revision or serving arguments under it: that is a new
    version no verdict covers. `moved` is the green the traffic was moved to, as its record says."""
    green = plan.green
    if green is None or moved is None or not state.weights.green or state.green != green.name:
        return
    build = build_of(green)
    changed = [
        what
        for what, key, now in (
            ("revision", "revision", build.revision),
            ("serving arguments", "serving_digest", build.serving_digest),
        )
        if key in moved and moved[key] != now
    ]
    if changed:
        raise InputError.at(
            str(plan.path),
            f"green {green.name} serves {state.weights.green}% of the traffic as the build recorded in "
            f"{moved.get('record')}, but the plan changes its {' and '.join(changed)}: a new build is a new "
            "version to deploy and evaluate: roll green back (`rollout rollback`) first, then name it as a new version",
            field="models.green",
        )


def live_since(plan: Plan, situation: Situation) -> LiveWindow | None:
    """Where the live gates' window starts: when the current stage began, while green carries traffic."""
    state = situation.state
    started = situation.stage_started_at
    if plan.green is None or state.green != plan.green.name or state.weights.green == 0 or started is None:
        return None
    return LiveWindow(start=started, blue_serves=state.weights.blue > 0)


def read_live_window(plan: Plan) -> LiveWindow | None:
    """The live gates' window in this checkout (live_since); a shallow one is refused once the window is read
    from it, as for a decision, since the stage's start would be the oldest commit's."""
    window = live_since(plan, read_situation(plan))
    if window is not None and plan.gates.live is not None:
        _require_stage_history(plan)
    return window


def decide_next(plan: Plan, situation: Situation, *, verdict: Verdict | None, now: datetime) -> Decision:
    return decide(plan, situation.state, stage_started_at=situation.stage_started_at, verdict=verdict, now=now)
