"""A vLLM with an API key answers 401 under /v1: `serve start` and every client of ours must send it.

The stub stands in for vLLM through a `vllm` program on PATH, so the plan is an ordinary engine: vllm
plan, its command line is what vLLM would get, and the stub guards /v1 as vLLM does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from rollout.errors import ExternalError
from rollout.evals.target import resolve_target
from rollout.plan import Plan
from rollout.serving import start, status, stop
from tests.support.net import free_port
from tests.support.serving import fake_vllm, write_plan

KEY = "sk-model-server-7f3a"
TIMEOUT = 20.0


@pytest.fixture
def caller(tmp_path: Path) -> dict[str, str]:
    fake_vllm(tmp_path / "bin")
    environ = {k: v for k, v in os.environ.items() if k not in ("VLLM_API_KEY", "ROLLOUT_API_KEY")}
    return {**environ, "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"}


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[Any]:
    made: list[Plan] = []

    def make(**blue: Any) -> Plan:
        plan = write_plan(tmp_path, {"engine": "vllm", "name": "keyed", "model": "org/m", "port": free_port(), **blue})
        made.append(plan)
        return plan

    yield make
    for plan in made:
        stop(plan, "blue", force=True, grace=5)


@pytest.mark.parametrize(
    ("blue", "extra_env"),
    [
        pytest.param({"args": ["--api-key", KEY]}, {}, id="args"),
        pytest.param({"args": [f"--api_key={KEY}"]}, {}, id="args-underscore"),
        pytest.param({"env": {"VLLM_API_KEY": KEY}}, {}, id="plan-env"),
        pytest.param({}, {"VLLM_API_KEY": KEY}, id="runner-env"),
    ],
)
def test_start_sends_the_key_from_wherever_the_plan_puts_it(
    keyed: Any, caller: dict[str, str], blue: Mapping[str, Any], extra_env: Mapping[str, str]
) -> None:
    plan = keyed(**blue)
    env = {**caller, **extra_env}
    started = start(plan, "blue", timeout=TIMEOUT, env=env)
    assert started.status.state == "healthy" and started.status.served == ("keyed",)
    assert status(plan, "blue", env=env).state == "healthy"
    target = resolve_target("blue", plan_path=plan.path, model=None, env=env)
    assert target.headers == {"authorization": f"Bearer {KEY}"}
    assert KEY not in repr(target)


def test_a_crash_never_prints_the_key(keyed: Any, caller: dict[str, str]) -> None:
    plan = keyed(args=["--api-key", KEY, "--exit", "3"])
    with pytest.raises(ExternalError) as info:
        start(plan, "blue", timeout=TIMEOUT, env=caller)
    message = str(info.value)
    assert "non-default args" in message and "out of memory" in message
    assert KEY not in message
