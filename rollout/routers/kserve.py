"""KServe: one LLMInferenceService (`serving.kserve.io/v1alpha2`) per color, weighted by its routing group.

Each color is a member of the group `<service>` (`spec.router.route.group`) with its traffic share as
`spec.router.route.weight`; KServe's controller writes the weighted HTTPRoute. Weights are proportional,
so the percentages are used as they are. KServe advises against starting a member at weight 0 (raising it
later can fail connections), so green is no member until its first stage and joins at that stage's weight;
it leaves again when it has no traffic (a rollback). Blue stays a member, at weight 0 once green serves
everything. A color outside the group keeps its own route, `/<namespace>/<name>/v1/...`: that per-version
address is how the evals reach green before it takes traffic. Both colors serve the same model name
(`spec.model.name: <service>`), as KServe requires of a group. The file is the serving resource and the
traffic split at once: the GitOps engine applies it when the pull request merges, so apply checks what
it wrote.
"""

from __future__ import annotations

from typing import Any

import yaml

from rollout.plan import COLORS, Color, ModelVersion, Plan
from rollout.routers._shared import headline
from rollout.routers.gateway_api import backend_name, gateway_ref, object_metadata
from rollout.traffic import TrafficState

API_VERSION = "serving.kserve.io/v1alpha2"
KIND = "LLMInferenceService"


def render(plan: Plan, state: TrafficState) -> str:
    colors = [c for c in COLORS if c == "blue" or plan.green is not None]
    docs = [service(plan, state, color) for color in colors]
    header = (
        f"# LLMInferenceServices for {plan.service}, rendered by `rollout apply` from rollout-traffic.yaml; "
        f"edits are overwritten.\n# {headline(plan, state)}\n"
    )
    return header + yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False)


def service(plan: Plan, state: TrafficState, color: Color) -> dict[str, Any]:
    """One color's LLMInferenceService: what it serves, and its share of the group when it has one."""
    model = plan.model(color)
    weight = getattr(state.weights, color)
    member = color == "blue" or weight > 0
    route: dict[str, Any] = {"group": plan.service, "weight": weight} if member else {}
    router: dict[str, Any] = {"route": route, "gateway": _gateway(plan), "scheduler": {}}
    labels = {"rollout/color": color, "rollout/version": model.name}
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": object_metadata(plan, state, backend_name(plan, color), labels),
        "spec": {
            "model": {"uri": model_uri(model), "name": plan.service},
            "replicas": 1,
            "template": {"containers": [_container(model)]},
            "router": router,
        },
    }


def model_uri(model: ModelVersion) -> str:
    """KServe's storage URI for a Hugging Face model, pinned to the plan's revision (`hf://owner/model:rev`)."""
    if "://" in model.model:
        return model.model
    return f"hf://{model.model}" + (f":{model.revision}" if model.revision else "")


def _container(model: ModelVersion) -> dict[str, Any]:
    # KServe's template passes the container's args on to `vllm serve`, after the model and port it sets.
    container: dict[str, Any] = {"name": "main", "image": model.image}
    if model.args:
        container["args"] = list(model.args)
    if model.env:
        container["env"] = [{"name": k, "value": v} for k, v in sorted(model.env.items())]
    return container


def _gateway(plan: Plan) -> dict[str, Any]:
    return {"refs": [gateway_ref(plan.router.gateway)]} if plan.router.gateway else {}


def problems(text: str) -> list[str]:
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        return [f"not YAML: {exc}"]
    if not docs or any(not isinstance(d, dict) or d.get("kind") != KIND for d in docs):
        return [f"not a list of {KIND}s"]
    weights = [((d.get("spec") or {}).get("router") or {}).get("route", {}).get("weight") for d in docs]
    return [] if any(w for w in weights if isinstance(w, int)) else ["no member of the group gets traffic"]
