"""The live gates: what each color's users got over the stage's window, green against blue. Pure.

The sources (gates/live_sources.py) count, per color, the requests and server errors, the end-to-end
latencies and times to first token (as histograms: a log's exact times are a histogram with a bucket per
value), and the output tokens with the seconds spent on them. Each measure comes from the first source
in the plan's list that has it for both colors, and the verdict says which one that was.

Every watch round reads the whole window again, from the commit that started the stage to now, so the
evidence only grows; every interval here is a confidence sequence (gates/stats.py) and holds however
often it is read:
- live-errors: green's error rate minus blue's, a score confidence sequence for two proportions
  (pass: wholly below `margin`; fail: wholly above), and green's own rate against `ceiling` with the
  exact rate sequence (fail as soon as its lower end is above: the rollback does not wait for the soak);
- live-latency: the p95 of e2e latency and of TTFT, green over blue. For the true p95 Q of a color,
  1{latency > Q} is a coin with P = 0.05, so the exact rate sequence of the counts above any bound says at
  every look which bounds Q is above or below (distribution-free; a histogram's bucket bounds limit how
  close it gets). The ratio's interval divides the two colors' ends, each at half the error;
- live-cost: $ per 1M output tokens, GPU price times the seconds requests took over the tokens they
  produced, green over blue (a normal-mixture sequence on the log ratio, delta method).
Below `min_requests` per color every live gate is inconclusive, never a pass.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from rollout.gates.stats import (
    Interval,
    Proportions,
    growth_to_decide,
    proportion_score,
    proportion_sequence,
    proportion_sequence_excludes,
    rate_sequence,
    ratio_sequence,
)
from rollout.gates.verdict import GateOutcome, GateResult, Verdict, combine
from rollout.plan import COLORS, Color, LiveGate
from rollout.serving.metrics import Histogram, quantile

MEASURES = ("requests", "errors", "e2e", "ttft", "output_tokens", "e2e_seconds")
P95 = 0.95
LIVE_GATES = ("live-errors", "live-latency", "live-cost")


@dataclass(frozen=True, kw_only=True)
class ColorTraffic:
    """What one source saw of one color in the window; None where the source does not measure it."""

    requests: int | None = None
    errors: int | None = None
    e2e: Histogram | None = None
    """End-to-end latency in seconds."""
    ttft: Histogram | None = None
    """Time to first token in seconds."""
    output_tokens: float | None = None
    e2e_seconds: float | None = None
    """The sum of the requests' end-to-end latencies: the time the server spent on them."""


@dataclass(frozen=True, kw_only=True)
class Reading:
    """One source's view of both colors, or why it has none."""

    source: str
    traffic: Mapping[Color, ColorTraffic] = field(default_factory=dict)
    note: str | None = None
    unavailable: str | None = None


@dataclass(frozen=True, kw_only=True)
class LiveWindow:
    """Where the live gates' window starts, and whether blue still serves a share to compare green with."""

    start: datetime
    blue_serves: bool = True


@dataclass(frozen=True, kw_only=True)
class LiveTraffic:
    """Both colors over [start, end], merged from the readings in the plan's order."""

    start: datetime
    end: datetime
    readings: tuple[Reading, ...]
    blue_serves: bool = True
    """False at 100%: green has nothing to be compared with, and only its own error ceiling applies."""

    def merged(self) -> tuple[dict[Color, ColorTraffic], dict[str, str]]:
        """Each measure from the first reading that has it for both colors, and which reading that was."""
        traffic: dict[Color, ColorTraffic] = {color: ColorTraffic() for color in COLORS}
        provenance: dict[str, str] = {}
        for measure in MEASURES:
            for reading in self.readings:
                values = [getattr(reading.traffic.get(c, ColorTraffic()), measure) for c in COLORS]
                if reading.unavailable is None and all(v is not None for v in values):
                    for color, value in zip(COLORS, values, strict=True):
                        traffic[color] = replace(traffic[color], **{measure: value})
                    provenance[measure] = reading.source
                    break
        return traffic, provenance


def live_failures(verdict: Verdict, *, window_start: datetime) -> tuple[GateResult, ...]:
    """The live gates of `verdict` that failed over the window from `window_start`.

    They measured what green's users got in that window, whichever build the offline results beside them are
    for: a failure binds to the stage the window is of, not to the verdict's candidate.
    """
    return tuple(g for g in verdict.failing() if g.gate in LIVE_GATES and _window_start(g.details) == window_start)


def _window_start(details: Mapping[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(details["window"]["start"])
    except (KeyError, TypeError, ValueError):
        return None


def histogram_of(values: Sequence[float]) -> Histogram:
    """Exact values as a histogram with a bucket at each distinct value."""
    return histogram_of_counts(Counter(values))


def histogram_of_counts(counts: Mapping[float, int]) -> Histogram:
    """Exact values, given as how often each occurs, as a histogram with a bucket at each of them."""
    buckets: list[tuple[float, float]] = []
    total = 0
    for value in sorted(counts):
        total += counts[value]
        buckets.append((value, float(total)))
    buckets.append((math.inf, float(total)))
    return Histogram(buckets=tuple(buckets), count=float(total), sum=math.fsum(v * n for v, n in counts.items()))


def quantile_sequence(histogram: Histogram, q: float, *, confidence: float) -> Interval:
    """A confidence sequence for the q-quantile, from the counts above each bucket bound (see the module doc).

    The lower end is the highest bound the quantile is shown above, the upper end the lowest bound it is shown
    at or below (infinite when none is: the top bucket is open).
    """
    finite = [(bound, cumulative) for bound, cumulative in histogram.buckets if not math.isinf(bound)]
    total = histogram.buckets[-1][1] if histogram.buckets else 0.0
    if total <= 0 or not finite:
        return Interval(low=0.0, high=math.inf)

    def sequence(i: int) -> Interval:
        return rate_sequence(total - finite[i][1], total, confidence=confidence)

    # The counts above a bound fall as the bound rises, and so do both ends of their sequence: search, not scan.
    above = _first(len(finite), lambda i: not sequence(i).low > 1 - q)
    at_or_below = _first(len(finite), lambda i: sequence(i).high < 1 - q)
    return Interval(
        low=finite[above - 1][0] if above > 0 else 0.0,
        high=finite[at_or_below][0] if at_or_below < len(finite) else math.inf,
    )


def _first(n: int, holds: Callable[[int], bool]) -> int:
    """The first index in range(n) where a predicate that turns True once and stays True holds (n if none)."""
    low, high = 0, n
    while low < high:
        middle = (low + high) // 2
        if holds(middle):
            high = middle
        else:
            low = middle + 1
    return low


@dataclass(frozen=True, kw_only=True)
class Check:
    name: str
    outcome: GateOutcome
    reason: str
    estimate: float | None = None
    interval: Interval | None = None
    threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.name,
            "outcome": self.outcome,
            "estimate": _finite(self.estimate),
            "interval": [_finite(self.interval.low), _finite(self.interval.high)] if self.interval else None,
            "threshold": self.threshold,
            "reason": self.reason,
        }


def live_gates(live: LiveTraffic, config: LiveGate) -> list[GateResult]:
    """The live-errors gate, and live-latency and live-cost where the plan sets them."""
    traffic, provenance = live.merged()
    blue, green = traffic["blue"], traffic["green"]
    base: dict[str, Any] = {
        "window": {
            "start": live.start.isoformat(),
            "end": live.end.isoformat(),
            "seconds": round((live.end - live.start).total_seconds(), 3),
        },
        "sources": [
            {"source": r.source, "note": r.note, "unavailable": r.unavailable}
            for r in live.readings
            if r.note or r.unavailable or r.source in provenance.values()
        ],
        "measured_by": provenance,
        "measures": _measures(blue, green, config),
    }
    if not live.blue_serves:
        return _green_alone(green, config, base)
    short = _too_few(blue, green, config.min_requests)
    gates: list[tuple[str, list[Check]]] = [("live-errors", _error_checks(blue, green, config) if not short else [])]
    if config.latency is not None:
        gates.append(("live-latency", _latency_checks(blue, green, config) if not short else []))
    if config.cost is not None:
        gates.append(("live-cost", [_cost_check(blue, green, config)] if not short else []))
    return [_result(name, checks, short, base) for name, checks in gates]


def _result(name: str, checks: list[Check], short: str | None, base: Mapping[str, Any]) -> GateResult:
    if short is not None:
        return GateResult(gate=name, outcome="inconclusive", reason=short, details=dict(base))
    outcome = combine(c.outcome for c in checks)
    lead = next(c for c in checks if c.outcome == outcome)
    return GateResult(
        gate=name,
        outcome=outcome,
        reason="; ".join(c.reason for c in checks if c.outcome == outcome) if outcome != "pass" else lead.reason,
        estimate=_finite(lead.estimate),
        interval=_pair(lead.interval),
        threshold=lead.threshold,
        details={**base, "checks": [c.to_dict() for c in checks]},
    )


def _green_alone(green: ColorTraffic, config: LiveGate, base: Mapping[str, Any]) -> list[GateResult]:
    """Green serves everything: the comparisons have no blue traffic, and green's own ceiling still stands."""
    if green.requests is None or green.requests < config.min_requests:
        served = "no requests counted" if green.requests is None else f"{green.requests} requests"
        short = f"green served {served} in the window; at least {config.min_requests} are needed"
        return [_result("live-errors", [], short, base)]
    alone = "blue serves no traffic at this stage, so nothing is compared with it"
    checks = [c for c in _error_checks(green, green, config) if c.name == "error ceiling"]
    results = [_result("live-errors", checks or [Check(name="errors", outcome="pass", reason=alone)], None, base)]
    results += [
        _result(name, [Check(name=name, outcome="pass", reason=alone)], None, base)
        for name, configured in (("live-latency", config.latency), ("live-cost", config.cost))
        if configured is not None
    ]
    return results


def _too_few(blue: ColorTraffic, green: ColorTraffic, minimum: int) -> str | None:
    if blue.requests is None or green.requests is None:
        return "no source counted the requests of both colors in the window"
    if min(blue.requests, green.requests) >= minimum:
        return None
    return (
        f"blue served {blue.requests} and green {green.requests} requests in the window; "
        f"at least {minimum} per color are needed, so this waits for more traffic"
    )


def _error_checks(blue: ColorTraffic, green: ColorTraffic, config: LiveGate) -> list[Check]:
    if blue.errors is None or green.errors is None:
        return [Check(name="error rate", outcome="inconclusive", reason="no source counted the errors of both colors")]
    assert blue.requests is not None and green.requests is not None
    margin, confidence = config.errors.margin, config.confidence
    checks = []
    if config.errors.ceiling is not None:
        own = rate_sequence(green.errors, green.requests, confidence=confidence)
        rate = green.errors / green.requests
        above = own.low > config.errors.ceiling
        checks.append(
            Check(
                name="error ceiling",
                outcome="fail" if above else "pass",
                estimate=rate,
                interval=own,
                threshold=config.errors.ceiling,
                reason=(
                    f"green failed {green.errors} of {green.requests} requests ({rate:.2%}, {_cs(own, confidence)}): "
                    f"{'above' if above else 'not shown above'} the {config.errors.ceiling:.1%} ceiling"
                ),
            )
        )
    counts = Proportions(new=green.errors, new_n=green.requests, old=blue.errors, old_n=blue.requests)
    tuned = max(margin, 0.001) / 3
    sequence = proportion_sequence(counts, confidence=confidence, tuned_at=tuned)
    side = proportion_sequence_excludes(counts, margin, confidence=confidence, tuned_at=tuned)
    outcome: GateOutcome = "fail" if side == 1 else "pass" if side == -1 else "inconclusive"
    described = (
        f"error rate green {green.errors / green.requests:.2%} vs blue {blue.errors / blue.requests:.2%}, "
        f"difference {counts.difference:+.2%} ({_cs(sequence, confidence)}) against a margin of {margin:.1%}"
    )
    if outcome == "inconclusive":
        distance, error = proportion_score(counts, margin)
        factor = growth_to_decide(distance, error, confidence=confidence, tuned_at=tuned)
        more = (
            f"; about {math.ceil(factor * green.requests)} green requests at these rates would decide"
            if factor
            else "; the rates sit on the margin"
        )
        described += more
    checks.append(
        Check(
            name="error rate vs blue",
            outcome=outcome,
            estimate=counts.difference,
            interval=sequence,
            threshold=margin,
            reason=described,
        )
    )
    return checks


def _latency_checks(blue: ColorTraffic, green: ColorTraffic, config: LiveGate) -> list[Check]:
    assert config.latency is not None
    wanted = (
        ("p95 e2e latency", "e2e", config.latency.p95_ratio_max),
        ("p95 TTFT", "ttft", config.latency.ttft_p95_ratio_max),
    )
    checks = [
        _quantile_ratio(name, getattr(blue, measure), getattr(green, measure), limit, config.confidence)
        for name, measure, limit in wanted
        if limit is not None
    ]
    return checks or [Check(name="latency", outcome="pass", reason="no live latency limit set; measured only")]


def _quantile_ratio(
    name: str, blue: Histogram | None, green: Histogram | None, limit: float, confidence: float
) -> Check:
    if blue is None or green is None:
        return Check(name=name, outcome="inconclusive", reason=f"no source measured the {name} of both colors")
    each = 1 - (1 - confidence) / 2
    g, b = (quantile_sequence(h, P95, confidence=each) for h in (green, blue))
    g95, b95 = quantile(green, P95), quantile(blue, P95)
    estimate = g95 / b95 if g95 is not None and b95 else None
    ratio = Interval(
        low=g.low / b.high if b.high > 0 else 0.0,
        high=g.high / b.low if b.low > 0 else math.inf,
    )
    outcome: GateOutcome = "pass" if ratio.high <= limit else "fail" if ratio.low > limit else "inconclusive"
    shown = f"{estimate:.2f}" if estimate is not None else "n/a"
    reason = (
        f"{name} green/blue {shown} ({_cs(ratio, confidence, digits=2, percent=False)}) against a limit of {limit:g}"
    )
    if outcome == "inconclusive":
        reason += "; more requests narrow it (a histogram's buckets bound how far)"
    return Check(name=name, outcome=outcome, estimate=estimate, interval=ratio, threshold=limit, reason=reason)


def _cost_check(blue: ColorTraffic, green: ColorTraffic, config: LiveGate) -> Check:
    assert config.cost is not None
    name, limit = "$ per 1M output tokens", config.cost.ratio_max
    prices = config.cost.gpu_hour_usd
    per_token = {
        "blue": _dollars_per_million(blue, prices["blue"]),
        "green": _dollars_per_million(green, prices["green"]),
    }
    if per_token["blue"] is None or per_token["green"] is None or not per_token["blue"]:
        return Check(name=name, outcome="inconclusive", reason="no source measured both colors' tokens and seconds")
    ratio = per_token["green"] / per_token["blue"]
    error = math.sqrt(sum(_log_variance(t) for t in (blue, green)))
    interval = ratio_sequence(math.log(ratio), error, confidence=config.confidence, tuned_at=0.03)
    outcome: GateOutcome = "pass" if interval.high <= limit else "fail" if interval.low > limit else "inconclusive"
    return Check(
        name=name,
        outcome=outcome,
        estimate=ratio,
        interval=interval,
        threshold=limit,
        reason=f"{name} green/blue {ratio:.2f} ({_cs(interval, config.confidence, digits=2, percent=False)}) "
        f"against a limit of {limit:g}",
    )


def _dollars_per_million(traffic: ColorTraffic, gpu_hour_usd: float) -> float | None:
    if not traffic.output_tokens or traffic.e2e_seconds is None:
        return None
    return gpu_hour_usd * traffic.e2e_seconds / 3600 / traffic.output_tokens * 1_000_000


def _log_variance(traffic: ColorTraffic) -> float:
    """The variance of log(mean seconds per request), from the latency histogram (bucket midpoints)."""
    histogram, n = traffic.e2e, traffic.requests or 0
    if histogram is None or n <= 1 or histogram.sum <= 0:
        return math.inf
    mean = histogram.sum / histogram.count if histogram.count else 0.0
    spread, lower, below = 0.0, 0.0, 0.0
    for bound, cumulative in histogram.buckets:
        middle = lower if math.isinf(bound) else (lower + bound) / 2
        spread += (cumulative - below) * (middle - mean) ** 2
        lower, below = (lower if math.isinf(bound) else bound), cumulative
    variance = spread / max(histogram.count - 1, 1)
    return variance / (mean * mean * n) if mean > 0 else math.inf


def _measures(blue: ColorTraffic, green: ColorTraffic, config: LiveGate) -> dict[str, dict[str, Any]]:
    def each(value: Any) -> dict[str, Any]:
        return {"blue": value(blue), "green": value(green)}

    def ms(histogram: Histogram | None) -> float | None:
        found = quantile(histogram, P95) if histogram is not None and histogram.count else None
        return round(found * 1000, 1) if found is not None else None

    measures = {
        "requests": each(lambda t: t.requests),
        "errors": each(lambda t: t.errors),
        "error rate": each(lambda t: round(t.errors / t.requests, 5) if t.requests and t.errors is not None else None),
        "p95 e2e ms": each(lambda t: ms(t.e2e)),
        "p95 TTFT ms": each(lambda t: ms(t.ttft)),
        "output tokens": each(lambda t: t.output_tokens),
    }
    if config.cost is not None:
        prices = config.cost.gpu_hour_usd
        measures["$ per 1M output tokens"] = {
            "blue": _round(_dollars_per_million(blue, prices["blue"])),
            "green": _round(_dollars_per_million(green, prices["green"])),
        }
    return {name: values for name, values in measures.items() if any(v is not None for v in values.values())}


def _pair(interval: Interval | None) -> tuple[float, float] | None:
    if interval is None or not (math.isfinite(interval.low) and math.isfinite(interval.high)):
        return None
    return (interval.low, interval.high)


def _round(value: float | None) -> float | None:
    return round(value, 4) if value is not None else None


def _finite(value: float | None) -> float | None:
    """JSON has no infinity: an open end is written as null."""
    return value if value is not None and math.isfinite(value) else None


def _cs(interval: Interval, confidence: float, *, digits: int = 2, percent: bool = True) -> str:
    def show(v: float) -> str:
        if not math.isfinite(v):
            return "∞"
        return f"{v:.{digits}%}" if percent else f"{v:.{digits}f}"

    return f"{confidence:.0%} confidence sequence {show(interval.low)} to {show(interval.high)}"
