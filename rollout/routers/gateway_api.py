"""Kubernetes Gateway API: an HTTPRoute with weighted backendRefs, committed for Argo CD or Flux to apply.

Backends are `router.backends.<color>` (default `<service>-blue`, `<service>-green`) in `router.namespace`:
Services on each color's model port, or, with `router.backend_kind: InferencePool`, the Gateway API
Inference Extension's InferencePools (`inference.networking.k8s.io/v1`), one per color, as in the
extension's conformance test of a route weighted across two pools. The route attaches to `router.gateway`. A color at 0%
is left out. Internal stages get two rules: requests with `X-Rollout-Audience: internal` are split,
everything else goes to blue. The cluster applies the file when it syncs, so apply checks what it
wrote, not live traffic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from rollout.errors import InputError
from rollout.plan import Plan
from rollout.routers._shared import (
    AUDIENCE_HEADER,
    REVISION_SLOT,
    Backend,
    audience,
    backends,
    headline,
    public_blue,
)
from rollout.serving.manifests import backend_name, gateway_ref, metadata
from rollout.traffic import TrafficState


def render(plan: Plan, state: TrafficState) -> str:
    chosen = backends(plan, state)
    split = [_backend_ref(plan, b) for b in chosen]
    if audience(plan, state) == "internal":
        rules: list[dict[str, Any]] = [
            {"matches": [{"headers": [{"name": AUDIENCE_HEADER, "value": "internal"}]}], "backendRefs": split},
            {"backendRefs": [_backend_ref(plan, public_blue(plan))]},
        ]
    else:
        rules = [{"backendRefs": split}]
    if plan.router.gateway is None:
        raise InputError.at(
            str(plan.path), "gateway-api needs the Gateway the HTTPRoute attaches to", field="router.gateway"
        )
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": object_metadata(plan, state, plan.service),
        "spec": {"parentRefs": [gateway_ref(plan.router.gateway)], "rules": rules},
    }
    header = (
        f"# HTTPRoute for {plan.service}, rendered by `rollout apply` from rollout-traffic.yaml; "
        f"edits are overwritten.\n# {headline(plan, state)}\n"
    )
    return header + yaml.safe_dump(route, sort_keys=False, default_flow_style=False)


INFERENCE_GROUP = "inference.networking.k8s.io"


def object_metadata(
    plan: Plan, state: TrafficState, name: str, labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The metadata of an object we render: its namespace, our label, and the stage and config revision."""
    found = metadata(plan, name, dict(labels or {}))
    found["annotations"] = {"rollout/stage": state.stage or "none", "rollout/revision": REVISION_SLOT}
    return found


def _backend_ref(plan: Plan, backend: Backend) -> dict[str, Any]:
    name = backend_name(plan, backend.color)
    if plan.router.backend_kind == "InferencePool":
        return {"group": INFERENCE_GROUP, "kind": "InferencePool", "name": name, "weight": backend.weight}
    return {"name": name, "port": plan.model(backend.color).port, "weight": backend.weight}


def problems(text: str) -> list[str]:
    try:
        route = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return [f"not YAML: {exc}"]
    if not isinstance(route, dict) or route.get("kind") != "HTTPRoute":
        return ["not an HTTPRoute"]
    rules = (route.get("spec") or {}).get("rules") or []
    found = []
    for i, rule in enumerate(rules):
        refs = rule.get("backendRefs") or []
        if not refs or sum(ref.get("weight", 1) for ref in refs) <= 0:
            found.append(f"spec.rules[{i}]: no backend gets traffic")
    return found or ([] if rules else ["spec.rules is empty"])
