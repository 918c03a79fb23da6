"""The GitOps loop with Kubernetes manifests: each stage's pull request carries the rendered HTTPRoute or
LLMInferenceServices beside the traffic file, through the fake GitHub, and nothing is started or reloaded.

Argo CD or Flux would sync the merged manifests; here the test reads them from the repository and checks
them against the official schemas at every stage.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.gitops import BLUE, GREEN, T0, Site, at, open_site, propose, run, write_verdict
from tests.support.kubernetes import documents, manifest_problems

STAGES = {
    "gateway-api": "  - {name: internal, weight: 5, soak: 1d, audience: internal}",
    "kserve": "  - {name: canary, weight: 5, soak: 1d}",
}
ROUTERS = {
    "gateway-api-service": ("gateway-api", "{kind: gateway-api, config: deploy/httproute.yaml, gateway: infra/public}"),
    "gateway-api-inferencepool": (
        "gateway-api",
        "{kind: gateway-api, config: deploy/httproute.yaml, gateway: infra/public, backend_kind: InferencePool}",
    ),
    "kserve": ("kserve", "{kind: kserve, config: deploy/llminferenceservices.yaml, namespace: llm}"),
}


def kubernetes_plan(kind: str, router: str) -> str:
    return f"""\
version: 1
service: chat
models:
  blue:  {{name: {BLUE}, model: meta/blue, port: 8001}}
  green: {{name: {GREEN}, model: acme/green, port: 8002}}
router: {router}
stages:
{STAGES[kind]}
  - {{name: early,    weight: 25,  soak: 2d}}
  - {{name: majority, weight: 75,  soak: 4d, environment: production}}
  - {{name: full,     weight: 100, soak: 7d, environment: production}}
gates:
  latency: {{p95_ratio_max: 1.2}}
"""


@pytest.fixture(params=sorted(ROUTERS))
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Site, str]]:
    kind, router = ROUTERS[request.param]
    with open_site("github", tmp_path, T0, plan=kubernetes_plan(kind, router)) as opened:
        yield opened, "deploy/llminferenceservices.yaml" if kind == "kserve" else "deploy/httproute.yaml"


def green_weight(objects: list[dict[str, Any]]) -> int:
    """Green's share in the manifests: its backendRef in the HTTPRoute's first rule, or its group weight."""
    if objects[0]["kind"] == "HTTPRoute":
        refs = objects[0]["spec"]["rules"][0]["backendRefs"]
        return sum(ref["weight"] for ref in refs if ref["name"] == "chat-green")
    green = next(o for o in objects if o["metadata"]["labels"]["rollout/color"] == "green")
    return int(green["spec"]["router"]["route"].get("weight", 0))


def test_each_stage_commits_its_manifests_with_the_traffic_file_and_starts_nothing(
    site: tuple[Site, str], tmp_path: Path
) -> None:
    repo, manifest = site
    passing = write_verdict(tmp_path / "pass.json", "pass")
    assert not (repo.checkout / manifest).exists()
    when = at(0, 1)
    for weight, soak_days in ((5, 1), (25, 2), (75, 4), (100, 7)):
        opened = propose(repo, passing, when)
        assert (opened["exit"], opened["decision"]["action"]) == (0, "advance"), opened
        branch = opened["branch"]
        proposed = repo.branch_file(branch, manifest)
        assert proposed is not None, f"{manifest} is not in the pull request"
        assert f"green: {weight}" in (repo.branch_file(branch, "rollout-traffic.yaml") or "")
        objects = documents(proposed)
        assert green_weight(objects) == weight
        assert manifest_problems(objects) == []

        repo.merge(opened["pr"]["number"], when + timedelta(hours=1))
        applied = run(repo, "apply")
        assert applied.code == 0, applied.output
        assert "verified the written file" in applied.output and "reload" not in applied.output.lower()
        assert (repo.checkout / manifest).read_text() == proposed
        when += timedelta(days=soak_days, hours=1)
    assert run(repo, "status", "--json").json()["weights"]["green"] == 100
