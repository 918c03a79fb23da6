"""Put a color's serving resource into a Kubernetes cluster and wait until it is ready (`supervisor: kubernetes`).

With a kubeconfig ($KUBECONFIG) the objects of `rollout.serving.manifests` are server-side applied through the
official `kubernetes` client (field manager `model-rollout`), and `rollout serve start` returns once the
Deployment has its replicas available, or the LLMInferenceService reports `Ready`. Without one the objects are
written beside `router.config` for the repository, and readiness is left to the GitOps engine's health checks
once it syncs them. KServe's LLMInferenceServices are in `router.config` itself, which `rollout apply` renders.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from rollout.atomic import write_atomic
from rollout.errors import ExternalError, InputError
from rollout.plan import Color, Plan
from rollout.serving.manifests import backend_name, serving_objects
from rollout.traffic import load_traffic

FIELD_MANAGER = "model-rollout"
POLL_SECONDS = 2.0
PLURALS = {
    "Deployment": "deployments",
    "Service": "services",
    "InferencePool": "inferencepools",
    "LLMInferenceService": "llminferenceservices",
}


@dataclass(frozen=True, kw_only=True)
class ClusterStart:
    color: Color
    action: Literal["applied", "rendered"]
    objects: tuple[str, ...]
    """Each object as `Kind namespace/name`."""
    path: Path | None = None
    """Where the objects were written when there is no cluster to apply them to."""
    waited_seconds: float = 0.0

    def describe(self) -> str:
        listed = ", ".join(self.objects)
        if self.action == "applied":
            return f"{self.color}: applied {listed}; ready after {self.waited_seconds:.0f}s"
        where = f"wrote {self.path}" if self.path else "rendered into router.config by `rollout apply`"
        return f"{self.color}: {where} ({listed}); no kubeconfig, so the GitOps engine applies it and its health checks say when it is ready"


def start(
    plan: Plan,
    color: Color,
    *,
    env: Mapping[str, str],
    timeout: float,
    api_client: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ClusterStart:
    """Apply `color`'s serving objects and wait until they serve, or write them for the repository."""
    objects = serving_objects(plan, load_traffic(plan), color)
    namespace = plan.router.namespace or "default"
    names = tuple(f"{o['kind']} {namespace}/{o['metadata']['name']}" for o in objects)
    if api_client is None and not env.get("KUBECONFIG"):
        if plan.router.kind == "kserve":
            return ClusterStart(color=color, action="rendered", objects=names)
        path = plan.router.config.parent / f"{backend_name(plan, color)}.yaml"
        header = (
            f"# {color} {plan.model(color).name}, rendered by `rollout serve start {color}`; edits are overwritten.\n"
        )
        write_atomic(path, header + yaml.safe_dump_all(objects, sort_keys=False))
        return ClusterStart(color=color, action="rendered", objects=names, path=path)
    client = api_client if api_client is not None else _client(env["KUBECONFIG"])
    began = clock()
    for obj in objects:
        _request(client, "PATCH", _path(obj, namespace), body=obj)
    _wait_ready(client, objects[0], namespace, deadline=began + timeout, sleep=sleep, clock=clock)
    return ClusterStart(color=color, action="applied", objects=names, waited_seconds=clock() - began)


@dataclass(frozen=True, kw_only=True)
class ClusterStatus:
    color: Color
    object: str
    """The object whose readiness is the color's, as `Kind namespace/name`."""
    ready: bool | None
    """None: there is no kubeconfig to ask, and the GitOps engine's health checks say."""
    reason: str

    def describe(self) -> str:
        state = {True: "ready", False: "not ready", None: "not asked"}[self.ready]
        return f"{self.color}: {self.object} {state}: {self.reason}"


def status(plan: Plan, color: Color, *, env: Mapping[str, str], api_client: Any = None) -> ClusterStatus:
    """Whether `color`'s serving object is ready, as the Kubernetes API reports it."""
    main = serving_objects(plan, load_traffic(plan), color)[0]
    namespace = plan.router.namespace or "default"
    name = f"{main['kind']} {namespace}/{main['metadata']['name']}"
    if api_client is None and not env.get("KUBECONFIG"):
        return ClusterStatus(
            color=color, object=name, ready=None, reason="no kubeconfig; see the GitOps engine's health"
        )
    client = api_client if api_client is not None else _client(env["KUBECONFIG"])
    waiting = not_ready(_request(client, "GET", _path(main, namespace)))
    return ClusterStatus(color=color, object=name, ready=waiting is None, reason=waiting or "serving")


def _client(kubeconfig: str) -> Any:
    try:
        from kubernetes import config
    except ImportError as exc:
        raise InputError(
            "supervisor: kubernetes with a kubeconfig needs the client: pip install 'model-rollout[kubernetes]'"
        ) from exc

    try:
        return config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    except Exception as exc:  # the client raises ConfigException, OSError or YAML errors alike
        raise ExternalError(f"cannot use the kubeconfig {kubeconfig}: {exc}") from exc


def _path(obj: Mapping[str, Any], namespace: str) -> str:
    group_version = str(obj["apiVersion"])
    root = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    return f"{root}/namespaces/{namespace}/{PLURALS[obj['kind']]}/{obj['metadata']['name']}"


def _request(client: Any, method: str, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
    headers = {"Accept": "application/json"}
    query: list[tuple[str, str]] = []
    text = None
    if body is not None:
        # Server-side apply takes YAML, and JSON is YAML: the object is sent as it was rendered.
        headers["Content-Type"] = "application/apply-patch+yaml"
        query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
        text = json.dumps(body)
    try:
        params = client.param_serialize(
            method, path, query_params=query, header_params=headers, body=text, auth_settings=["BearerToken"]
        )
        response = client.call_api(*params)
        response.read()
    except Exception as exc:  # urllib3's connection and timeout errors, the client's own
        raise ExternalError(f"the Kubernetes API did not answer {method} {path}: {exc}") from exc
    if not 200 <= response.status < 300:
        raise ExternalError(f"the Kubernetes API refused {method} {path}: {response.status} {_message(response.data)}")
    found: dict[str, Any] = json.loads(response.data or b"{}")
    return found


def _message(data: bytes | None) -> str:
    try:
        return str(json.loads(data or b"{}").get("message", ""))
    except ValueError:
        return (data or b"")[:200].decode(errors="replace")


def _wait_ready(
    client: Any,
    obj: Mapping[str, Any],
    namespace: str,
    *,
    deadline: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> None:
    while True:
        live = _request(client, "GET", _path(obj, namespace))
        waiting = not_ready(live)
        if waiting is None:
            return
        if clock() >= deadline:
            raise ExternalError(f"{obj['kind']} {namespace}/{obj['metadata']['name']} is not ready: {waiting}")
        sleep(POLL_SECONDS)


def not_ready(live: Mapping[str, Any]) -> str | None:
    """Why a live object does not serve yet, or None when it does."""
    status = live.get("status") or {}
    generation = (live.get("metadata") or {}).get("generation", 0)
    if status.get("observedGeneration", 0) < generation:
        return f"its controller has not seen generation {generation} yet"
    if live.get("kind") == "Deployment":
        wanted = (live.get("spec") or {}).get("replicas", 1)
        available = status.get("availableReplicas", 0)
        return None if available >= wanted else f"{available} of {wanted} replicas available"
    ready = next((c for c in status.get("conditions", []) if c.get("type") == "Ready"), None)
    if ready is not None and ready.get("status") == "True":
        return None
    return (
        f"Ready is {ready.get('status')}: {ready.get('message') or ready.get('reason')}"
        if ready
        else "no Ready condition yet"
    )
