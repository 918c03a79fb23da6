"""`rollout apply` against the real LiteLLM proxy on loopback, in front of two stub model servers.

The proxy reads its config only at start, so its reload is a restart: the plan's reload command kills
it and a supervisor thread starts it again (as systemd's Restart=always would). Startup takes seconds,
so these tests are few and share one proxy.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, replace

import httpx
import pytest

from rollout.errors import ExternalError
from rollout.plan import Plan, load_plan
from rollout.routers import render_config
from rollout.routers.apply import apply_traffic
from rollout.traffic import TrafficState
from tests.support.net import free_port, wait_until
from tests.support.routers import Stub, SupervisedLiteLLM, litellm_binary, serves, stub_model, write_plan
from tests.support.routers import stage_state as state

pytestmark = pytest.mark.litellm

KEY = "sk-rollout-test"
ENV = {**os.environ, "LITELLM_MASTER_KEY": KEY}


@dataclass(frozen=True)
class Rig:
    plan: Plan
    blue: Stub
    green: Stub

    def revisions_served(self) -> set[str]:
        reply = httpx.get(
            f"{self.plan.router.url}/v1/model/info", headers={"Authorization": f"Bearer {KEY}"}, timeout=10
        )
        return {m["model_info"]["rollout_revision"] for m in reply.json()["data"]}


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    binary = litellm_binary()
    if binary is None:
        # CI installs it (scripts/setup), so there a missing proxy is a failure, not a skip.
        missing = "no LiteLLM proxy: run scripts/setup (installs .venv-litellm) or set ROLLOUT_LITELLM_BIN"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(missing)
        pytest.skip(missing)
    root = tmp_path_factory.mktemp("litellm")
    with stub_model("stub-blue") as blue, stub_model("stub-green") as green:
        proxy = SupervisedLiteLLM(binary, root / "litellm.yaml", free_port(), root / "litellm.log", KEY)
        plan = load_plan(
            write_plan(
                root,
                kind="litellm",
                config="litellm.yaml",
                url=proxy.url,
                reload=proxy.reload_command,
                blue_port=blue.port,
                green_port=green.port,
                internal_first=True,
                probes=100,
            )
        )
        plan.router.config.write_text(render_config(plan, TrafficState.initial("chat")))
        proxy.start()
        try:
            wait_until(lambda: serves(proxy.url, KEY), timeout=120, what="LiteLLM proxy start")
            yield Rig(plan=plan, blue=blue, green=green)
        finally:
            proxy.stop()


def test_internal_stage_goes_to_green_only_for_tagged_requests(rig: Rig) -> None:
    result = apply_traffic(rig.plan, state(5), env=ENV)
    internal, everyone = result.checks
    assert (internal.audience, internal.ok) == ("internal", True), internal.describe()
    assert (everyone.audience, everyone.green, everyone.ok) == ("all", 0, True), everyone.describe()
    assert rig.revisions_served() == {result.change.revision}


def test_weights_apply_and_a_revert_takes_effect_on_the_next_restart(rig: Rig) -> None:
    for green in (75, 25):
        result = apply_traffic(rig.plan, state(green), env=ENV)
        [check] = result.checks
        assert check.ok and check.intended == green, check.describe()
        assert rig.revisions_served() == {result.change.revision}


def test_a_failing_restart_command_leaves_the_proxy_serving_its_config(rig: Rig) -> None:
    before = rig.revisions_served()
    text = rig.plan.router.config.read_text()
    failing = replace(rig.plan, router=replace(rig.plan.router, reload="echo unit not found >&2; exit 5"))
    with pytest.raises(ExternalError, match="unit not found"):
        apply_traffic(failing, state(100), env=ENV)
    assert rig.plan.router.config.read_text() == text
    assert rig.revisions_served() == before
    probe = httpx.post(
        f"{rig.plan.router.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {KEY}"},
        json={"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1},
        timeout=30,
    )
    assert probe.status_code == 200
