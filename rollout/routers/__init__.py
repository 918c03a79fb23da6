"""Routers: which kinds exist, what each must do, and the config each renders for a traffic state.

One module per kind (`nginx`, `litellm`, `file`, `gateway_api`, `kserve`) implements `RouterAdapter`, and
`ADAPTERS` maps the plan's `router.kind` to it. Rendering is pure; `rollout.routers.apply` plans a
change and carries it out (the only I/O here, with `probes`); `split` judges the observed split. What
the kinds share lives in `_shared`.

A kind defines `render` and `problems`, and only those of `validate_command`, `reload_command`,
`start_command`, `probe_style`, `plan_warnings` and `plan_problems` it has something to say for: the functions of the same
name below (`router_problems` for `plan_problems`) give the default for the others (no check of its own,
nothing to reload, not probed: the written file is checked instead, no more to ask of the plan).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

from rollout.documents import FieldPath
from rollout.plan import Plan, RouterKind
from rollout.routers import file, gateway_api, kserve, litellm, nginx
from rollout.routers._shared import ProbeStyle, revised
from rollout.traffic import TrafficState

SERVICE_RELOAD = re.compile(r"(systemctl(?: --user)?) reload(?:-or-restart)? (\S+)|service (\S+) reload")
"""`systemctl reload litellm`, `service nginx reload`: a service manager's reload, whose restart is known."""


class RouterAdapter(Protocol):
    """What every router kind's module defines.

    render    the config text for a traffic state, with REVISION_SLOT where its revision goes (pure)
    problems  what is structurally wrong with a config text; [] when nothing is
    """

    def render(self, plan: Plan, state: TrafficState) -> str: ...

    def problems(self, text: str) -> list[str]: ...


@runtime_checkable
class Validates(Protocol):
    """A kind with a check of its own for a candidate config file (nginx -t)."""

    def validate_command(self, plan: Plan, candidate: Path, env: Mapping[str, str]) -> list[str]: ...


@runtime_checkable
class Reloads(Protocol):
    """A kind that knows how to reload its router when the plan gives no router.reload."""

    def reload_command(self, plan: Plan, env: Mapping[str, str]) -> list[str]: ...


@runtime_checkable
class Starts(Protocol):
    """A kind whose default reload only signals a running router, and that knows how to start one that stopped."""

    def start_command(self, plan: Plan, env: Mapping[str, str]) -> list[str]: ...


@runtime_checkable
class Warns(Protocol):
    """A kind with plans that are legal but cost traffic, which `rollout validate` should point out."""

    def plan_warnings(self, plan: Plan) -> list[str]: ...


@runtime_checkable
class ChecksPlan(Protocol):
    """A kind whose plan needs more than the schema says, depending on the environment apply runs in (LiteLLM:
    where the proxy holds a keyed model server's key); each problem is a plan field and a message."""

    def plan_problems(self, plan: Plan, env: Mapping[str, str]) -> list[tuple[FieldPath, str]]: ...


@runtime_checkable
class Probed(Protocol):
    """A kind whose running router can be asked, over HTTP, which color served a request."""

    def probe_style(self, plan: Plan) -> ProbeStyle: ...


ADAPTERS: dict[RouterKind, RouterAdapter] = {
    "litellm": litellm,
    "nginx": nginx,
    "file": file,
    "gateway-api": gateway_api,
    "kserve": kserve,
}

MANIFEST_KINDS: frozenset[RouterKind] = frozenset({"gateway-api", "kserve"})
"""Kinds whose config is Kubernetes manifests kept in the repository: they change in the same pull request as
the traffic file, and Argo CD or Flux applies them when it merges."""


def render_config(plan: Plan, state: TrafficState) -> str:
    """The router config for a traffic state: what `rollout apply` would write to `router.config`."""
    return rendered_config(plan, state)[0]


def rendered_config(plan: Plan, state: TrafficState) -> tuple[str, str]:
    """The router config for a traffic state and its revision, the digest of that config."""
    return revised(ADAPTERS[plan.router.kind].render(plan, state))


def validate_command(plan: Plan, candidate: Path, env: Mapping[str, str]) -> list[str] | None:
    """The router's own check of a candidate file, or None."""
    adapter = ADAPTERS[plan.router.kind]
    return adapter.validate_command(plan, candidate, env) if isinstance(adapter, Validates) else None


def reload_command(plan: Plan, env: Mapping[str, str]) -> list[str] | None:
    """The reload to run when the plan gives no router.reload; None: nothing to reload."""
    adapter = ADAPTERS[plan.router.kind]
    return adapter.reload_command(plan, env) if isinstance(adapter, Reloads) else None


def restart_command(plan: Plan, env: Mapping[str, str]) -> str | list[str] | None:
    """What brings back a router that stopped answering, as far as the plan tells: router.reload itself when it
    restarts (router.restarts), the restart of a service manager's reload, or the kind's own start when the
    plan gives no router.reload; None: the plan does not say how the router is started."""
    reload = plan.router.reload
    if reload is not None and plan.router.restarts:
        return reload
    if reload is not None:
        found = SERVICE_RELOAD.fullmatch(reload.strip())
        if found is None:
            return None
        return f"{found[1]} restart {found[2]}" if found[1] else f"service {found[3]} restart"
    adapter = ADAPTERS[plan.router.kind]
    return adapter.start_command(plan, env) if isinstance(adapter, Starts) else None


def router_problems(plan: Plan, env: Mapping[str, str]) -> list[tuple[FieldPath, str]]:
    """What the router needs of the plan that only the environment shows; [] when nothing is missing."""
    adapter = ADAPTERS[plan.router.kind]
    return adapter.plan_problems(plan, env) if isinstance(adapter, ChecksPlan) else []


def probe_style(plan: Plan) -> ProbeStyle | None:
    """How to ask the running router which color served; None: check the written file instead."""
    adapter = ADAPTERS[plan.router.kind]
    return adapter.probe_style(plan) if isinstance(adapter, Probed) else None


def router_warnings(plan: Plan) -> tuple[str, ...]:
    """What is legal in the plan's router section but fails or misroutes requests; `rollout validate` prints these."""
    found = []
    if plan.router.restarts:
        found.append(
            f"router.restarts: every change of weights restarts the {plan.router.kind} router, "
            "and requests fail until it answers again; docs/routers.md shows reloads that keep it answering"
        )
    adapter = ADAPTERS[plan.router.kind]
    if isinstance(adapter, Warns):
        found.extend(adapter.plan_warnings(plan))
    return tuple(found)
