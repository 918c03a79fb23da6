"""A model server gets the caller's variables it needs, by name, and the plan's; never the job's secrets."""

from __future__ import annotations

import dataclasses

import pytest

from rollout.plan import ModelVersion
from rollout.serving.engines import server_argv
from rollout.serving.environment import passed_names, server_env
from rollout.serving.supervisors import docker, systemd
from tests.unit.serving.conftest import spec_for

SECRETS = {
    "GITHUB_TOKEN": "ghs_job",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "oidc",
    "ACTIONS_RUNTIME_TOKEN": "runtime",
    "ROLLOUT_API_KEY": "client-key",
    "ROLLOUT_ROUTER_KEY": "router-key",
    "LITELLM_MASTER_KEY": "sk-master",
    "AWS_SECRET_ACCESS_KEY": "aws",
    "RUNNER_TRACKING_ID": "github_123",
}
NEEDED = {
    "PATH": "/usr/bin",
    "HOME": "/home/runner",
    "HF_TOKEN": "hf_x",
    "HF_HOME": "/data/hf",
    "CUDA_VISIBLE_DEVICES": "0,1",
    "VLLM_API_KEY": "server-key",
    "NCCL_DEBUG": "INFO",
    "HTTPS_PROXY": "http://proxy:3128",
}
CALLER = {**SECRETS, **NEEDED}


def test_a_process_server_gets_the_allowlist_then_the_plan_env(vllm_blue: ModelVersion) -> None:
    version = dataclasses.replace(vllm_blue, env={"CUDA_VISIBLE_DEVICES": "1", "MY_SETTING": "x"})
    assert server_env(CALLER, version) == {**NEEDED, "CUDA_VISIBLE_DEVICES": "1", "MY_SETTING": "x"}


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_no_job_secret_reaches_any_supervisor(vllm_blue: ModelVersion, name: str) -> None:
    spec = spec_for(vllm_blue, server_argv(vllm_blue))
    assert name not in server_env(CALLER, vllm_blue)
    for argv in (
        systemd.run_argv(spec, unit="rollout-chat-blue", env=CALLER, user=False, drain=30, grace=10),
        docker.run_argv(spec, unit="rollout-chat-blue", env=CALLER, hf_cache="/data/hf", drain=30, grace=10),
    ):
        assert not any(name in word or SECRETS[name] in word for word in argv)


def test_systemd_passes_the_allowlist_by_name_so_no_value_shows(vllm_blue: ModelVersion) -> None:
    version = dataclasses.replace(vllm_blue, supervisor="systemd", env={"CUDA_VISIBLE_DEVICES": "1"})
    argv = systemd.run_argv(spec_for(version), unit="rollout-chat-blue", env=CALLER, user=False, drain=30, grace=10)
    setenv = [word for word in argv if word.startswith("--setenv=")]
    assert setenv == [
        "--setenv=HF_HOME",
        "--setenv=HF_TOKEN",
        "--setenv=HOME",
        "--setenv=HTTPS_PROXY",
        "--setenv=NCCL_DEBUG",
        "--setenv=PATH",
        "--setenv=VLLM_API_KEY",
        "--setenv=CUDA_VISIBLE_DEVICES=1",
    ]


def test_docker_passes_only_what_means_something_inside_the_container(vllm_blue: ModelVersion) -> None:
    version = dataclasses.replace(vllm_blue, supervisor="docker")
    argv = docker.run_argv(
        spec_for(version), unit="rollout-chat-blue", env=CALLER, hf_cache="/data/hf", drain=30, grace=10
    )
    assert [word for word in argv if word.startswith("--env=")] == [
        "--env=CUDA_VISIBLE_DEVICES",
        "--env=HF_TOKEN",
        "--env=HTTPS_PROXY",
        "--env=NCCL_DEBUG",
        "--env=VLLM_API_KEY",
    ]


def test_locale_variables_pass_by_prefix() -> None:
    assert passed_names({"LC_ALL": "C.UTF-8", "LCX": "no", "VLLM_LOGGING_LEVEL": "DEBUG"}) == (
        "LC_ALL",
        "VLLM_LOGGING_LEVEL",
    )
