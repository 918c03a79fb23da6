"""A color's serving resource as Kubernetes objects, for plans whose models run in a cluster (`supervisor: kubernetes`).

gateway-api: a Deployment running the plan's vLLM image with the color's model, revision, arguments and
environment, and in front of it a Service on the model's port or, with `router.backend_kind: InferencePool`,
an InferencePool selecting its pods (whose endpoint picker, `<name>-epp`, the cluster provides).
kserve: the color's LLMInferenceService, whose controller makes the workload and its routes itself.
Pure: the objects are returned, not sent.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rollout.plan import Color, ModelVersion, Plan
from rollout.serving.engines import vllm_options
from rollout.traffic import TrafficState

POD_HOST = "0.0.0.0"
"""vLLM listens on every address of its pod; the Service or the pool is what reaches it."""
EPP_PORT = 9002
"""The endpoint picker's gRPC port in the Inference Extension's own examples."""
INFERENCE_POOL_API = "inference.networking.k8s.io/v1"
KSERVE_API = "serving.kserve.io/v1alpha2"


def backend_name(plan: Plan, color: Color) -> str:
    """The Kubernetes name of a color's objects (Service, InferencePool, Deployment or LLMInferenceService)."""
    return plan.router.backends.get(color, f"{plan.service}-{color}")


def selector(plan: Plan, color: Color) -> dict[str, str]:
    """The labels of a color's pods, which its Service or InferencePool selects."""
    return {"app.kubernetes.io/name": backend_name(plan, color), "app.kubernetes.io/part-of": plan.service}


def metadata(plan: Plan, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"name": name}
    if plan.router.namespace:
        found["namespace"] = plan.router.namespace
    found["labels"] = {"app.kubernetes.io/managed-by": "model-rollout", **(labels or {})}
    return found


def serving_objects(plan: Plan, state: TrafficState, color: Color) -> list[dict[str, Any]]:
    """What serves `color` in the cluster, in the order to apply it."""
    if plan.router.kind == "kserve":
        return [llm_inference_service(plan, state, color)]
    front = inference_pool(plan, color) if plan.router.backend_kind == "InferencePool" else service(plan, color)
    return [deployment(plan, color), front]


def deployment(plan: Plan, color: Color) -> dict[str, Any]:
    model = plan.model(color)
    name = backend_name(plan, color)
    container: dict[str, Any] = {
        "name": "vllm",
        "image": model.image,
        "args": [model.model, *_served_as_service(plan, replace(model, host=POD_HOST))],
        "ports": [{"name": "http", "containerPort": model.port}],
        "readinessProbe": {"httpGet": {"path": "/health", "port": model.port}, "periodSeconds": 5},
    }
    if model.env:
        container["env"] = _env(model)
    if model.resources:
        container["resources"] = _resources(model)
    # The pods carry no color: a promoted green becomes blue without a change to its pod template, which
    # would make the Deployment replace its pods.
    labels = {**selector(plan, color), "rollout/color": color, "rollout/version": model.name}
    pods = {key: value for key, value in labels.items() if key != "rollout/color"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(plan, name, labels),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector(plan, color)},
            "template": {"metadata": {"labels": pods}, "spec": {"containers": [container]}},
        },
    }


def _served_as_service(plan: Plan, model: ModelVersion) -> list[str]:
    # The gateway passes the request's model (the service) through unchanged, so vLLM answers to both names:
    # its own first, which /v1/models reports and the verdicts bind to, then the service's.
    options = list(vllm_options(model))
    at = options.index("--served-model-name")
    options.insert(at + 2, plan.service)
    return options


def service(plan: Plan, color: Color) -> dict[str, Any]:
    port = plan.model(color).port
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(plan, backend_name(plan, color), {"rollout/color": color}),
        "spec": {"selector": selector(plan, color), "ports": [{"name": "http", "port": port, "targetPort": port}]},
    }


def inference_pool(plan: Plan, color: Color) -> dict[str, Any]:
    name = backend_name(plan, color)
    return {
        "apiVersion": INFERENCE_POOL_API,
        "kind": "InferencePool",
        "metadata": metadata(plan, name, {"rollout/color": color}),
        "spec": {
            "selector": {"matchLabels": selector(plan, color)},
            "targetPorts": [{"number": plan.model(color).port}],
            "endpointPickerRef": {"name": f"{name}-epp", "port": {"number": EPP_PORT}},
        },
    }


def llm_inference_service(plan: Plan, state: TrafficState, color: Color) -> dict[str, Any]:
    """One color's LLMInferenceService: what it serves, and its share of the routing group when it is a member.

    Blue is always a member; green only while it has traffic, so it never joins at weight 0.
    """
    model = plan.model(color)
    weight = getattr(state.weights, color)
    member = color == "blue" or weight > 0
    route: dict[str, Any] = {"group": plan.service, "weight": weight} if member else {}
    gateway: dict[str, Any] = {"refs": [gateway_ref(plan.router.gateway)]} if plan.router.gateway else {}
    container: dict[str, Any] = {"name": "main", "image": model.image}
    # KServe's template passes the container's args on to `vllm serve`, after the model and port it sets.
    if model.args:
        container["args"] = list(model.args)
    if model.env:
        container["env"] = _env(model)
    if model.resources:
        container["resources"] = _resources(model)
    return {
        "apiVersion": KSERVE_API,
        "kind": "LLMInferenceService",
        "metadata": metadata(plan, backend_name(plan, color), {"rollout/color": color, "rollout/version": model.name}),
        "spec": {
            "model": {"uri": model_uri(model), "name": plan.service},
            "replicas": 1,
            "template": {"containers": [container]},
            "router": {"route": route, "gateway": gateway, "scheduler": {}},
        },
    }


def gateway_ref(gateway: str) -> dict[str, str]:
    """A Gateway named NAME or NAMESPACE/NAME, as a reference."""
    namespace, _, name = gateway.rpartition("/")
    return {"name": name, **({"namespace": namespace} if namespace else {})}


def model_uri(model: ModelVersion) -> str:
    """KServe's storage URI for a Hugging Face model, pinned to the plan's revision (`hf://owner/model:rev`)."""
    if "://" in model.model:
        return model.model
    return f"hf://{model.model}" + (f":{model.revision}" if model.revision else "")


def _env(model: ModelVersion) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in sorted(model.env.items())]


def _resources(model: ModelVersion) -> dict[str, dict[str, str | int]]:
    return {part: dict(amounts) for part, amounts in model.resources.items()}
