"""Fixture plans for unit tests: frozen copies, so that editing the example plan breaks no unit test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rollout.gates.verdict import RunInfo
from rollout.plan import ModelVersion, serving_args_digest

PLANS = Path(__file__).resolve().parents[1] / "fixtures" / "plans"
# vLLM blue and green, LiteLLM in front, four stages, the quality, safety, latency and cost gates.
CHAT_PLAN = PLANS / "chat" / "rollout-plan.yaml"


def candidate_of(version: ModelVersion, **fields: Any) -> RunInfo:
    """A verdict's candidate that covers `version`: its name, revision and serving arguments."""
    return RunInfo(model=version.name, revision=version.revision, serving_digest=serving_args_digest(version), **fields)
