"""The environment a real detached server runs with: the allowlist and the plan's `env`, not the job's secrets."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from rollout.plan import Plan
from rollout.serving import start, stop
from tests.support.net import free_port
from tests.support.serving import stub_command, write_plan

JOB_SECRETS = {
    "GITHUB_TOKEN": "ghs_job-token",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "oidc-request-token",
    "ROLLOUT_API_KEY": "client-side-key",
}


@pytest.fixture
def plan(tmp_path: Path) -> Iterator[Plan]:
    made = write_plan(
        tmp_path,
        {"name": "env-blue", "model": "m", "port": free_port(), "command": stub_command(), "env": {"MY_FLAG": "on"}},
    )
    try:
        yield made
    finally:
        stop(made, "blue", force=True, grace=5)


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def test_the_server_never_sees_the_jobs_tokens(plan: Plan) -> None:
    caller = {**os.environ, **JOB_SECRETS, "HF_TOKEN": "hf_model-token", "RUNNER_TRACKING_ID": "github_1"}
    started = start(plan, "blue", timeout=60, env=caller)
    assert started.status.pid is not None
    seen = environ_of(started.status.pid)
    assert not set(JOB_SECRETS) & set(seen)
    assert "RUNNER_TRACKING_ID" not in seen
    assert (seen["HF_TOKEN"], seen["MY_FLAG"], seen["PATH"]) == ("hf_model-token", "on", os.environ["PATH"])
