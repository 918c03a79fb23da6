"""Golden files: a renderer's expected output, checked in so that a reviewer reads what changed as a diff.

Set ROLLOUT_UPDATE_GOLDEN=1 to rewrite them after an intended change, then read `git diff`.
"""

from __future__ import annotations

import os
from pathlib import Path

VERDICTS = Path(__file__).resolve().parents[1] / "fixtures" / "verdicts"
"""Verdicts as `rollout gate --out` wrote them for the fixture plan's gates: pass, fail, inconclusive."""


def assert_golden(expected: Path, actual: str) -> None:
    if os.environ.get("ROLLOUT_UPDATE_GOLDEN"):
        expected.parent.mkdir(parents=True, exist_ok=True)
        expected.write_text(actual)
    assert expected.exists(), f"{expected} is missing: run with ROLLOUT_UPDATE_GOLDEN=1 to write it"
    assert actual == expected.read_text(), f"{expected} differs (ROLLOUT_UPDATE_GOLDEN=1 rewrites it if intended)"
