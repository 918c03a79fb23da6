from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from rollout.plan import ModelVersion
from rollout.serving.engines import DRAIN_SECONDS, drain_seconds, local_model_path, server_argv


def test_vllm_argv_names_revision_served_name_address_and_drain(vllm_blue: ModelVersion) -> None:
    assert server_argv(vllm_blue) == (
        "vllm",
        "serve",
        "meta-llama/Llama-3.1-8B-Instruct",
        "--revision",
        "0e9e39f",
        "--served-model-name",
        "llama-3.1-8b",
        "--host",
        "127.0.0.1",
        "--port",
        "8001",
        "--shutdown-timeout",
        str(DRAIN_SECONDS),
        "--max-model-len",
        "8192",
    )


def test_vllm_without_revision_leaves_the_flag_out(vllm_blue: ModelVersion) -> None:
    assert "--revision" not in server_argv(dataclasses.replace(vllm_blue, revision=None))


@pytest.mark.parametrize("args", [("--shutdown-timeout", "120"), ("--shutdown-timeout=120",)])
def test_a_drain_time_in_the_plan_args_is_used_and_not_repeated(vllm_blue: ModelVersion, args: tuple[str, ...]) -> None:
    version = dataclasses.replace(vllm_blue, args=args)
    argv = server_argv(version)
    assert sum(a.startswith("--shutdown-timeout") for a in argv) == 1
    assert drain_seconds(version) == 120.0


def test_default_drain(vllm_blue: ModelVersion) -> None:
    assert drain_seconds(vllm_blue) == DRAIN_SECONDS


def test_command_template_fills_every_placeholder_per_word() -> None:
    version = ModelVersion(
        color="green",
        name="smol-v2",
        model="/models/my model.gguf",
        revision="r2",
        port=9002,
        host="127.0.0.2",
        engine="command",
        args=("--verbose",),
        command="llama-server -m {model} --alias {name} --host {host} --port={port} --tag rev-{revision}",
    )
    assert server_argv(version) == (
        "llama-server",
        "-m",
        "/models/my model.gguf",
        "--alias",
        "smol-v2",
        "--host",
        "127.0.0.2",
        "--port=9002",
        "--tag",
        "rev-r2",
        "--verbose",
    )


def test_command_template_keeps_quoted_words_together() -> None:
    version = ModelVersion(
        color="blue", name="n", model="m", port=1, engine="command", command="/opt/python -c 'print(1)' --port {port}"
    )
    assert server_argv(version) == ("/opt/python", "-c", "print(1)", "--port", "1")


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("meta-llama/Llama-3.1-8B-Instruct", None),
        ("/models/smol.gguf", Path("/models/smol.gguf")),
        ("./weights/smol.gguf", Path("/srv/plan/weights/smol.gguf")),
        ("smol.gguf", Path("/srv/plan/smol.gguf")),
    ],
)
def test_local_model_paths_are_told_from_hub_ids(model: str, expected: Path | None) -> None:
    version = ModelVersion(color="blue", name="n", model=model, port=1)
    assert local_model_path(version, Path("/srv/plan")) == expected
