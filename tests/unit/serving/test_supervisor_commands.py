"""systemd and docker cannot run here: their command lines are the contract, so they are pinned exactly."""

from __future__ import annotations

import dataclasses

import pytest

from rollout.plan import ModelVersion
from rollout.serving.engines import server_argv
from rollout.serving.supervisors import docker, systemd
from tests.unit.serving.conftest import spec_for


def test_systemd_run_starts_a_transient_unit_with_the_server_argv(vllm_blue: ModelVersion) -> None:
    version = dataclasses.replace(vllm_blue, supervisor="systemd", env={"HF_HOME": "/data/hf", "A": "1"})
    spec = spec_for(version, server_argv(version))
    assert systemd.run_argv(spec, unit="rollout-chat-blue", env={}, user=False, drain=30, grace=10) == (
        "systemd-run",
        "--unit=rollout-chat-blue",
        "--description=model-rollout chat blue (llama-3.1-8b)",
        "--collect",
        "--property=KillMode=mixed",
        "--property=KillSignal=SIGTERM",
        "--property=TimeoutStopSec=40",
        "--working-directory=/srv/rollout",
        "--setenv=A=1",
        "--setenv=HF_HOME=/data/hf",
        "--",
        *server_argv(version),
    )


def test_systemd_user_scope_applies_to_every_tool(vllm_blue: ModelVersion) -> None:
    spec = spec_for(vllm_blue)
    assert systemd.run_argv(spec, unit="rollout-chat-blue", env={}, user=True, drain=30, grace=10)[:2] == (
        "systemd-run",
        "--user",
    )
    assert systemd.stop_argv("rollout-chat-blue", user=True) == (
        "systemctl",
        "--user",
        "stop",
        "rollout-chat-blue.service",
    )
    assert systemd.show_argv("rollout-chat-blue", user=False) == (
        "systemctl",
        "show",
        "rollout-chat-blue.service",
        "--property=ActiveState",
        "--property=MainPID",
    )
    assert systemd.journal_argv("rollout-chat-blue", user=True, lines=50) == (
        "journalctl",
        "--user",
        "--unit=rollout-chat-blue.service",
        "--lines=50",
        "--no-pager",
        "--output=cat",
    )


def test_systemctl_show_output_is_read_as_key_values() -> None:
    assert systemd.parse_show("ActiveState=active\nMainPID=4242\n") == {"ActiveState": "active", "MainPID": "4242"}


def test_docker_runs_the_vllm_image_with_gpus_on_the_plan_port(vllm_blue: ModelVersion) -> None:
    version = dataclasses.replace(vllm_blue, supervisor="docker", env={"VLLM_LOGGING_LEVEL": "INFO"})
    spec = spec_for(version, server_argv(version))
    env = {"HF_TOKEN": "hf_x", "GITHUB_TOKEN": "ghs_x"}
    assert docker.run_argv(
        spec, unit="rollout-chat-blue", env=env, hf_cache="/home/runner/.cache/huggingface", drain=30, grace=10
    ) == (
        "docker",
        "run",
        "--detach",
        "--name=rollout-chat-blue",
        "--gpus=all",
        "--ipc=host",
        "--publish=127.0.0.1:8001:8001",
        "--volume=/home/runner/.cache/huggingface:/root/.cache/huggingface",
        "--stop-timeout=40",
        "--env=HF_TOKEN",
        "--env=VLLM_LOGGING_LEVEL=INFO",
        "vllm/vllm-openai:v0.33.0",
        "meta-llama/Llama-3.1-8B-Instruct",
        "--revision",
        "0e9e39f",
        "--served-model-name",
        "llama-3.1-8b",
        "--host",
        "0.0.0.0",
        "--port",
        "8001",
        "--shutdown-timeout",
        "30",
        "--max-model-len",
        "8192",
    )


def test_docker_runs_the_plans_image(vllm_blue: ModelVersion) -> None:
    version = dataclasses.replace(vllm_blue, supervisor="docker", image="registry.local:5000/vllm/vllm-openai:v0.32.0")
    argv = docker.run_argv(spec_for(version), unit="rollout-chat-blue", env={}, hf_cache="/hf", drain=30, grace=10)
    assert argv[argv.index("registry.local:5000/vllm/vllm-openai:v0.32.0") + 1] == "meta-llama/Llama-3.1-8B-Instruct"


@pytest.mark.parametrize(
    ("model", "host_path", "inside"),
    [
        ("/srv/models/llama-ft", "/srv/models/llama-ft", "/models/llama-ft"),
        ("./weights/smol.gguf", "/srv/rollout/weights/smol.gguf", "/models/smol.gguf"),
    ],
)
def test_docker_mounts_a_local_model_read_only_and_serves_its_path_inside(
    vllm_blue: ModelVersion, model: str, host_path: str, inside: str
) -> None:
    version = dataclasses.replace(vllm_blue, supervisor="docker", model=model)
    argv = docker.run_argv(spec_for(version), unit="rollout-chat-blue", env={}, hf_cache="/hf", drain=30, grace=10)
    assert f"--volume={host_path}:{inside}:ro" in argv
    assert argv[argv.index("vllm/vllm-openai:v0.33.0") + 1] == inside
    assert model not in argv


def test_docker_stop_inspect_logs_and_remove_address_the_container_by_the_name_given() -> None:
    assert docker.stop_argv("rollout-chat-blue", drain=30, grace=10) == (
        "docker",
        "stop",
        "--time=40",
        "rollout-chat-blue",
    )
    assert docker.remove_argv("rollout-chat-blue") == ("docker", "rm", "rollout-chat-blue")
    assert docker.logs_argv("rollout-chat-blue", lines=50) == ("docker", "logs", "--tail=50", "rollout-chat-blue")
    assert docker.inspect_argv("rollout-chat-blue") == (
        "docker",
        "inspect",
        "--format={{.State.Running}} {{.State.Pid}}",
        "rollout-chat-blue",
    )


def test_docker_inspect_output() -> None:
    assert docker.parse_inspect("true 311\n") == (True, 311)
    assert docker.parse_inspect("false 0\n") == (False, None)
