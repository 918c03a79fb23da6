"""Reuse or run: whether a watch round must ask a suite again, or may take over what an earlier run recorded.

An offline suite's answers depend on the model (name, revision, serving arguments) and on the suite as run
(its digest). At temperature 0, when none of them changed, asking again can only repeat the same answers:
the recorded results are reused, marked with the run that produced them, and no request is sent. A sampled
suite (any case above temperature 0) gains evidence from every run instead: this round's repeats are added
to the recorded ones and `rounds` counts the runs they hold, up to the suite's `max_rounds`; from there on its
results are reused as they are, so a long soak does not grow them without bound. Anything else runs afresh. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, TypeVar

from rollout.evals.results import CaseResult, EvalResults, ReusedFrom

ReuseAction = Literal["reuse", "accumulate", "run"]
T = TypeVar("T")


def evidence_path(target: str, suite: str) -> str:
    """Where the latest results of a suite on a color are kept: in the folder `--rollout-reuse` reads, and
    on the evidence branch that `rollout evidence save` writes."""
    return f"{target}/{suite}.json"


@dataclass(frozen=True, kw_only=True)
class PlannedRun:
    """What this round's run of a suite against a color would be."""

    suite: str
    target: str
    model: str
    revision: str | None
    serving_digest: str | None
    suite_digest: str
    case_ids: tuple[str, ...]
    sampled: bool
    """Some case is asked at a temperature above 0: its answers vary from run to run."""
    max_rounds: int
    """The most rounds a sampled suite's results accumulate over (the suite's `max_rounds`)."""


@dataclass(frozen=True, kw_only=True)
class ReuseChoice:
    action: ReuseAction
    reason: str
    recorded: EvalResults | None = None
    """The recorded results to reuse or add to (None to run afresh)."""


def decide_reuse(recorded: EvalResults | None, planned: PlannedRun) -> ReuseChoice:
    """Reuse the recorded results (deterministic suite without request errors, or a sampled one at its
    `max_rounds`; same provenance, complete), add this round's repeats to them (sampled suite below the cap,
    same provenance, complete, request errors and all), or run afresh (anything else), with the reason."""
    if recorded is None:
        return ReuseChoice(action="run", reason="no recorded results")
    if planned.revision is None or planned.serving_digest is None:
        # without a revision the weights behind a name can change unseen; a URL target has no serving digest
        return ReuseChoice(action="run", reason="the plan gives no revision and serving arguments to match")
    changed = [
        what
        for what, old, new in (
            ("suite", recorded.suite, planned.suite),
            ("target", recorded.target, planned.target),
            ("model", recorded.model, planned.model),
            ("revision", recorded.revision, planned.revision),
            ("serving arguments", recorded.serving_digest, planned.serving_digest),
            ("suite digest", recorded.suite_digest, planned.suite_digest),
        )
        if old != new
    ]
    if changed:
        return ReuseChoice(action="run", reason=f"the {', '.join(changed)} changed since run {recorded.run_id}")
    problem = _incomplete(recorded, planned.case_ids)
    if problem:
        return ReuseChoice(action="run", reason=f"run {recorded.run_id} {problem}")
    if not planned.sampled and any(case.errors for case in recorded.cases):
        # at temperature 0 a request that failed may answer now; a sampled suite keeps its failures as
        # evidence, since starting over would also restart the count of looks the gates spend over
        return ReuseChoice(action="run", reason=f"run {recorded.run_id} had request errors")
    if planned.sampled and recorded.rounds >= planned.max_rounds:
        return ReuseChoice(
            action="reuse",
            reason=f"run {recorded.run_id} holds {recorded.rounds} rounds, the most this suite takes",
            recorded=recorded,
        )
    if planned.sampled:
        return ReuseChoice(
            action="accumulate",
            reason=f"sampled suite: this round's repeats are added to the {recorded.rounds} recorded "
            f"round{'s' if recorded.rounds != 1 else ''}",
            recorded=recorded,
        )
    return ReuseChoice(
        action="reuse",
        reason=f"same model revision, serving arguments and suite at temperature 0 as run {recorded.run_id}",
        recorded=recorded,
    )


def _incomplete(recorded: EvalResults, case_ids: tuple[str, ...]) -> str | None:
    if recorded.interrupted:
        return "was interrupted"
    cases = recorded.by_id()
    missing = [case_id for case_id in case_ids if case_id not in cases]
    if missing or len(cases) != len(case_ids):
        return "holds other cases than this run asks"
    return None


def reused(recorded: EvalResults) -> EvalResults:
    """The recorded results as this round's, marked with the run that produced them."""
    origin = recorded.reused_from or ReusedFrom(run_id=recorded.run_id, at=recorded.finished_at)
    return replace(recorded, reused_from=origin)


def accumulate(recorded: EvalResults, fresh: EvalResults) -> EvalResults:
    """This round's repeats added to the recorded ones, case by case; the union spans both runs."""
    before = recorded.by_id()
    return replace(
        fresh,
        rounds=recorded.rounds + 1,
        started_at=recorded.started_at or fresh.started_at,
        reused_from=None,
        cases=tuple(_joined(before[case.id], case) if case.id in before else case for case in fresh.cases),
    )


def _joined(old: CaseResult, new: CaseResult) -> CaseResult:
    def joined(before: tuple[T, ...], after: tuple[T, ...]) -> tuple[T, ...]:
        # a per-repeat list only where both runs kept one value per scored repeat, as results require
        whole = len(before) == len(old.scores) and len(after) == len(new.scores)
        return before + after if whole else ()

    return replace(
        new,
        scores=old.scores + new.scores,
        latency_ms=joined(old.latency_ms, new.latency_ms),
        ttft_ms=joined(old.ttft_ms, new.ttft_ms),
        output_tokens=joined(old.output_tokens, new.output_tokens),
        errors=old.errors + new.errors,
        outputs=joined(old.outputs, new.outputs),
    )


def provenance_note(*, reused_from: ReusedFrom | None, rounds: int) -> str | None:
    """What a report says of results that are not one fresh run: reused, or accumulated over rounds."""
    if reused_from is not None and rounds > 1:
        return f"{capped(rounds)} from run {reused_from.run_id} at {reused_from.at}"
    if reused_from is not None:
        return f"reused from run {reused_from.run_id} at {reused_from.at} (same revision, serving args and suite)"
    if rounds > 1:
        return f"{rounds} rounds accumulated"
    return None


def capped(rounds: int) -> str:
    return f"{rounds} rounds accumulated, the most this suite takes; reused"
