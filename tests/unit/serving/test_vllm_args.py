"""The plan's vLLM `args`, read the way vLLM 0.33's own parser reads them, checked at load."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from rollout import vllm_flags
from rollout.errors import InputError
from rollout.plan import ModelVersion, load_plan
from rollout.serving.engines import DRAIN_SECONDS, drain_seconds, server_argv, serving_warnings
from tests.support.plans import CHAT_PLAN

ARGS_LINE = '    args: [--max-model-len, "8192", --gpu-memory-utilization, "0.45"]'
FIXTURE = CHAT_PLAN.read_text()


def plan_with_blue_args(tmp_path: Path, args: str) -> Path:
    (tmp_path / "eval_suites").symlink_to(CHAT_PLAN.parent / "eval_suites")
    path = tmp_path / "rollout-plan.yaml"
    path.write_text(FIXTURE.replace(ARGS_LINE, f"    args: {args}", 1))
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(InputError) as info:
        load_plan(path, display="rollout-plan.yaml")
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ('[--port, "9000"]', "port"),
        ("[--port=9000]", "port"),
        ('[--por, "9000"]', "port"),
        ("[--served-model-name, other]", "name"),
        ("[--served_model_name, other]", "name"),
        ("[--served_model_name=other]", "name"),
        ("[--served-model, other]", "name"),
        ("[--host, 0.0.0.0]", "host"),
        ("[--HOST_X, 0.0.0.0, --host=0.0.0.0]", "host"),
        ("[--revision, main]", "revision"),
        ("[--rev=main]", "revision"),
        ("[--model, other/model]", "model"),
        ("[--model=other/model]", "model"),
        ("[--uds, /tmp/v.sock]", "host and port"),
    ],
)
def test_args_may_not_set_what_rollout_sets(tmp_path: Path, args: str, field: str) -> None:
    found = problems(plan_with_blue_args(tmp_path, args))
    line = FIXTURE[: FIXTURE.index(ARGS_LINE)].count("\n") + 1
    assert len(found) == 1, found
    assert found[0].startswith(f"rollout-plan.yaml:{line}: models.blue.args[")
    assert f"rollout sets from models.blue.{field};" in found[0]


@pytest.mark.parametrize("args", ["[--model-impl, transformers]", "[--tokenizer-revision, main]", "[--port-x]"])
def test_flags_that_only_look_alike_are_left_alone(tmp_path: Path, args: str) -> None:
    if args == "[--port-x]":
        assert not vllm_flags.identity_flags(("--port-x",))
        return
    assert load_plan(plan_with_blue_args(tmp_path, args)).blue.args


@pytest.mark.parametrize("value", ['"12.5"', '"-1"', '"soon"'])
def test_the_drain_time_is_a_whole_number_checked_at_load(tmp_path: Path, value: str) -> None:
    found = problems(plan_with_blue_args(tmp_path, f"[--shutdown_timeout, {value}]"))
    assert len(found) == 1 and "models.blue.args[1]: --shutdown-timeout needs a whole number of seconds" in found[0]


def test_an_api_key_flag_needs_a_key(tmp_path: Path) -> None:
    assert "--api-key needs a key after it" in problems(plan_with_blue_args(tmp_path, "[--api-key]"))[0]


@pytest.mark.parametrize(
    "args", [("--shutdown_timeout", "60"), ("--shutdown-timeout=60",), ("--shutdown", "60"), ("--shutdown_timeout=60",)]
)
def test_every_spelling_of_the_drain_time_is_vllms_drain(vllm_blue: ModelVersion, args: tuple[str, ...]) -> None:
    version = dataclasses.replace(vllm_blue, args=args)
    assert drain_seconds(version) == 60
    assert "--shutdown-timeout" not in server_argv(version)[:-2]


def test_the_last_drain_time_is_the_one_vllm_keeps(vllm_blue: ModelVersion) -> None:
    version = dataclasses.replace(vllm_blue, args=("--shutdown-timeout", "10", "--shutdown_timeout=90"))
    assert drain_seconds(version) == 90


def test_a_command_template_running_vllm_without_a_drain_is_warned_about(tmp_path: Path) -> None:
    plan = load_plan(CHAT_PLAN)
    blue = dataclasses.replace(plan.blue, engine="command", command="vllm serve {model} --port {port}", args=())
    green = dataclasses.replace(
        plan.blue, color="green", engine="command", command="python -m vllm.entrypoints.openai.api_server", args=()
    )
    warned = serving_warnings(dataclasses.replace(plan, blue=blue, green=green))
    assert [w.split(" ", 1)[0] for w in warned] == ["models.blue.command", "models.green.command"]
    assert "aborts every in-flight request on SIGTERM" in warned[0]
    drained = dataclasses.replace(blue, args=("--shutdown-timeout", "30"))
    assert not serving_warnings(dataclasses.replace(plan, blue=drained, green=None))
    assert drain_seconds(drained) == 30 and drain_seconds(blue) == DRAIN_SECONDS


def test_api_keys_are_read_like_vllm_reads_them() -> None:
    assert vllm_flags.api_keys(("--api-key", "k1", "k2", "--max-model-len", "8")) == ("k1", "k2")
    assert vllm_flags.api_keys(("--api_key=k3",)) == ("k3",)
    assert vllm_flags.api_keys(()) == ()
