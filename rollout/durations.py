"""Durations as people write them in a plan: `90s`, `90m`, `36h`, `2d`, `1w`, or `1d12h`."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(text: str) -> timedelta:
    """Parse a duration; raise ValueError with a readable reason otherwise."""
    compact = text.strip().replace(" ", "")
    if not compact or _PART.sub("", compact):
        raise ValueError(f"{text!r} is not a duration (write a number and a unit: 90s, 90m, 36h, 2d, 1w)")
    seconds = sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(compact))
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, seconds = divmod(seconds, _UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts[:2])
