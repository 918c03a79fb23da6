"""Line up the cases both colors answered; set aside, and say so, the ones that cannot be compared."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rollout.evals.results import CaseResult, EvalResults

MAX_EXCLUDED_SHARE = 0.05
"""Above this share of cases set aside, a gate holds: what is missing could be where green is worse."""
LISTED_IDS = 50


@dataclass(frozen=True, kw_only=True, slots=True)
class CasePair:
    id: str
    blue: CaseResult
    green: CaseResult


@dataclass(frozen=True, kw_only=True)
class Paired:
    """The cases of one suite (or several, for latency and cost) as both colors answered them."""

    pairs: tuple[CasePair, ...]
    missing_in_blue: tuple[str, ...] = ()
    missing_in_green: tuple[str, ...] = ()
    errored: tuple[str, ...] = ()

    @property
    def excluded(self) -> int:
        return len(self.missing_in_blue) + len(self.missing_in_green) + len(self.errored)

    @property
    def total(self) -> int:
        return len(self.pairs) + self.excluded

    def exclusion_problem(self) -> str | None:
        """Why too little of the suite was compared to decide on, if it was."""
        if self.total and self.excluded / self.total > MAX_EXCLUDED_SHARE:
            return (
                f"{self.excluded} of {self.total} cases could not be compared ({self.exclusion_summary()}), "
                f"more than {MAX_EXCLUDED_SHARE:.0%}: fix the runs and evaluate again"
            )
        return None

    def exclusion_summary(self) -> str:
        parts = [
            (len(self.errored), "errored"),
            (len(self.missing_in_green), "missing on green"),
            (len(self.missing_in_blue), "missing on blue"),
        ]
        return ", ".join(f"{count} {what}" for count, what in parts if count) or "none"

    def exclusion_details(self) -> dict[str, Any]:
        return {
            "compared": len(self.pairs),
            "excluded": {
                "errored": _listed(self.errored),
                "missing_in_green": _listed(self.missing_in_green),
                "missing_in_blue": _listed(self.missing_in_blue),
            },
        }


def _listed(ids: Sequence[str]) -> dict[str, Any]:
    return {"count": len(ids), "ids": list(ids[:LISTED_IDS])}


def pair_cases(baseline: EvalResults, candidate: EvalResults) -> Paired:
    """Pair by case id."""
    pairs: list[CasePair] = []
    missing_in_green: list[str] = []
    errored: list[str] = []
    green_cases: Mapping[str, CaseResult] = candidate.by_id()
    for blue in baseline.cases:
        green = green_cases.get(blue.id)
        if green is None:
            missing_in_green.append(blue.id)
        elif _errored(blue) or _errored(green):
            errored.append(blue.id)
        else:
            pairs.append(CasePair(id=blue.id, blue=blue, green=green))
    # Case ids are unique in each file, so when every green case was matched none is missing on blue.
    missing_in_blue: tuple[str, ...] = ()
    if len(pairs) + len(errored) < len(green_cases):
        blue_ids = {case.id for case in baseline.cases}
        missing_in_blue = tuple(case_id for case_id in green_cases if case_id not in blue_ids)
    return Paired(
        pairs=tuple(pairs),
        missing_in_blue=missing_in_blue,
        missing_in_green=tuple(missing_in_green),
        errored=tuple(errored),
    )


def pool(parts: Sequence[Paired]) -> Paired:
    """Several suites' pairings as one (latency and cost pool every case both colors answered)."""
    if len(parts) == 1:
        return parts[0]
    return Paired(
        pairs=tuple(pair for part in parts for pair in part.pairs),
        missing_in_blue=tuple(i for part in parts for i in part.missing_in_blue),
        missing_in_green=tuple(i for part in parts for i in part.missing_in_green),
        errored=tuple(i for part in parts for i in part.errored),
    )


def _errored(case: CaseResult) -> bool:
    # A repeat that errored might have been a failure; keeping the case's other repeats would flatter it.
    return bool(case.errors) or not case.scores


PASS_SCORE = 0.5
"""A case passes when its mean score over repeats reaches this; a repeat fails below it."""
LISTED_REGRESSIONS = 20
KEPT_CHARS = 1000


def regression_details(regressed: Sequence[CasePair]) -> dict[str, Any]:
    """The cases green got wrong and blue got right, with what each answered, for the report to show."""
    return {
        "count": len(regressed),
        "cases": [
            {
                "id": pair.id,
                "prompt": _clip(pair.green.prompt or pair.blue.prompt or ""),
                "blue": _clip(_answer(pair.blue, failing=False)),
                "green": _clip(_answer(pair.green, failing=True)),
            }
            for pair in regressed[:LISTED_REGRESSIONS]
        ],
    }


def _answer(case: CaseResult, *, failing: bool) -> str:
    # Show green's failing answer and blue's passing one, where repeats differ.
    for score, output in zip(case.scores, case.outputs, strict=False):
        if (score < PASS_SCORE) == failing:
            return output
    return case.outputs[0] if case.outputs else ""


def _clip(text: str) -> str:
    return text if len(text) <= KEPT_CHARS else text[:KEPT_CHARS] + "…"
