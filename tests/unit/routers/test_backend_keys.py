"""LiteLLM in front of a model server with an API key: the key reaches the proxy by the name of a variable of
its environment, never as a value in the config, and a keyed server without such a name is bad input."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from rollout.cli import cli
from rollout.errors import InputError
from rollout.plan import Plan, load_plan
from rollout.routers import render_config
from rollout.routers.apply import change_for, describe_change
from tests.support.routers import stage_state, write_plan

KEY = "sk-model-server-91c2"
# `true` stands in for the LiteLLM proxy's Python: its check of every config passes (tests/integration run the real one).
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ROLLOUT_LITELLM_PYTHON": "true"}


def keyed_plan(tmp_path: Path, *, router: str = "", blue: str = "", green: str = "") -> Plan:
    """write_plan's LiteLLM plan, with more router fields and more fields for each color."""
    path = write_plan(
        tmp_path,
        kind="litellm",
        config="litellm.yaml",
        url="http://127.0.0.1:4000",
        reload="true",
        blue_port=8001,
        green_port=8002,
    )
    text = path.read_text()
    text = text.replace("port: 8001}", f"port: 8001{blue}}}").replace("port: 8002}", f"port: 8002{green}}}")
    if router:
        text = text.replace('"probes": 200', f'"probes": 200, {router}')
    path.write_text(text)
    return load_plan(path)


def api_keys(plan: Plan, green: int) -> dict[str, str]:
    config = yaml.safe_load(render_config(plan, stage_state(green)))
    return {d["model_info"]["id"]: d["litellm_params"]["api_key"] for d in config["model_list"]}


def test_a_keyed_color_names_the_proxy_s_variable_and_an_open_one_sends_a_placeholder(tmp_path: Path) -> None:
    plan = keyed_plan(tmp_path, router='"backend_key_env": {"green": "GREEN_KEY"}', green=f", args: [--api-key, {KEY}]")
    assert api_keys(plan, 25) == {"blue": "unused", "green": "os.environ/GREEN_KEY"}
    assert KEY not in render_config(plan, stage_state(25))


@pytest.mark.parametrize(
    ("blue", "env", "source"),
    [
        pytest.param(f", args: [--api-key, {KEY}]", {}, "--api-key in models.blue.args", id="args"),
        pytest.param(f", args: ['--api_key={KEY}']", {}, "--api-key in models.blue.args", id="args-spelling"),
        pytest.param(f", env: {{VLLM_API_KEY: {KEY}}}", {}, "VLLM_API_KEY in models.blue.env", id="plan-env"),
        pytest.param("", {"VLLM_API_KEY": KEY}, "VLLM_API_KEY in this environment", id="runner-env"),
        pytest.param(
            f", engine: command, command: 'vllm serve {{model}} --port {{port}} --api-key {KEY}'",
            {},
            "--api-key in models.blue.command",
            id="command",
        ),
    ],
)
def test_a_keyed_server_without_the_proxy_s_variable_is_bad_input_before_anything_is_written(
    tmp_path: Path, blue: str, env: dict[str, str], source: str
) -> None:
    plan = keyed_plan(tmp_path, blue=blue)
    with pytest.raises(InputError) as info:
        change_for(plan, stage_state(25), probes=None, env={**ENV, **env})
    problem = info.value.problems[0]  # VLLM_API_KEY around keys green too
    assert str(problem).startswith(f"{plan.path}:6: router.backend_key_env: blue's model server demands an API key")
    assert source in problem.message and "backend_key_env: {blue: VLLM_API_KEY}" in problem.message
    assert KEY not in str(info.value)
    assert not plan.router.config.exists()


def test_a_keyed_server_with_the_proxy_s_variable_plans_a_change_without_its_key(tmp_path: Path) -> None:
    plan = keyed_plan(tmp_path, router='"backend_key_env": {"blue": "VLLM_API_KEY", "green": "VLLM_API_KEY"}')
    change = change_for(plan, stage_state(25), probes=None, env={**ENV, "VLLM_API_KEY": KEY})
    assert "api_key: os.environ/VLLM_API_KEY" in change.text
    assert KEY not in describe_change(change)


def test_an_open_server_needs_no_variable(tmp_path: Path) -> None:
    llama = ", engine: command, command: 'python -m llama_cpp.server --port {port}'"
    plan = keyed_plan(tmp_path, blue=llama, green=llama)
    # A VLLM_API_KEY around keys vLLM, not another server.
    change = change_for(plan, stage_state(25), probes=None, env={**ENV, "VLLM_API_KEY": KEY})
    assert set(api_keys(plan, 25).values()) == {"unused"} and change.changed


def test_validate_refuses_a_keyed_server_the_proxy_cannot_authenticate_to(tmp_path: Path) -> None:
    plan = keyed_plan(tmp_path)
    result = CliRunner().invoke(cli, ["validate", "--plan", str(plan.path)], env={"VLLM_API_KEY": KEY})
    assert result.exit_code == 2, result.output
    assert f"{plan.path}:6: router.backend_key_env: blue's model server demands an API key" in result.stderr
    assert KEY not in result.output
