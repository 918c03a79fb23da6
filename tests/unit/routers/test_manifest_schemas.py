"""Every golden Kubernetes manifest passes the official schemas of its kind, and each schema check can fail."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from rollout.plan import load_plan
from tests.support.kubernetes import documents, manifest_problems

GOLDEN = Path(__file__).parent / "golden"
MANIFESTS = sorted(
    p
    for p in GOLDEN.glob("*/*/expected.yaml")
    if load_plan(p.parent.parent / "rollout-plan.yaml").router.kind in ("gateway-api", "kserve")
)


def test_the_golden_manifests_cover_each_kubernetes_kind() -> None:
    kinds = {obj["kind"] for path in MANIFESTS for obj in documents(path.read_text())}
    assert kinds >= {"HTTPRoute", "LLMInferenceService"}
    refs = {
        ref.get("kind", "Service")
        for path in MANIFESTS
        for obj in documents(path.read_text())
        if obj["kind"] == "HTTPRoute"
        for rule in obj["spec"]["rules"]
        for ref in rule["backendRefs"]
    }
    assert refs == {"Service", "InferencePool"}


def test_every_golden_manifest_passes_its_official_schema() -> None:
    objects = [obj for path in MANIFESTS for obj in documents(path.read_text())]
    assert manifest_problems(objects) == []


def golden(kind_dir: str, state: str) -> list[dict[str, Any]]:
    return documents((GOLDEN / kind_dir / state / "expected.yaml").read_text())


def test_the_gateway_api_models_reject_a_negative_weight_and_a_wrong_backend_group() -> None:
    (route,) = golden("gateway-api-inferencepool", "majority")
    negative = copy.deepcopy(route)
    negative["spec"]["rules"][0]["backendRefs"][0]["weight"] = -1
    found = manifest_problems([negative])
    assert len(found) == 1 and "weight" in found[0]
    unnamed = copy.deepcopy(route)
    del unnamed["spec"]["rules"][0]["backendRefs"][1]["name"]
    assert manifest_problems([unnamed]) != []


def test_the_kserve_schema_rejects_a_weight_over_its_maximum_and_an_unknown_field() -> None:
    blue, green = golden("kserve", "majority")
    heavy = copy.deepcopy(green)
    heavy["spec"]["router"]["route"]["weight"] = 1_000_001
    assert any("spec.router.route.weight" in p for p in manifest_problems([heavy]))
    typo = copy.deepcopy(blue)
    typo["spec"]["router"]["route"]["wieght"] = 5
    assert manifest_problems([typo]) == ["LLMInferenceService chat-blue: spec.router.route.wieght: unknown field"]


def test_the_inference_pool_schema_rejects_a_pool_without_target_ports() -> None:
    pool: dict[str, Any] = {
        "apiVersion": "inference.networking.k8s.io/v1",
        "kind": "InferencePool",
        "metadata": {"name": "chat-blue"},
        "spec": {"selector": {"matchLabels": {"app": "chat-blue"}}},
    }
    assert manifest_problems([pool]) == ["InferencePool chat-blue: spec: 'targetPorts' is a required property"]
    pool["spec"]["targetPorts"] = [{"number": 8000}]
    pool["spec"]["endpointPickerRef"] = {"name": "chat-blue-epp", "port": {"number": 9002}}
    assert manifest_problems([pool]) == []


def test_kubernetes_validate_rejects_a_core_object_with_a_wrong_type() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "chat-blue"},
        "spec": {"ports": [{"port": "eighty"}]},
    }
    assert manifest_problems([service]) == ["Service chat-blue: spec.ports.0.port: 'eighty' is not of type 'integer'"]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_each_golden_manifest_file_is_checked(path: Path) -> None:
    assert documents(path.read_text())
