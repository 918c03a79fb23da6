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

from rollout.plan import COLORS, Color, Plan
from rollout.routers._shared import headline
from rollout.routers.gateway_api import object_metadata
from rollout.serving.manifests import llm_inference_service
from rollout.traffic import TrafficState

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
    """One color's LLMInferenceService, marked with the stage and config revision it was rendered for."""
    found = llm_inference_service(plan, state, color)
    found["metadata"] = object_metadata(plan, state, found["metadata"]["name"], found["metadata"]["labels"])
    return found


def plan_warnings(plan: Plan) -> list[str]:
    """A color KServe serves but `rollout serve` would start on the runner instead."""
    return [
        f"models.{color}.supervisor is {plan.model(color).supervisor}: KServe serves {color} from router.config, "
        f"so `rollout serve start {color}` should apply it (supervisor: kubernetes), not start a local server"
        for color in COLORS
        if (color == "blue" or plan.green is not None) and plan.model(color).supervisor != "kubernetes"
    ]


def problems(text: str) -> list[str]:
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        return [f"not YAML: {exc}"]
    if not docs or any(not isinstance(d, dict) or d.get("kind") != KIND for d in docs):
        return [f"not a list of {KIND}s"]
    weights = [((d.get("spec") or {}).get("router") or {}).get("route", {}).get("weight") for d in docs]
    return [] if any(w for w in weights if isinstance(w, int)) else ["no member of the group gets traffic"]
