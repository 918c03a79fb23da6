"""Router kinds, each a module implementing RouterAdapter, looked up by the plan's `router.kind`."""

from __future__ import annotations

from rollout.plan import Plan, RouterKind
from rollout.routers import file, gateway_api, litellm, nginx
from rollout.routers.adapter import RouterAdapter
from rollout.traffic import TrafficState

ADAPTERS: dict[RouterKind, RouterAdapter] = {
    "litellm": litellm,
    "nginx": nginx,
    "file": file,
    "gateway-api": gateway_api,
}


def render_config(plan: Plan, state: TrafficState) -> str:
    """The router config for a traffic state: what `rollout apply` would write to `router.config`."""
    return ADAPTERS[plan.router.kind].render(plan, state)
