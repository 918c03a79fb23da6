from __future__ import annotations

from pathlib import Path

import pytest

from rollout.plan import ModelVersion
from rollout.serving.spec import ServerSpec

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "serving"


@pytest.fixture
def vllm_blue() -> ModelVersion:
    return ModelVersion(
        color="blue",
        name="llama-3.1-8b",
        model="meta-llama/Llama-3.1-8B-Instruct",
        revision="0e9e39f",
        port=8001,
        args=("--max-model-len", "8192"),
    )


def spec_for(version: ModelVersion, argv: tuple[str, ...] = ("vllm", "serve", "m")) -> ServerSpec:
    return ServerSpec(
        service="chat",
        version=version,
        argv=argv,
        cwd=Path("/srv/rollout"),
        state_dir=Path("/var/lib/rollout/chat"),
        drain=30.0,
    )
