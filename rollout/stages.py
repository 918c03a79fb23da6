"""What to do next: a pure function of the plan, the traffic state, the stage's start, a verdict and the time."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from rollout.durations import format_duration
from rollout.errors import EXIT_FAILED, EXIT_INCONCLUSIVE, EXIT_OK, InputError
from rollout.gates.live import live_failures
from rollout.gates.verdict import GateResult, RunInfo, Verdict
from rollout.plan import Build, Plan, Stage, build_of
from rollout.traffic import ROLLED_BACK, TrafficState, Weights

Action = Literal["hold", "advance", "rollback", "decommission", "complete"]


@dataclass(frozen=True, kw_only=True)
class Decision:
    action: Action
    reason: str
    state: TrafficState
    """The traffic state to propose; the current one for hold and complete."""
    stage: Stage | None = None
    """For advance: the stage to move to."""
    earliest: datetime | None = None
    """For hold and complete: when the next move could happen at the earliest, if time is what it waits for."""

    @property
    def moves_traffic(self) -> bool:
        return self.action in ("advance", "rollback", "decommission")


def decide(
    plan: Plan,
    state: TrafficState,
    *,
    stage_started_at: datetime | None,
    verdict: Verdict | None,
    now: datetime,
) -> Decision:
    green = plan.green
    if green is None:
        return Decision(action="complete", reason="the plan names no green version: nothing to roll out", state=state)
    if green.name in state.rejected:
        return Decision(
            action="hold",
            state=state,
            reason=f"green {green.name} was rejected after a failed gate; name a new version in the plan",
        )

    current = plan.stage_index(state.stage) if state.green == green.name else None
    build = build_of(green)
    evidence = _evidence(verdict, build)

    if current is None:
        return _start(plan, state, build, evidence, verdict)

    stage = plan.stages[current]
    if evidence == "fail":
        return _gate_rollback(state, green.name, verdict)
    live = live_failures(verdict, window_start=stage_started_at) if verdict and stage_started_at else ()
    if live:
        # Offline results for another build (or none re-run) must not keep a green failing its users serving.
        return _rollback(state, green.name, f"green {green.name} failed {_listed(live)} on this stage's traffic")
    if stage_started_at is None:
        return Decision(
            action="hold",
            state=state,
            reason=f"cannot tell when stage {stage.name} started: the traffic file has no commit yet",
        )
    soaked_at = stage_started_at + stage.soak
    last = current == len(plan.stages) - 1

    if last:
        retire_at = stage_started_at + max(stage.soak, plan.decommission_after)
        if now < soaked_at:
            return _wait(
                state, f"stage {stage.name} soaks until {_at(soaked_at)} ({_left(soaked_at, now)} left)", soaked_at
            )
        if evidence != "pass":
            return Decision(action="hold", state=state, reason=_missing(evidence, verdict, build))
        if now < retire_at:
            return Decision(
                action="complete",
                state=state,
                earliest=retire_at,
                reason=f"green {green.name} serves 100%; blue stays warm until {_at(retire_at)}",
            )
        return Decision(
            action="decommission",
            state=TrafficState(service=plan.service, rejected=state.rejected),
            reason=f"green {green.name} has served 100% for {format_duration(now - stage_started_at)}: "
            f"promote it to blue and stop {plan.blue.name}",
        )

    if now < soaked_at:
        return _wait(
            state, f"stage {stage.name} soaks until {_at(soaked_at)} ({_left(soaked_at, now)} left)", soaked_at
        )
    if evidence != "pass":
        return Decision(action="hold", state=state, reason=_missing(evidence, verdict, build))
    target = plan.stages[current + 1]
    return _advance(
        state,
        green.name,
        target,
        f"stage {stage.name} soaked for {format_duration(now - stage_started_at)} and every gate passes",
    )


def _start(plan: Plan, state: TrafficState, green: Build, evidence: str, verdict: Verdict | None) -> Decision:
    if evidence == "fail":
        return _gate_rollback(state, green.name, verdict)
    if evidence != "pass":
        return Decision(action="hold", state=state, reason=_missing(evidence, verdict, green))
    first = plan.stages[0]
    return _advance(state, green.name, first, f"green {green.name} passes every gate against blue {plan.blue.name}")


def _advance(state: TrafficState, green: str, stage: Stage, why: str) -> Decision:
    new = replace(state, stage=stage.name, green=green, weights=Weights.for_green(stage.weight))
    return Decision(
        action="advance", state=new, stage=stage, reason=f"{why}: move {stage.weight}% to green {green} [{stage.name}]"
    )


def decide_rollback(plan: Plan, state: TrafficState, *, reason: str | None) -> Decision:
    """A rollback asked for by hand (`rollout rollback`): green's traffic back to blue, its version rejected."""
    green = plan.green.name if plan.green else state.green
    if green is None:
        raise InputError.at(str(plan.path), "there is no green version to roll back", field="models.green")
    if green in state.rejected and _moved(state, green) == 0:
        return Decision(action="hold", state=state, reason=f"green {green} is already rolled back and rejected")
    return _rollback(state, green, f"green {green}: {reason or 'rolled back by hand'}")


def _gate_rollback(state: TrafficState, green: str, verdict: Verdict | None) -> Decision:
    failing = _listed(verdict.failing()) if verdict else "a gate"
    return _rollback(state, green, f"green {green} failed {failing}")


def _listed(gates: tuple[GateResult, ...]) -> str:
    return ", ".join(f"{g.gate} ({g.reason})" for g in gates)


def _rollback(state: TrafficState, green: str, cause: str) -> Decision:
    moved = _moved(state, green)
    where = f"take its {moved}% back to blue" if moved else "it never received traffic"
    return Decision(action="rollback", state=state.rejecting(green), reason=f"{cause}: {where} and reject it")


def _moved(state: TrafficState, green: str) -> int:
    """The share of traffic a rollback of `green` takes back."""
    return state.weights.green if state.green == green and state.stage != ROLLED_BACK else 0


def _wait(state: TrafficState, reason: str, until: datetime) -> Decision:
    return Decision(action="hold", state=state, reason=reason, earliest=until)


def _evidence(verdict: Verdict | None, green: Build) -> str:
    if verdict is None:
        return "missing"
    if not covers(verdict.candidate, green):
        return "stale"
    return verdict.outcome


def covers(candidate: RunInfo, green: Build) -> bool:
    """A verdict's candidate is green only by name, revision and serving arguments, all three."""
    return (
        candidate.model == green.name
        and candidate.revision == green.revision
        and candidate.serving_digest == green.serving_digest
    )


def _missing(evidence: str, verdict: Verdict | None, green: Build) -> str:
    if evidence == "missing":
        return f"no verdict for green {green.describe()}: run the evals on both colors and gate them"
    if evidence == "stale" and verdict is not None and not verdict.candidate.model:
        return f"the verdict holds no results of green {green.describe()}: run its evals and gate them again"
    if evidence == "stale" and verdict is not None:
        candidate = verdict.candidate
        was = Build(
            name=candidate.model, revision=candidate.revision, serving_digest=candidate.serving_digest or "none"
        )
        return f"the verdict is for {was.describe()}, not green {green.describe()}: gate the current version"
    assert verdict is not None
    needs = "; ".join(f"{g.gate}: {g.reason}" for g in verdict.undecided())
    return f"the evidence is inconclusive ({needs})" if needs else "the evidence is inconclusive"


def _at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def _left(until: datetime, now: datetime) -> str:
    return format_duration(until - now) if until > now else format_duration(timedelta(0))


def decision_to_dict(decision: Decision) -> dict[str, object]:
    state = decision.state
    return {
        "action": decision.action,
        "reason": decision.reason,
        "stage": decision.stage.name if decision.stage else state.stage,
        "weights": {"blue": state.weights.blue, "green": state.weights.green},
        "green": state.green,
        "rejected": list(state.rejected),
        "earliest": decision.earliest.isoformat() if decision.earliest else None,
    }


EXIT_CODES: dict[Action, int] = {
    "advance": EXIT_OK,
    "decommission": EXIT_OK,
    "complete": EXIT_OK,
    "rollback": EXIT_FAILED,
    "hold": EXIT_INCONCLUSIVE,
}
"""The exit code of `rollout next` and `rollout propose` for each action."""
