"""Check rendered Kubernetes manifests against the official schemas, each object by its apiVersion and kind.

- Gateway API (`gateway.networking.k8s.io`): the npm package `@kubernetes-models/gateway-api` (pinned; scripts/setup
  installs it with `npm install -g`), whose validators are compiled from the upstream CRDs; run with node.
  Set GATEWAY_API_MODELS to the package's folder to use another copy.
- The Inference Extension's InferencePool and KServe's LLMInferenceService: the CRDs vendored unchanged in
  tests/fixtures/kubernetes/ (README.md there names their releases and license), checked with jsonschema
  against the served version's `openAPIV3Schema`, and, as the API server's strict field validation does,
  for fields the schema does not know.
- Core kinds (`v1`, `apps/v1`): kubernetes-validate (PyPI), against its bundled schemas of one Kubernetes release.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft4Validator

GATEWAY_API_PACKAGE = "@kubernetes-models/gateway-api"
GATEWAY_API_VERSION = "2.0.0"
KUBERNETES_RELEASE = "1.34.0"
"""The Kubernetes release whose core schemas kubernetes-validate checks against."""
VENDORED = Path(__file__).resolve().parents[1] / "fixtures" / "kubernetes"
CRDS = {
    ("inference.networking.k8s.io", "InferencePool"): "inference.networking.k8s.io_inferencepools.yaml",
    ("serving.kserve.io", "LLMInferenceService"): "serving.kserve.io_llminferenceservices.yaml",
}


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.load_all(text, Loader=yaml.CSafeLoader) if d is not None]


def manifest_problems(objects: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every problem the official schemas find in these objects, each prefixed with the object's kind and name."""
    found: list[str] = []
    gateway = [o for o in objects if str(o.get("apiVersion", "")).startswith("gateway.networking.k8s.io/")]
    for obj, problems in zip(gateway, _gateway_api_problems(gateway), strict=True):
        found += [f"{_label(obj)}: {p}" for p in problems]
    for obj in objects:
        if obj in gateway:
            continue
        group = str(obj.get("apiVersion", "")).rpartition("/")[0]
        key = (group, str(obj.get("kind")))
        problems = _crd_problems(obj, *key) if key in CRDS else _core_problems(obj)
        found += [f"{_label(obj)}: {p}" for p in problems]
    return found


def gateway_api_models(env: Mapping[str, str] = os.environ) -> Path:
    if "GATEWAY_API_MODELS" in env:
        return Path(env["GATEWAY_API_MODELS"])
    npm = shutil.which("npm")
    assert npm is not None, "npm is not installed: run scripts/setup"
    root = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, check=True).stdout.strip()
    return Path(root) / GATEWAY_API_PACKAGE


def _gateway_api_problems(objects: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    if not objects:
        return []
    package = gateway_api_models()
    installed = json.loads((package / "package.json").read_text())["version"]
    assert installed == GATEWAY_API_VERSION, (
        f"{GATEWAY_API_PACKAGE} {installed} is installed, not {GATEWAY_API_VERSION}"
    )
    script = Path(__file__).with_name("gateway_api_models.mjs")
    node = shutil.which("node")
    assert node is not None, "node is not installed: run scripts/setup"
    done = subprocess.run(
        [node, str(script), str(package)], input=json.dumps(objects), capture_output=True, text=True, check=True
    )
    result: list[list[str]] = json.loads(done.stdout)
    return result


@cache
def crd_schema(group: str, kind: str, version: str) -> dict[str, Any]:
    crd = yaml.load((VENDORED / CRDS[(group, kind)]).read_text(), Loader=yaml.CSafeLoader)
    for served in crd["spec"]["versions"]:
        if served["name"] == version and served["served"]:
            schema: dict[str, Any] = served["schema"]["openAPIV3Schema"]
            return schema
    raise AssertionError(f"the vendored {kind} CRD serves no version {version}")


def _crd_problems(obj: Mapping[str, Any], group: str, kind: str) -> list[str]:
    version = str(obj["apiVersion"]).rpartition("/")[2]
    schema = crd_schema(group, kind, version)
    found = [
        f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in Draft4Validator(schema).iter_errors(obj)
    ]
    return found + [f"{path}: unknown field" for path in unknown_fields(schema, obj, "")]


def unknown_fields(schema: Mapping[str, Any], value: Any, path: str) -> Iterable[str]:
    """Fields of `value` that `schema` does not declare, where it keeps no unknown fields (a structural schema)."""
    if isinstance(value, Mapping) and schema.get("type") == "object":
        if schema.get("x-kubernetes-preserve-unknown-fields"):
            return
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if properties is not None and key in properties:
                yield from unknown_fields(properties[key], item, where)
            elif isinstance(extra, Mapping):
                yield from unknown_fields(extra, item, where)
            elif properties is not None and path != "metadata" and not (path == "" and key in ("apiVersion", "kind")):
                yield where
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            yield from unknown_fields(schema["items"], item, f"{path}[{i}]")


def _core_problems(obj: Mapping[str, Any]) -> list[str]:
    import kubernetes_validate

    try:
        kubernetes_validate.validate(dict(obj), KUBERNETES_RELEASE, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'.'.join(map(str, exc.path)) or '<root>'}: {exc.message}"]
    return []


def _label(obj: Mapping[str, Any]) -> str:
    return f"{obj.get('kind')} {(obj.get('metadata') or {}).get('name')}"
