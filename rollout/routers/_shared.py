"""What the router kinds share: the pure facts about a traffic state that every config renders, and how a probe
asks a running router which color served it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rollout.errors import InputError
from rollout.plan import COLORS, Color, Plan
from rollout.routers.split import Expectation
from rollout.traffic import TrafficState

AUDIENCE_HEADER = "X-Rollout-Audience"


@dataclass(frozen=True, kw_only=True)
class Reply:
    """What a probe saw: enough to attribute it to a color or to recognise the live config."""

    status: int
    headers: Mapping[str, str]
    body: bytes = b""


@dataclass(frozen=True, kw_only=True)
class ProbeStyle:
    """How to ask a router which color served a request, and whether it runs a given config revision."""

    method: str
    path: str
    color: Callable[[Reply], str | None]
    live_path: str
    is_live: Callable[[Reply, str], bool]
    body: Mapping[str, Any] | None = None
    audience_headers: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    auth_env: tuple[str, ...] = ()
    live_timeout: float = 10.0
    failure_hint: str = ""
    """What to say when probes were answered with an error: where such errors usually come from."""


@dataclass(frozen=True, kw_only=True)
class Backend:
    color: Color
    name: str
    url: str
    weight: int


def backends(plan: Plan, state: TrafficState) -> tuple[Backend, ...]:
    """The colors that get traffic, with their weights; a color at 0% is left out of every config."""
    if state.weights.blue + state.weights.green != 100:
        raise InputError.at(
            str(plan.traffic_path),
            f"weights add up to {state.weights.blue + state.weights.green}, not 100",
            field="weights",
        )
    found = []
    for color in COLORS:
        weight = getattr(state.weights, color)
        if weight > 0:
            model = plan.model(color)
            found.append(Backend(color=color, name=model.name, url=model.url, weight=weight))
    return tuple(found)


def public_blue(plan: Plan) -> Backend:
    """Blue as it serves everyone outside an internal stage's audience: all of their traffic."""
    return Backend(color="blue", name=plan.blue.name, url=plan.blue.url, weight=100)


def upstreams(plan: Plan, state: TrafficState) -> tuple[Backend, ...]:
    """The colors a config must be able to reach: those with weight, and blue for everyone else in an internal stage."""
    chosen = backends(plan, state)
    if audience(plan, state) == "internal" and all(b.color != "blue" for b in chosen):
        return (public_blue(plan), *chosen)
    return chosen


def audience(plan: Plan, state: TrafficState) -> str:
    stage = plan.stage(state.stage)
    return stage.audience if stage is not None else "all"


def expectations(plan: Plan, state: TrafficState, probes: int) -> tuple[Expectation, ...]:
    """The probe groups that prove a state: an internal stage must also keep green away from everyone else."""
    if audience(plan, state) == "internal":
        return (
            Expectation(audience="internal", green_percent=state.weights.green, probes=probes),
            Expectation(audience="all", green_percent=0, probes=max(1, probes // 4)),
        )
    return (Expectation(audience="all", green_percent=state.weights.green, probes=probes),)


REVISION_SLOT = "@rollout-revision@"
"""What a renderer writes where the config's revision goes; `revised` fills it in."""


def revised(text: str) -> tuple[str, str]:
    """The config with its revision filled in, and the revision: a digest of the rendered config itself, so a
    change of what the router is given (new router settings after an upgrade, too) is a new revision that the
    probes can tell from the old, even for the same traffic state. Routers echo it so we know it is live."""
    revision = hashlib.sha256(text.encode()).hexdigest()[:12]
    return text.replace(REVISION_SLOT, revision), revision


REVISION = re.compile(r"\b[0-9a-f]{12}\b")


def revision_of(text: str | None) -> str | None:
    """The revision `revised` filled into a config (the one that is the digest of the config with it taken out
    again), or None for a config rollout did not render: what the router echoes while it runs that config."""
    found: list[str] = REVISION.findall(text or "")
    for candidate in dict.fromkeys(found):
        if revised((text or "").replace(candidate, REVISION_SLOT))[1] == candidate:
            return candidate
    return None


def headline(plan: Plan, state: TrafficState) -> str:
    parts = ", ".join(f"{b.color} {b.name} {b.weight}%" for b in backends(plan, state))
    who = " (green for internal requests only)" if audience(plan, state) == "internal" else ""
    return f"service {plan.service}, stage {state.stage or 'none'}: {parts}{who}"
