"""The one-line account of a run that `rollout eval` prints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollout.evals.results import EvalResults
from rollout.evals.reuse import provenance_note


@dataclass(frozen=True, kw_only=True)
class Summary:
    cases: int
    scored: int
    errors: int
    mean: float | None

    @property
    def all_failed(self) -> bool:
        return self.scored == 0 and self.errors > 0


def summarize(results: EvalResults) -> Summary:
    scores = [score for case in results.cases for score in case.scores]
    return Summary(
        cases=len(results.cases),
        scored=len(scores),
        errors=sum(len(case.errors) for case in results.cases),
        mean=sum(scores) / len(scores) if scores else None,
    )


def summary_line(results: EvalResults, summary: Summary) -> str:
    mean = "n/a" if summary.mean is None else f"{summary.mean:.3f}"
    stopped = " (interrupted: partial results)" if results.interrupted else ""
    note = provenance_note(reused_from=results.reused_from, rounds=results.rounds)
    return (
        f"{results.suite} on {results.target} ({results.model}): {summary.cases} cases, "
        f"{summary.scored} scored, mean score {mean}, {summary.errors} errors{stopped}" + (f"; {note}" if note else "")
    )


def summary_dict(results: EvalResults, summary: Summary, out: Path | None) -> dict[str, Any]:
    return {
        "suite": results.suite,
        "target": results.target,
        "model": results.model,
        "run_id": results.run_id,
        "cases": summary.cases,
        "scored": summary.scored,
        "errors": summary.errors,
        "mean": None if summary.mean is None else round(summary.mean, 4),
        "interrupted": results.interrupted,
        "rounds": results.rounds,
        "reused_from": None if results.reused_from is None else results.reused_from.run_id,
        "out": None if out is None else str(out),
    }
