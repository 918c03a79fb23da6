"""How gates write numbers in their one-line reasons, so every reason reads the same way."""

from __future__ import annotations

from rollout.gates.stats import Interval


def signed(value: float, digits: int = 3) -> str:
    return f"{value:+.{digits}f}"


def ci(interval: Interval, confidence: float, *, digits: int = 3, sign: bool = True) -> str:
    low, high = (
        (signed(v, digits) for v in (interval.low, interval.high))
        if sign
        else (f"{v:.{digits}f}" for v in (interval.low, interval.high))
    )
    return f"{confidence:.0%} CI {low} to {high}"


def needed(cases: int | None, repeats: int | None = None, *, unit: str = "cases") -> str:
    if cases is None and repeats is None:
        return "the estimate sits on the threshold; more evidence narrows it but may not decide"
    options = [f"about {cases} {unit}"] if cases is not None else []
    if repeats is not None:
        options.append(f"{repeats} repeats per case")
    return " or ".join(options) + " would decide"
