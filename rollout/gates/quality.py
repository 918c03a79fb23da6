"""The quality gate: is green's mean score at most `margin` below blue's, on the same cases?"""

from __future__ import annotations

from rollout.gates.pairing import PASS_SCORE, Paired, regression_details
from rollout.gates.stats import (
    SEED,
    bootstrap_mean,
    mean,
    repeats_to_decide,
    samples_to_decide,
    stdev,
)
from rollout.gates.verdict import GateResult, compare
from rollout.gates.wording import ci, needed, signed
from rollout.plan import QualityGate

PSEUDO_CASES = (-1.0, 1.0)
"""One pseudo-case at each end of the range of a per-case difference; see stats.bootstrap_mean."""


def quality_gate(paired: Paired, config: QualityGate, *, suite: str, seed: int = SEED) -> GateResult:
    pairs = paired.pairs
    details = {"suite": suite, **paired.exclusion_details()}
    if not pairs:
        return GateResult(
            gate="quality",
            outcome="inconclusive",
            threshold=-config.margin,
            details=details,
            reason=f"no case of suite {suite} was scored on both colors",
        )
    blue = [p.blue.mean or 0.0 for p in pairs]
    green = [p.green.mean or 0.0 for p in pairs]
    diffs = [g - b for g, b in zip(green, blue, strict=True)]
    estimate = mean(diffs)
    interval = bootstrap_mean(diffs, confidence=config.confidence, pseudo=PSEUDO_CASES, seed=seed)
    threshold = -config.margin
    regressed = [p for p, b, g in zip(pairs, blue, green, strict=True) if b >= PASS_SCORE > g]
    repeats = min(min(len(p.blue.scores), len(p.green.scores)) for p in pairs)
    details.update(
        {
            "measures": {
                "mean score": {"blue": mean(blue), "green": mean(green)},
                "cases compared": {"blue": len(pairs), "green": len(pairs)},
                "cases passed": {
                    "blue": sum(b >= PASS_SCORE for b in blue),
                    "green": sum(g >= PASS_SCORE for g in green),
                },
            },
            "repeats": repeats,
            "regressions": regression_details(regressed),
        }
    )
    said = f"green - blue mean score {signed(estimate)} ({ci(interval, config.confidence)}) over {len(pairs)} cases"
    outcome = compare(interval.low, interval.high, threshold, better="above")
    if outcome == "pass":
        reason = f"{said} stays above {signed(threshold)}"
    elif outcome == "fail":
        reason = f"{said} is below {signed(threshold)}"
    else:
        distance = abs(estimate - threshold)
        cases = samples_to_decide(
            len(pairs), estimate - interval.low if estimate > threshold else interval.high - estimate, distance
        )
        more_repeats = _repeats_needed(paired, diffs, repeats, distance, config.confidence)
        details["needed"] = {"cases": cases, "repeats": more_repeats}
        reason = f"{said} straddles {signed(threshold)}: {needed(cases, more_repeats)}"
    problem = paired.exclusion_problem()
    if problem and outcome == "pass":
        outcome, reason = "inconclusive", problem
    return GateResult(
        gate="quality",
        outcome=outcome,
        estimate=estimate,
        threshold=threshold,
        interval=(interval.low, interval.high),
        details=details,
        reason=reason,
    )


def _repeats_needed(paired: Paired, diffs: list[float], repeats: int, distance: float, confidence: float) -> int | None:
    if repeats < 2:
        return None
    # Each case's repeat-to-repeat spread estimates the model's sampling noise, the part repeats average away.
    within_now = mean(
        [
            stdev(p.green.scores) ** 2 / len(p.green.scores) + stdev(p.blue.scores) ** 2 / len(p.blue.scores)
            for p in paired.pairs
        ]
    )
    between = max(0.0, stdev(diffs) ** 2 - within_now)
    wanted = repeats_to_decide(
        cases=len(diffs),
        between_variance=between,
        within_variance=within_now * repeats,
        distance=distance,
        confidence=confidence,
    )
    return wanted if wanted is not None and wanted > repeats else None
