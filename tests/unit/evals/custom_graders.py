"""Custom graders the suite tests load with `python: module:function`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def ends_with_period(output: str, options: Mapping[str, Any]) -> bool:
    return output.rstrip().endswith(".")


def raises(output: str, options: Mapping[str, Any]) -> float:
    raise RuntimeError("boom")


def out_of_range(output: str, options: Mapping[str, Any]) -> float:
    return 7.0
