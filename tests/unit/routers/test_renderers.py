"""Golden cases: golden/<kind>/rollout-plan.yaml plus one folder per traffic state with the expected config.

Set ROLLOUT_UPDATE_GOLDEN=1 to rewrite the expected files after an intended change, then read the diff.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from rollout.errors import InputError
from rollout.plan import Plan, load_plan
from rollout.routers import (
    ADAPTERS,
    Probed,
    Reloads,
    Validates,
    file,
    gateway_api,
    kserve,
    litellm,
    nginx,
    probe_style,
    reload_command,
    render_config,
    rendered_config,
    validate_command,
)
from rollout.routers._shared import REVISION_SLOT
from rollout.traffic import TrafficState, Weights, parse_traffic_text

GOLDEN = Path(__file__).parent / "golden"
EXPECTED = {
    "litellm": "expected.yaml",
    "nginx": "expected.conf",
    "file": "expected.json",
    "gateway-api": "expected.yaml",
    "kserve": "expected.yaml",
}
CASES = sorted(p for p in GOLDEN.glob("*/*") if (p / "rollout-traffic.yaml").exists())


def load_case(case: Path) -> tuple[Plan, TrafficState]:
    plan = load_plan(case.parent / "rollout-plan.yaml")
    return plan, parse_traffic_text((case / "rollout-traffic.yaml").read_text(), plan)


def portable(text: str, revision: str, plan: Plan) -> str:
    """The config without what depends on where the plan sits: its folder, and so the revision (a digest of it)."""
    return text.replace(str(plan.root), "<root>").replace(revision, "<revision>")


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_renderer_matches_golden(case: Path) -> None:
    plan, state = load_case(case)
    text, revision = rendered_config(plan, state)
    assert revision in text and REVISION_SLOT not in text, "the config carries its revision"
    rendered = portable(text, revision, plan)
    expected = case / EXPECTED[plan.router.kind]
    if os.environ.get("ROLLOUT_UPDATE_GOLDEN"):
        expected.write_text(rendered)
    assert rendered == expected.read_text()
    assert ADAPTERS[plan.router.kind].problems(render_config(plan, state)) == []


def test_every_kind_has_golden_cases() -> None:
    assert {load_plan(case.parent / "rollout-plan.yaml").router.kind for case in CASES} == set(ADAPTERS)
    backend_kinds = {load_plan(case.parent / "rollout-plan.yaml").router.backend_kind for case in CASES}
    assert backend_kinds == {"Service", "InferencePool"}


def case(kind: str, name: str) -> tuple[Plan, TrafficState]:
    return load_case(GOLDEN / kind / name)


@pytest.mark.parametrize("name", ["initial", "internal", "majority", "full"])
def test_litellm_weighs_every_deployment_and_leaves_out_a_color_at_zero(name: str) -> None:
    plan, state = case("litellm", name)
    config = yaml.safe_load(litellm.render(plan, state))
    deployments = config["model_list"]
    assert all(
        isinstance(d["litellm_params"]["weight"], int) and d["litellm_params"]["weight"] > 0 for d in deployments
    )
    ids = [d["model_info"]["id"] for d in deployments]
    assert ("green" in ids) == (state.weights.green > 0)
    assert {d["model_name"] for d in deployments} == {"chat"}
    assert config["router_settings"]["routing_strategy"] == "simple-shuffle"


def test_litellm_internal_stage_tags_green_for_internal_requests_only() -> None:
    plan, state = case("litellm", "internal")
    config = yaml.safe_load(litellm.render(plan, state))
    tags = {d["model_info"]["id"]: d["litellm_params"]["tags"] for d in config["model_list"]}
    assert tags == {"blue": ["default", "internal"], "green": ["internal"]}
    assert config["router_settings"]["enable_tag_filtering"] is True


def test_litellm_internal_stage_at_full_weight_keeps_blue_for_everyone_else() -> None:
    plan, _ = case("litellm", "internal")
    state = TrafficState(service="chat", stage="internal", green="x", weights=Weights.for_green(100))
    tags = {
        d["model_info"]["id"]: d["litellm_params"]["tags"]
        for d in yaml.safe_load(litellm.render(plan, state))["model_list"]
    }
    assert tags == {"blue": ["default"], "green": ["internal"]}


@pytest.mark.parametrize("name", ["initial", "internal", "majority", "full"])
def test_litellm_neither_retries_nor_cools_down_so_green_keeps_its_share_and_its_errors(name: str) -> None:
    config = yaml.safe_load(litellm.render(*case("litellm", name)))
    settings = config["router_settings"]
    assert (settings["num_retries"], settings["disable_cooldowns"]) == (0, True)
    assert not {"fallbacks", "default_fallbacks", "context_window_fallbacks", "content_policy_fallbacks"} & set(
        settings
    )
    assert "litellm_settings" not in config


def test_litellm_problems_catch_a_deployment_without_weight() -> None:
    plan, state = case("litellm", "majority")
    config = yaml.safe_load(litellm.render(plan, state))
    del config["model_list"][1]["litellm_params"]["weight"]
    assert any("weight" in p for p in litellm.problems(yaml.safe_dump(config)))
    assert litellm.problems("model_list: [") != []


@pytest.mark.parametrize(("name", "split"), [("initial", None), ("majority", "75% green;"), ("full", None)])
def test_nginx_splits_by_request_id_only_between_live_colors(name: str, split: str | None) -> None:
    plan, state = case("nginx", name)
    text = nginx.render(plan, state)
    block = re.search(r'split_clients "\$\{request_id\}" \$rollout_color \{(.*?)\}', text, re.S)
    assert block is not None
    percents = [line.strip() for line in block.group(1).splitlines() if "%" in line]
    assert percents == ([split] if split else [])
    assert ("upstream rollout_green" in text) == (state.weights.green > 0)
    assert ("upstream rollout_blue" in text) == (state.weights.blue > 0)
    assert "add_header X-Rollout-Color $rollout_color always;" in text
    assert "proxy_buffering off;" in text
    assert "listen 127.0.0.1:4000;" in text


def test_nginx_internal_stage_sends_only_marked_requests_to_the_split() -> None:
    plan, state = case("nginx", "internal")
    text = nginx.render(plan, state)
    assert "map $http_x_rollout_audience $rollout_color" in text
    assert 'split_clients "${request_id}" $rollout_split' in text


def test_nginx_needs_a_plain_http_listen_address() -> None:
    plan, state = case("nginx", "majority")
    for url in (None, "https://127.0.0.1:4443"):
        broken = replace(plan, router=replace(plan.router, url=url))
        with pytest.raises(InputError, match=r"router\.url"):
            nginx.render(broken, state)


def test_file_flag_carries_the_weights_and_audience() -> None:
    plan, state = case("file", "internal")
    flag = json.loads(file.render(plan, state))
    assert flag["weights"] == {"blue": 95, "green": 5}
    assert flag["audience"] == "internal"
    assert file.problems('{"weights": {"blue": 50, "green": 60}}') != []


def test_gateway_route_weights_services_and_attaches_to_the_gateway() -> None:
    plan, state = case("gateway-api", "majority")
    route = yaml.safe_load(gateway_api.render(plan, state))
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"]["parentRefs"] == [{"name": "public", "namespace": "infra"}]
    refs = route["spec"]["rules"][0]["backendRefs"]
    assert refs == [{"name": "chat-blue", "port": 8001, "weight": 25}, {"name": "chat-v2", "port": 8002, "weight": 75}]


def test_gateway_route_internal_stage_matches_the_audience_header_first() -> None:
    plan, state = case("gateway-api", "internal")
    rules = yaml.safe_load(gateway_api.render(plan, state))["spec"]["rules"]
    assert rules[0]["matches"] == [{"headers": [{"name": "X-Rollout-Audience", "value": "internal"}]}]
    assert [r["weight"] for r in rules[0]["backendRefs"]] == [95, 5]
    assert rules[1]["backendRefs"] == [{"name": "chat-blue", "port": 8001, "weight": 100}]


def test_an_internal_stage_at_full_weight_keeps_blue_reachable_for_everyone_else() -> None:
    plan, _ = case("nginx", "internal")
    state = TrafficState(service="chat", stage="internal", green="x", weights=Weights.for_green(100))
    text = nginx.render(plan, state)
    assert "upstream rollout_blue" in text and "upstream rollout_green" in text
    assert "default blue;" in text


def test_gateway_route_needs_its_gateway() -> None:
    plan, state = case("gateway-api", "majority")
    with pytest.raises(InputError, match=r"router\.gateway"):
        gateway_api.render(replace(plan, router=replace(plan.router, gateway=None)), state)


def test_a_gateway_api_plan_without_a_gateway_is_rejected_at_load(tmp_path: Path) -> None:
    text = (GOLDEN / "gateway-api" / "rollout-plan.yaml").read_text().replace(", gateway: infra/public", "")
    (tmp_path / "rollout-plan.yaml").write_text(text)
    with pytest.raises(InputError, match=r"router\.kind: gateway-api needs router\.gateway"):
        load_plan(tmp_path / "rollout-plan.yaml")


def test_each_kind_defines_only_the_hooks_it_needs_and_the_rest_default() -> None:
    defines = {
        kind: (isinstance(module, Validates), isinstance(module, Reloads), isinstance(module, Probed))
        for kind, module in ADAPTERS.items()
    }
    assert defines == {
        "nginx": (True, True, True),
        "litellm": (True, True, True),
        "file": (False, False, False),
        "gateway-api": (False, False, False),
        "kserve": (False, False, False),
    }
    plan, _ = case("gateway-api", "initial")
    assert (validate_command(plan, plan.router.config, {}), reload_command(plan, {}), probe_style(plan)) == (
        None,
        None,
        None,
    )


def test_gateway_route_to_inference_pools_names_them_by_group_and_kind_without_a_port() -> None:
    plan, state = case("gateway-api-inferencepool", "majority")
    refs = yaml.safe_load(gateway_api.render(plan, state))["spec"]["rules"][0]["backendRefs"]
    pool = {"group": "inference.networking.k8s.io", "kind": "InferencePool"}
    assert refs == [{**pool, "name": "chat-blue", "weight": 25}, {**pool, "name": "chat-v2", "weight": 75}]


def members(name: str) -> dict[str, dict[str, object]]:
    plan, state = case("kserve", name)
    docs = list(yaml.safe_load_all(kserve.render(plan, state)))
    return {d["metadata"]["labels"]["rollout/color"]: d["spec"]["router"]["route"] for d in docs}


@pytest.mark.parametrize(
    ("name", "routes"),
    [
        ("initial", {"blue": {"group": "chat", "weight": 100}, "green": {}}),
        ("canary", {"blue": {"group": "chat", "weight": 95}, "green": {"group": "chat", "weight": 5}}),
        ("full", {"blue": {"group": "chat", "weight": 0}, "green": {"group": "chat", "weight": 100}}),
        ("rolled-back", {"blue": {"group": "chat", "weight": 100}, "green": {}}),
    ],
)
def test_kserve_green_joins_the_group_at_its_first_weight_never_at_zero(
    name: str, routes: dict[str, dict[str, object]]
) -> None:
    assert members(name) == routes


def test_kserve_members_serve_one_model_name_and_carry_the_plan_serving_arguments() -> None:
    plan, state = case("kserve", "canary")
    blue, green = yaml.safe_load_all(kserve.render(plan, state))
    assert blue["spec"]["model"] == {
        "uri": "hf://meta-llama/Llama-3.1-8B-Instruct:0e9e39f249a16976918f6564b8830bc894c89659",
        "name": "chat",
    }
    assert green["spec"]["model"] == {"uri": "hf://acme/ft-v2", "name": "chat"}
    assert blue["spec"]["template"]["containers"][0]["args"] == ["--max-model-len", "8192"]
    assert green["spec"]["template"]["containers"][0]["env"] == [{"name": "VLLM_LOGGING_LEVEL", "value": "DEBUG"}]
    assert blue["spec"]["router"]["gateway"] == {"refs": [{"name": "public", "namespace": "infra"}]}


def test_kserve_problems_catch_a_group_without_traffic() -> None:
    plan, state = case("kserve", "majority")
    docs = list(yaml.safe_load_all(kserve.render(plan, state)))
    for doc in docs:
        doc["spec"]["router"]["route"] = {"group": "chat", "weight": 0}
    assert kserve.problems(yaml.safe_dump_all(docs)) == ["no member of the group gets traffic"]
    assert kserve.problems("kind: Service\n") != []


def test_a_kserve_plan_with_an_internal_stage_is_rejected_at_load(tmp_path: Path) -> None:
    text = (
        (GOLDEN / "kserve" / "rollout-plan.yaml")
        .read_text()
        .replace("weight: 5, soak: 1d}", "weight: 5, soak: 1d, audience: internal}")
    )
    (tmp_path / "rollout-plan.yaml").write_text(text)
    with pytest.raises(InputError, match=r"stages\[0\]\.audience|cannot match a header"):
        load_plan(tmp_path / "rollout-plan.yaml")


def test_new_router_settings_for_the_same_traffic_state_are_a_new_revision(monkeypatch: pytest.MonkeyPatch) -> None:
    """After an upgrade that renders the same state differently, apply's probes must tell old workers from new."""
    plan, state = case("litellm", "majority")
    old_text, old_revision = rendered_config(plan, state)
    upgraded = litellm.render
    monkeypatch.setattr(
        litellm, "render", lambda p, s: upgraded(p, s).replace("num_retries: 0", "num_retries: 0\n  timeout: 600")
    )
    text, revision = rendered_config(plan, state)
    assert text != old_text and revision != old_revision
    served = {d["model_info"]["rollout_revision"] for d in yaml.safe_load(text)["model_list"]}
    assert served == {revision}
