"""The quality gate: is green's mean score at most `margin` below blue's, on the same cases?

`look` is how many runs the results hold (a sampled suite's repeats accumulated over watch rounds): from the
second on, the interval is read at the spent level of stats.look_confidence, so all the looks together keep the
plan's level.
"""

from __future__ import annotations

from rollout.gates.pairing import PASS_SCORE, Paired, regression_details
from rollout.gates.stats import (
    discordance,
    look_confidence,
    mean,
    paired_cases_to_decide,
    paired_excludes,
    paired_interval,
    paired_repeats_to_decide,
    stdev,
)
from rollout.gates.verdict import GateOutcome, GateResult, look_details
from rollout.gates.wording import ci, needed, signed
from rollout.plan import QualityGate


def quality_gate(paired: Paired, config: QualityGate, *, suite: str, look: int = 1) -> GateResult:
    pairs = paired.pairs
    confidence = look_confidence(config.confidence, look)
    details = {"suite": suite, **paired.exclusion_details(), **look_details(look, confidence)}
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
    pairs_mass = discordance(diffs)
    estimate = pairs_mass.difference
    interval = paired_interval(pairs_mass, confidence=confidence)
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
            "discordance": {"worse": pairs_mass.worse, "better": pairs_mass.better},
            "regressions": regression_details(regressed),
        }
    )
    said = f"green - blue mean score {signed(estimate)} ({ci(interval, confidence, look=look)}) over {len(pairs)} cases"
    side = paired_excludes(pairs_mass, threshold, confidence=confidence)
    outcome: GateOutcome = "pass" if side > 0 else "fail" if side < 0 else "inconclusive"
    if outcome == "pass":
        reason = f"{said} stays above {signed(threshold)}"
    elif outcome == "fail":
        reason = f"{said} is below {signed(threshold)}"
    else:
        cases = paired_cases_to_decide(pairs_mass, threshold, confidence=confidence)
        # Each case's repeat-to-repeat spread estimates the model's sampling noise, the part repeats average away.
        noise = [_noise(p.green.scores) + _noise(p.blue.scores) for p in pairs]
        more_repeats = paired_repeats_to_decide(
            diffs, noise, threshold, repeats=repeats, look=look, confidence=config.confidence
        )
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


def _noise(scores: tuple[float, ...]) -> float:
    """The variance of a case's mean score that comes from its repeats alone."""
    return stdev(scores) ** 2 / len(scores)
