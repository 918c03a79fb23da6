"""How gates write numbers in their one-line reasons, so every reason reads the same way."""

from __future__ import annotations

import math

from rollout.gates.stats import Interval


def signed(value: float, digits: int = 3) -> str:
    return f"{value:+.{digits}f}"


def level(confidence: float, look: int = 1) -> str:
    """A confidence as a percent, with the decimals that tell a spent level from 100%: 95%, 99.1%, 99.94%.

    From the second look at growing results on, the level is the look's (stats.look_confidence), and says so.
    """
    error = 1 - confidence
    digits = max(1 if look > 1 else 0, math.ceil(-math.log10(error)) - 2 if error > 0 else 0)
    said = f"{confidence:.{digits}%}"
    return f"look {look}: {said}" if look > 1 else said


def ci(interval: Interval, confidence: float, *, digits: int = 3, sign: bool = True, look: int = 1) -> str:
    low, high = (
        (signed(v, digits) for v in (interval.low, interval.high))
        if sign
        else (f"{v:.{digits}f}" for v in (interval.low, interval.high))
    )
    return f"{level(confidence, look)} CI {low} to {high}"


def needed(cases: int | None, repeats: int | None = None, *, unit: str = "cases") -> str:
    if cases is None and repeats is None:
        return "the estimate sits on the threshold; more evidence narrows it but may not decide"
    options = [f"about {cases} {unit}"] if cases is not None else []
    if repeats is not None:
        options.append(f"{repeats} repeats per case")
    return " or ".join(options) + " would decide"
