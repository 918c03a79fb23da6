"""`rollout apply` against the real LiteLLM proxy on loopback, in front of two stub model servers.

The proxy runs as docs/routers.md sets it up: under gunicorn, reloaded by SIGHUP (`kill -HUP` of its
master, what `systemctl reload litellm` sends), which starts a worker on the new config while the old one
finishes what it holds. Startup takes seconds on this machine, so the tests share one proxy and keep
their loads small.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import httpx
import pytest

from rollout.errors import ExternalError
from rollout.plan import Plan, load_plan
from rollout.routers import render_config
from rollout.routers.apply import apply_traffic, carry_out, change_for
from rollout.traffic import TrafficState
from tests.support.net import free_port, wait_until
from tests.support.routers import (
    GracefulLiteLLM,
    Stub,
    litellm_binary,
    litellm_env,
    serves,
    steady_load,
    stub_model,
    write_plan,
)
from tests.support.routers import stage_state as state

pytestmark = pytest.mark.litellm

KEY = "sk-rollout-test"
ENV = {**os.environ, "LITELLM_MASTER_KEY": KEY, **litellm_env(litellm_binary())}
AUTH = {"Authorization": f"Bearer {KEY}"}
ASK = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}


@dataclass(frozen=True)
class Rig:
    plan: Plan
    blue: Stub
    green: Stub
    proxy: GracefulLiteLLM

    @property
    def url(self) -> str:
        assert self.plan.router.url is not None
        return self.plan.router.url

    def deployments(self) -> dict[str, str]:
        """The deployments the proxy serves now: color -> config revision."""
        reply = httpx.get(f"{self.url}/v1/model/info", headers=AUTH, timeout=10)
        return {m["model_info"]["id"]: m["model_info"]["rollout_revision"] for m in reply.json()["data"]}

    def ask(self, count: int, headers: dict[str, str] | None = None) -> list[str]:
        """Send `count` chat requests, 4 at a time; each outcome is the color that answered or the HTTP status."""

        def one(_: int) -> str:
            reply = httpx.post(
                f"{self.url}/v1/chat/completions", headers={**AUTH, **(headers or {})}, json=ASK, timeout=60
            )
            return reply.headers["x-litellm-model-id"] if reply.status_code == 200 else f"HTTP {reply.status_code}"

        with ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(one, range(count)))


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
        proxy = GracefulLiteLLM(binary, root / "litellm.yaml", free_port(), root / "litellm.log", KEY)
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
            wait_until(lambda: serves(proxy.url, KEY), timeout=180, what="LiteLLM proxy start")
            yield Rig(plan=plan, blue=blue, green=green, proxy=proxy)
        finally:
            proxy.stop()


def test_internal_stage_sends_only_tagged_requests_to_green(rig: Rig) -> None:
    result = apply_traffic(rig.plan, state(5), env=ENV)
    internal, everyone = result.checks
    assert (internal.audience, internal.ok) == ("internal", True), internal.describe()
    assert (everyone.audience, everyone.green, everyone.ok) == ("all", 0, True), everyone.describe()
    # Beyond apply's own 25 untagged probes: a request with no tag, or one green does not carry, is blue's.
    untagged = rig.ask(60) + rig.ask(20, headers={"x-litellm-tags": "someone-else"})
    assert Counter(untagged) == {"blue": 80}
    assert rig.deployments() == {"blue": result.change.revision, "green": result.change.revision}


def test_weight_changes_under_load_fail_no_request(rig: Rig) -> None:
    with steady_load(rig.url, clients=4, max_seconds=300, key=KEY) as load:
        results = [apply_traffic(rig.plan, state(green), env=ENV) for green in (25, 75, 25)]
    for result in results:
        [check] = result.checks
        assert check.ok, check.describe()
    assert load.failures == [], load.failures[:5]
    assert load.colors["blue"] > 0 and load.colors["green"] > 0 and load.answered == sum(load.colors.values())
    assert set(rig.deployments().values()) == {results[-1].change.revision}


def test_a_request_in_flight_during_the_reload_is_answered_in_full(rig: Rig) -> None:
    apply_traffic(rig.plan, state(25), env=ENV)
    began = len(rig.blue.started) + len(rig.green.started)
    slow = {**ASK, "messages": [{"role": "user", "content": "slow 8"}]}
    with ThreadPoolExecutor(max_workers=1) as pool:
        answer = pool.submit(httpx.post, f"{rig.url}/v1/chat/completions", headers=AUTH, json=slow, timeout=120)
        wait_until(lambda: len(rig.blue.started) + len(rig.green.started) > began, timeout=60, what="slow request")
        result = apply_traffic(rig.plan, state(75), env=ENV)
        reply = answer.result()
    assert result.checks[0].ok, result.checks[0].describe()
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"] in ("stub-blue", "stub-green")


def test_a_color_at_zero_is_absent_from_the_proxy_not_weighted_zero(rig: Rig) -> None:
    full = apply_traffic(rig.plan, state(100), env=ENV)
    assert rig.deployments() == {"green": full.change.revision}
    before = apply_traffic(rig.plan, state(0), env=ENV)
    assert rig.deployments() == {"blue": before.change.revision}


def test_green_failing_reaches_the_client_and_is_neither_retried_on_blue_nor_cooled_down(rig: Rig) -> None:
    apply_traffic(rig.plan, state(25), env=ENV)
    served_blue, served_green = len(rig.blue.served), len(rig.green.served)
    rig.green.failing.set()
    try:
        outcomes = rig.ask(120)
    finally:
        rig.green.failing.clear()
    failed = [o for o in outcomes if o != "blue"]
    assert set(failed) <= {"HTTP 500"}, Counter(outcomes)
    # Each failed request reached green once and blue never: no retry, no fallback.
    assert (len(rig.green.served) - served_green, len(rig.blue.served) - served_blue) == (
        len(failed),
        len(outcomes) - len(failed),
    )
    # Green keeps its share to the end: LiteLLM's default would cool it down after 5 failures in a minute.
    # (Each of the last 60 requests misses green with probability 0.75: all of them do once in 30 million.)
    assert "HTTP 500" in outcomes[-60:], Counter(outcomes)


def test_a_failing_reload_command_leaves_the_proxy_serving_its_config(rig: Rig) -> None:
    before = rig.deployments()
    text = rig.plan.router.config.read_text()
    failing = replace(rig.plan, router=replace(rig.plan.router, reload="echo unit not found >&2; exit 5"))
    with pytest.raises(ExternalError, match="unit not found"):
        apply_traffic(failing, state(100), env=ENV)
    assert rig.plan.router.config.read_text() == text
    assert rig.deployments() == before
    assert set(rig.ask(4)) <= {"blue", "green"}


def test_a_config_litellm_cannot_load_is_refused_before_the_reload_and_the_proxy_keeps_serving(rig: Rig) -> None:
    # Last in the module: without the check, the reload would stop the proxy (gunicorn's master exits).
    apply_traffic(rig.plan, state(25), env=ENV)
    before, text = rig.deployments(), rig.plan.router.config.read_text()
    change = change_for(rig.plan, state(75), probes=None, env=ENV)
    broken = replace(change, text=change.text.replace("simple-shuffle", "simple-shuffel"))
    with pytest.raises(ExternalError) as info:
        carry_out(broken, env=ENV)
    message = str(info.value)
    assert message.startswith("validate command `") and "LiteLLM cannot load" in message, message
    assert "Invalid routing_strategy: 'simple-shuffel'" in message and KEY not in message
    assert rig.plan.router.config.read_text() == text
    assert sorted(p.name for p in rig.plan.router.config.parent.iterdir() if ".rollout-" in p.name) == []
    assert rig.deployments() == before
    assert set(rig.ask(8)) <= {"blue", "green"}


def test_a_proxy_that_dies_during_verification_is_reported_down_after_the_undo(rig: Rig) -> None:
    # The undo's `kill -HUP` of the dead master succeeds (it is not reaped yet, as under a supervisor that has
    # not noticed), so only asking the proxy tells that the previous config is back but nothing serves it.
    before = apply_traffic(rig.plan, state(25), env=ENV)
    text = rig.plan.router.config.read_text()
    served = len(rig.blue.served) + len(rig.green.served)
    rig.blue.stalling.set()
    rig.green.stalling.set()
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            applying = pool.submit(apply_traffic, rig.plan, state(75), env=ENV, live_timeout=60)
            wait_until(
                lambda: len(rig.blue.served) + len(rig.green.served) >= served + 5, timeout=120, what="the probes"
            )
            rig.proxy.kill()
            with pytest.raises(ExternalError) as info:
                applying.result()
    finally:
        rig.blue.stalling.clear()
        rig.green.stalling.clear()
        rig.proxy.restart()
    message = str(info.value)
    assert "MISMATCH" in message, message
    assert f"restored the previous {rig.plan.router.config} and reloaded it, but the router does not answer" in message
    assert f"does not serve config {before.change.revision} after 60s" in message, message
    assert f"start it again the way it is run (router.reload `{rig.proxy.reload_command}`" in message, message
    assert info.value.exit_code == 4
    assert rig.plan.router.config.read_text() == text
    # Started again as the message says, the proxy serves the restored config.
    assert rig.deployments() == {"blue": before.change.revision, "green": before.change.revision}
