"""Fixture plans for unit tests: frozen copies, so that editing the example plan breaks no unit test."""

from __future__ import annotations

from pathlib import Path

PLANS = Path(__file__).resolve().parents[1] / "fixtures" / "plans"
# vLLM blue and green, LiteLLM in front, four stages, the quality, safety, latency and cost gates.
CHAT_PLAN = PLANS / "chat" / "rollout-plan.yaml"
