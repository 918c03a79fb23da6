"""The latency and cost gates: green over blue, from the timings and token counts in the results.

Both pool every case the two colors answered, across suites: the same prompts, so the same work. `look` is the
most runs any of those results hold; from the second on, the intervals are read at stats.look_confidence's level.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

from rollout.evals.results import CaseResult
from rollout.gates.pairing import CasePair, Paired
from rollout.gates.stats import (
    RESAMPLES,
    Interval,
    look_confidence,
    quantile,
    quantile_interval,
    quantile_ratio_interval,
    ratio_of_ratios_interval,
    tail_resamples,
)
from rollout.gates.verdict import GateOutcome, GateResult, combine, compare, look_details
from rollout.gates.wording import ci
from rollout.plan import CostGate, LatencyGate

MIN_LATENCIES = 20
"""A p95 of fewer timings is just the slowest one."""


@dataclass(frozen=True, kw_only=True)
class Check:
    name: str
    outcome: GateOutcome
    estimate: float | None
    interval: Interval | None
    threshold: float
    reason: str


@dataclass(frozen=True, kw_only=True)
class Level:
    """The level a look reads the latency intervals at, and the bootstrap draws that resolve its tails."""

    confidence: float
    look: int
    resamples: int

    def ci(self, interval: Interval, *, digits: int) -> str:
        return ci(interval, self.confidence, digits=digits, sign=False, look=self.look)


def latency_gate(paired: Paired, config: LatencyGate, *, look: int = 1) -> GateResult:
    confidence = look_confidence(config.confidence, look)
    blue = _timings(paired.pairs, "blue")
    green = _timings(paired.pairs, "green")
    details: dict[str, Any] = {
        "compared": len(paired.pairs),
        "measures": _latency_measures(blue, green),
        **look_details(look, confidence),
    }
    if min(len(blue["latency"]), len(green["latency"])) < MIN_LATENCIES:
        return GateResult(
            gate="latency",
            outcome="inconclusive",
            details=details,
            reason=f"only {min(len(blue['latency']), len(green['latency']))} timed completions; "
            f"at least {MIN_LATENCIES} per color are needed for a p95",
        )
    # A first look draws as it always has; a later one's narrower tails need more draws to be resolved at all.
    level = Level(confidence=confidence, look=look, resamples=RESAMPLES if look == 1 else tail_resamples(confidence))
    details["ratios"] = _ratios(blue, green, level)
    checks = []
    if config.p95_ratio_max is not None:
        checks.append(_ratio_check(blue["latency"], green["latency"], config.p95_ratio_max, level))
    if config.ttft_p95_ms_max is not None:
        checks.append(_ttft_check(green["ttft"], config.ttft_p95_ms_max, level))
    if not checks:
        return GateResult(
            gate="latency", outcome="pass", details=details, reason="no latency limit set in the plan; measured only"
        )
    details["checks"] = [
        {
            "check": c.name,
            "outcome": c.outcome,
            "estimate": c.estimate,
            "threshold": c.threshold,
            "interval": [c.interval.low, c.interval.high] if c.interval else None,
            "reason": c.reason,
        }
        for c in checks
    ]
    outcome = combine(c.outcome for c in checks)
    lead = next(c for c in checks if c.outcome == outcome) if outcome != "pass" else checks[0]
    return GateResult(
        gate="latency",
        outcome=outcome,
        estimate=lead.estimate,
        threshold=lead.threshold,
        interval=(lead.interval.low, lead.interval.high) if lead.interval else None,
        details=details,
        reason="; ".join(c.reason for c in checks),
    )


def _ratio_check(blue: list[float], green: list[float], limit: float, level: Level) -> Check:
    interval = quantile_ratio_interval(green, blue, 0.95, confidence=level.confidence, resamples=level.resamples)
    if interval is None or quantile(blue, 0.95) <= 0:
        return Check(
            name="p95 latency ratio",
            outcome="inconclusive",
            estimate=None,
            interval=None,
            threshold=limit,
            reason="blue's p95 latency is 0 ms, so no ratio can be taken",
        )
    estimate = quantile(green, 0.95) / quantile(blue, 0.95)
    outcome = compare(interval.low, interval.high, limit, better="below")
    return Check(
        name="p95 latency ratio",
        outcome=outcome,
        estimate=estimate,
        interval=interval,
        threshold=limit,
        reason=f"p95 latency green/blue {estimate:.2f} ({level.ci(interval, digits=2)}) "
        f"{_against(outcome)} {limit:.2f}",
    )


def _ttft_check(green: list[float], limit: float, level: Level) -> Check:
    if len(green) < MIN_LATENCIES:
        return Check(
            name="green p95 TTFT",
            outcome="inconclusive",
            estimate=None,
            interval=None,
            threshold=limit,
            reason=f"only {len(green)} time-to-first-token timings on green",
        )
    estimate = quantile(green, 0.95)
    interval = quantile_interval(green, 0.95, confidence=level.confidence, resamples=level.resamples)
    outcome = compare(interval.low, interval.high, limit, better="below")
    return Check(
        name="green p95 TTFT",
        outcome=outcome,
        estimate=estimate,
        interval=interval,
        threshold=limit,
        reason=f"green p95 TTFT {estimate:.0f} ms ({level.ci(interval, digits=0)}) {_against(outcome)} {limit:.0f} ms",
    )


def _ratios(blue: dict[str, list[float]], green: dict[str, list[float]], level: Level) -> dict[str, dict[str, Any]]:
    ratios = {}
    for label, key, q in (
        ("p50 latency", "latency", 0.5),
        ("p95 latency", "latency", 0.95),
        ("p50 TTFT", "ttft", 0.5),
        ("p95 TTFT", "ttft", 0.95),
    ):
        if min(len(blue[key]), len(green[key])) < MIN_LATENCIES or quantile(blue[key], q) <= 0:
            continue
        interval = quantile_ratio_interval(
            green[key], blue[key], q, confidence=level.confidence, resamples=level.resamples
        )
        ratios[label] = {
            "estimate": quantile(green[key], q) / quantile(blue[key], q),
            "interval": [interval.low, interval.high] if interval else None,
        }
    return ratios


def _against(outcome: GateOutcome) -> str:
    return {"pass": "within", "fail": "over", "inconclusive": "not clearly within"}[outcome]


def _timings(pairs: Sequence[CasePair], color: str) -> dict[str, list[float]]:
    cases = [getattr(pair, color) for pair in pairs]
    latency = list(chain.from_iterable(case.latency_ms for case in cases))
    ttft = [t for t in chain.from_iterable(case.ttft_ms for case in cases) if t is not None]
    speed = [
        tokens / (ms / 1000)
        for case in cases
        for ms, tokens in zip(case.latency_ms, case.output_tokens, strict=False)
        if tokens is not None and ms > 0
    ]
    latency.sort()
    ttft.sort()
    speed.sort()
    return {"latency": latency, "ttft": ttft, "speed": speed}


def _latency_measures(blue: dict[str, list[float]], green: dict[str, list[float]]) -> dict[str, dict[str, Any]]:
    rows = (
        ("p50 TTFT ms", "ttft", 0.5),
        ("p95 TTFT ms", "ttft", 0.95),
        ("p50 latency ms", "latency", 0.5),
        ("p95 latency ms", "latency", 0.95),
        ("p50 tokens/s", "speed", 0.5),
    )
    return {
        label: {
            "blue": quantile(blue[key], q) if blue[key] else None,
            "green": quantile(green[key], q) if green[key] else None,
        }
        for label, key, q in rows
    }


def cost_gate(paired: Paired, config: CostGate, *, look: int = 1) -> GateResult:
    confidence = look_confidence(config.confidence, look)
    totals = [_seconds_and_tokens(p) for p in paired.pairs]
    usable = [t for t in totals if t is not None]
    prices = {color: config.gpu_hour_usd.get(color) for color in ("blue", "green")}
    price_ratio = (prices["green"] / prices["blue"]) if prices["blue"] and prices["green"] is not None else 1.0
    measured = ratio_of_ratios_interval(usable, confidence=confidence) if usable else None
    details: dict[str, Any] = {"compared": len(usable), "gpu_hour_usd": prices, **look_details(look, confidence)}
    if measured is None:
        return GateResult(
            gate="cost",
            outcome="inconclusive",
            threshold=config.ratio_max,
            details=details,
            reason="no case has both latency and output token counts on both colors",
        )
    seconds_ratio, interval = measured
    details["measures"] = _cost_measures(usable, prices)
    estimate = seconds_ratio * price_ratio
    if not math.isfinite(interval.high):
        return GateResult(
            gate="cost",
            outcome="inconclusive",
            estimate=estimate,
            threshold=config.ratio_max,
            details=details,
            reason=f"$ per output token green/blue {estimate:.2f}, but one case carries a whole total: "
            "no spread to bound it by",
        )
    low, high = interval.low * price_ratio, interval.high * price_ratio
    outcome = compare(low, high, config.ratio_max, better="below")
    reason = (
        f"$ per output token green/blue {estimate:.2f} "
        f"({ci(Interval(low=low, high=high), confidence, digits=2, sign=False, look=look)}) "
        f"{_against(outcome)} {config.ratio_max:.2f}"
    )
    if not (prices["blue"] and prices["green"] is not None):
        reason += " (no GPU prices in the plan: same price assumed)"
    return GateResult(
        gate="cost",
        outcome=outcome,
        estimate=estimate,
        interval=(low, high),
        threshold=config.ratio_max,
        details=details,
        reason=reason,
    )


def _seconds_and_tokens(pair: CasePair) -> tuple[float, float, float, float] | None:
    # GPU-time per output token, as one request stream sees it; both colors ran the same prompts the same
    # way, so the ratio compares like with like even though absolute $ depends on batching. Times stay in
    # milliseconds, as recorded: a ratio of ratios does not care, and a million cases make no new floats.
    green_ms, green_tokens = _work(pair.green)
    blue_ms, blue_tokens = _work(pair.blue)
    if green_ms <= 0 or green_tokens <= 0 or blue_ms <= 0 or blue_tokens <= 0:
        return None
    return green_ms, green_tokens, blue_ms, blue_tokens


def _work(case: CaseResult) -> tuple[float, int]:
    """Milliseconds and output tokens over the repeats whose token count is known."""
    latency, tokens = case.latency_ms, case.output_tokens
    if len(latency) == 1 and len(tokens) == 1:
        return (latency[0], tokens[0]) if tokens[0] is not None else (0.0, 0)
    timed = [(ms, count) for ms, count in zip(latency, tokens, strict=False) if count is not None]
    return sum(ms for ms, _ in timed), sum(count for _, count in timed)


def _cost_measures(
    usable: Sequence[tuple[float, float, float, float]], prices: dict[str, float | None]
) -> dict[str, dict[str, Any]]:
    speed = {
        "green": sum(u[1] for u in usable) / sum(u[0] for u in usable) * 1000,
        "blue": sum(u[3] for u in usable) / sum(u[2] for u in usable) * 1000,
    }
    measures: dict[str, dict[str, Any]] = {"tokens/s per request": speed}
    if prices["blue"] is not None and prices["green"] is not None:
        measures["$ per 1M output tokens (one stream)"] = {
            color: price / 3600 / speed[color] * 1e6 for color, price in prices.items() if price is not None
        }
    return measures
