"""Green (and blue) as Kubernetes objects: golden files per router kind, each checked against the official schemas.

Set ROLLOUT_UPDATE_GOLDEN=1 to rewrite the expected files after an intended change, then read the diff.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from rollout.errors import InputError
from rollout.gitops.planedit import promote
from rollout.plan import COLORS, Color, load_plan, serving_args_digest
from rollout.serving.manifests import serving_objects
from rollout.traffic import TrafficState, Weights
from tests.support.golden import assert_golden
from tests.support.kubernetes import manifest_problems

PLANS = Path(__file__).parents[1] / "routers" / "golden"
GOLDEN = Path(__file__).parent / "golden"
KINDS = ("gateway-api", "gateway-api-inferencepool", "kserve")
BEFORE = TrafficState(service="chat", stage=None, green="llama-3.3-8b-ft2", weights=Weights.for_green(0))


@pytest.mark.parametrize("color", COLORS)
@pytest.mark.parametrize("kind", KINDS)
def test_serving_objects_match_golden_and_pass_the_official_schemas(kind: str, color: Color) -> None:
    plan = load_plan(PLANS / kind / "rollout-plan.yaml")
    objects = serving_objects(plan, BEFORE, color)
    assert_golden(GOLDEN / kind / f"{color}.yaml", yaml.safe_dump_all(objects, sort_keys=False))
    assert manifest_problems(objects) == []


def test_the_deployment_serves_the_plan_model_at_its_revision_under_both_names() -> None:
    plan = load_plan(PLANS / "kserve" / "rollout-plan.yaml")
    gateway = load_plan(PLANS / "gateway-api" / "rollout-plan.yaml")
    deployment, service = serving_objects(gateway, BEFORE, "green")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:4] == ["acme/ft-v2", "--served-model-name", "llama-3.3-8b-ft2", "chat"]
    assert args[args.index("--host") + 1] == "0.0.0.0"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    (green,) = serving_objects(plan, BEFORE, "green")
    assert green["spec"]["router"]["route"] == {}, "green joins the group only with traffic"


def test_the_pool_selects_the_deployment_pods_on_the_model_port() -> None:
    plan = load_plan(PLANS / "gateway-api-inferencepool" / "rollout-plan.yaml")
    deployment, pool = serving_objects(plan, BEFORE, "blue")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pool["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pool["spec"]["targetPorts"] == [{"number": 8001}]


def test_supervisor_kubernetes_needs_a_kubernetes_router_and_vllm(tmp_path: Path) -> None:
    text = (PLANS / "nginx" / "rollout-plan.yaml").read_text()
    (tmp_path / "rollout-plan.yaml").write_text(text.replace("port: 8002", "port: 8002, supervisor: kubernetes", 1))
    with pytest.raises(InputError, match=r"models\.green\.supervisor.*gateway-api or kserve"):
        load_plan(tmp_path / "rollout-plan.yaml")


def test_the_plan_resources_reach_the_model_container() -> None:
    plan = load_plan(PLANS / "gateway-api-inferencepool" / "rollout-plan.yaml")
    deployment, _ = serving_objects(plan, BEFORE, "blue")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {"limits": {"nvidia.com/gpu": 1}, "requests": {"memory": "24Gi"}}


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ("resources: {limits: {cpu: 2}}", r"resources.*only used with supervisor: kubernetes"),
        ("supervisor: kubernetes, resources: {limits: {memory: lots}}", r"resources\.limits\.memory"),
    ],
)
def test_resources_are_checked_at_load(fields: str, problem: str, tmp_path: Path) -> None:
    text = (PLANS / "gateway-api" / "rollout-plan.yaml").read_text()
    (tmp_path / "rollout-plan.yaml").write_text(text.replace("port: 8002}", f"port: 8002, {fields}}}", 1))
    with pytest.raises(InputError, match=problem):
        load_plan(tmp_path / "rollout-plan.yaml")


def test_a_cluster_color_serving_digest_covers_its_image() -> None:
    plan = load_plan(PLANS / "kserve" / "rollout-plan.yaml")
    blue = plan.model("blue")
    assert blue.supervisor == "kubernetes"
    assert serving_args_digest(blue) != serving_args_digest(replace(blue, image="vllm/vllm-openai:v0.34.0"))


@pytest.mark.parametrize("kind", KINDS)
def test_a_promoted_green_is_the_same_workload_as_blue_so_promotion_restarts_nothing(tmp_path: Path, kind: str) -> None:
    text = (PLANS / kind / "rollout-plan.yaml").read_text().replace("port: 8002", "port: 8002, supervisor: kubernetes")
    (tmp_path / "rollout-plan.yaml").write_text(text)
    plan = load_plan(tmp_path / "rollout-plan.yaml")
    promoted = promote(plan, text).plan
    full = replace(BEFORE, stage="full", weights=Weights.for_green(100))
    was = serving_objects(plan, full, "green")
    now = serving_objects(promoted, TrafficState(service="chat"), "blue")
    assert [o["metadata"]["name"] for o in now] == [o["metadata"]["name"] for o in was]
    # a Deployment replaces its pods whenever its pod template changes; the objects' own labels may change
    assert [o["spec"] for o in now] == [o["spec"] for o in was]
    assert all(o["metadata"]["labels"]["rollout/color"] == "blue" for o in now)
