"""The serving-args digest: what a verdict binds to beyond green's name and revision."""

from __future__ import annotations

import dataclasses

import pytest

from rollout.plan import ModelVersion, serving_args_digest


@pytest.mark.parametrize(
    "change",
    [
        {"model": "meta-llama/Llama-3.1-8B"},
        {"args": ("--max-model-len", "4096")},
        {"args": ("--max-model-len", "8192", "--quantization", "fp8")},
        {"env": {"VLLM_ATTENTION_BACKEND": "FLASHINFER"}},
        {"engine": "command", "command": "llama-server -m {model} --port {port}"},
        {"supervisor": "docker", "image": "vllm/vllm-openai:v0.32.0"},
    ],
)
def test_what_changes_the_answers_changes_the_digest(vllm_blue: ModelVersion, change: dict[str, object]) -> None:
    docker_blue = dataclasses.replace(vllm_blue, supervisor="docker") if "image" in change else vllm_blue
    assert serving_args_digest(dataclasses.replace(vllm_blue, **change)) != serving_args_digest(docker_blue)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "change",
    [
        {"name": "other"},
        {"revision": "r2"},
        {"port": 9001},
        {"host": "10.0.0.2"},
        {"supervisor": "systemd"},
        {"image": "vllm/vllm-openai:v0.32.0"},
    ],
)
def test_what_is_compared_on_its_own_or_changes_nothing_served_leaves_it(
    vllm_blue: ModelVersion, change: dict[str, object]
) -> None:
    assert serving_args_digest(dataclasses.replace(vllm_blue, **change)) == serving_args_digest(vllm_blue)  # type: ignore[arg-type]


def test_api_keys_never_enter_the_digest(vllm_blue: ModelVersion) -> None:
    one = dataclasses.replace(vllm_blue, args=("--api-key", "k1"), env={"VLLM_API_KEY": "k1"})
    two = dataclasses.replace(vllm_blue, args=("--api-key", "k2"), env={"VLLM_API_KEY": "k2"})
    assert serving_args_digest(one) == serving_args_digest(two) != serving_args_digest(vllm_blue)
    assert len(serving_args_digest(one)) == 16
