"""Does an observed split of probe requests agree with the intended weight? Pure statistics.

Each probe lands on green or blue independently, so the green count is binomial. We accept the
observation when the intended share lies inside the Wilson score interval of the observed share:
that is exactly the score test's acceptance region around the intended share, so a correct router
fails verification with probability 1 - confidence. Exact 0% and 100% are not statistical: one probe
on the wrong color is a misrouted request, and fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rollout.gates.stats import wilson

# A false alarm undoes a healthy change, and the faults worth catching (weights ignored, the wrong
# upstream, a stale config) are gross, so we can afford a high level: one correct apply in 10,000 fails.
CONFIDENCE = 0.9999


@dataclass(frozen=True, kw_only=True)
class Expectation:
    """Probes sent as `audience` should reach green `green_percent` of the time."""

    audience: str
    green_percent: int
    probes: int


@dataclass(frozen=True, kw_only=True)
class SplitCheck:
    audience: str
    intended: int
    blue: int
    green: int
    other: int
    low: float
    high: float
    ok: bool
    failures: tuple[tuple[str, int], ...] = ()
    """The other outcomes and how many probes had each (`HTTP 500`, `unanswered`), most frequent first."""

    @property
    def observed(self) -> float:
        served = self.blue + self.green
        return 100.0 * self.green / served if served else 0.0

    def describe(self) -> str:
        served = self.blue + self.green
        verdict = "ok" if self.ok else "MISMATCH"
        outcomes = ", ".join(f"{outcome} x{count}" for outcome, count in self.failures)
        extra = f", {self.other} failed or unattributed" + (f": {outcomes}" if outcomes else "") if self.other else ""
        return (
            f"{self.audience}: intended green {self.intended}%, observed {self.green}/{served} "
            f"= {self.observed:.1f}% (interval {100 * self.low:.1f}-{100 * self.high:.1f}%{extra}) {verdict}"
        )


def check_split(expectation: Expectation, counts: Mapping[str, int], *, confidence: float = CONFIDENCE) -> SplitCheck:
    """Judge the colors counted for one audience: every probe served, by a plausible share of green."""
    blue, green = counts.get("blue", 0), counts.get("green", 0)
    failures = sorted(
        ((c, n) for c, n in counts.items() if c not in ("blue", "green") and n), key=lambda f: (-f[1], f[0])
    )
    other = sum(n for _, n in failures)
    interval = wilson(green, blue + green, confidence=confidence)
    intended = expectation.green_percent
    if intended == 0:
        agrees = green == 0
    elif intended == 100:
        agrees = blue == 0
    else:
        agrees = interval.low <= intended / 100 <= interval.high
    return SplitCheck(
        audience=expectation.audience,
        intended=intended,
        blue=blue,
        green=green,
        other=other,
        low=interval.low,
        high=interval.high,
        ok=agrees and other == 0 and blue + green > 0,
        failures=tuple(failures),
    )
