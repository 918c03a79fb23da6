"""The real SmolLM2 as blue and green, started, checked and stopped through `rollout serve`."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rollout.errors import EXIT_FAILED
from rollout.plan import Plan
from rollout.serving.procfs import group_members, process_info
from tests.support.model import smollm_path
from tests.support.serving import blue_and_green, serve_cli, set_traffic

pytestmark = pytest.mark.model

# {python} is not a placeholder: the interpreter is written into the plan as it is
LLAMA = (
    f"{sys.executable} -m llama_cpp.server --model {{model}} --host {{host}} --port {{port}} "
    "--model_alias {name} --n_ctx 2048 --n_threads 1"
)


@pytest.fixture
def plan(tmp_path: Path) -> Iterator[Plan]:
    with blue_and_green(tmp_path, LLAMA, prefix="smol", model=str(smollm_path())) as made:
        yield made


def serve_json(plan: Plan, *args: str) -> Any:
    result = serve_cli(plan, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def chat(url: str, name: str) -> str:
    response = httpx.post(
        f"{url}/v1/chat/completions",
        timeout=120,
        json={
            "model": name,
            "max_tokens": 8,
            "temperature": 0,
            "messages": [{"role": "user", "content": "What is the capital of France?"}],
        },
    )
    response.raise_for_status()
    body = response.json()
    assert body["model"] == name
    return str(body["choices"][0]["message"]["content"])


def gone(pid: int) -> bool:
    info = process_info(pid)
    return (info is None or info.state == "Z") and not group_members(pid)


def test_blue_and_green_side_by_side(plan: Plan) -> None:
    blue = serve_json(plan, "start", "blue", "--timeout", "180")
    green = serve_json(plan, "start", "green", "--timeout", "180")
    assert blue["action"] == green["action"] == "started"

    for color, started in (("blue", blue), ("green", green)):
        version = plan.model(color)
        current = serve_json(plan, "status", color)
        assert current["state"] == "healthy" and current["served"] == [version.name]
        assert current["pid"] == started["status"]["pid"] and current["matches_plan"] is True
        assert chat(version.url, version.name).strip()

    again = serve_json(plan, "start", "blue")
    assert again["action"] == "already-running"
    assert again["status"]["pid"] == blue["status"]["pid"]

    set_traffic(plan, 25)
    refused = serve_cli(plan, "stop", "green")
    assert refused.exit_code == EXIT_FAILED and "green carries 25% of the traffic" in refused.output

    set_traffic(plan, 0)
    refused = serve_cli(plan, "stop", "blue")
    assert refused.exit_code == EXIT_FAILED and "blue carries 100%" in refused.output
    for color, started in (("green", green), ("blue", blue)):
        pid = started["status"]["pid"]
        stopped = serve_json(plan, "stop", color, *(["--force"] if color == "blue" else []))
        assert stopped["action"] == "stopped" and stopped["pid"] == pid
        assert gone(pid)
        assert serve_json(plan, "status", color)["state"] == "stopped"
