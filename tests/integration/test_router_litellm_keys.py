"""The real LiteLLM proxy in front of model servers that demand a bearer key: the real SmolLM2 (llama_cpp.server
`--api_key`) as blue, a stub answering 401 as vLLM does as green.

The rendered config names the variable of the proxy's environment that holds the key (`router.backend_key_env`);
LiteLLM reads it when a worker loads the config, so the key is in neither the config nor anything we print.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from rollout.errors import ExternalError
from rollout.plan import Plan, load_plan
from rollout.routers import render_config
from rollout.routers.apply import apply_traffic, describe_change, result_to_dict
from rollout.traffic import TrafficState
from tests.support.model import RunningModel, running_model
from tests.support.net import free_port, wait_until
from tests.support.routers import GracefulLiteLLM, Stub, litellm_binary, litellm_env, serves, stub_model, write_plan
from tests.support.routers import stage_state as state

pytestmark = [pytest.mark.litellm, pytest.mark.model]

MASTER = "sk-rollout-test"
BACKEND_KEY = "sk-model-servers-5e1d"
NAME = "ROLLOUT_TEST_BACKEND_KEY"
AUTH = {"Authorization": f"Bearer {MASTER}"}
ASK = {"model": "chat", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 4}
ENV = {**os.environ, "LITELLM_MASTER_KEY": MASTER, **litellm_env(litellm_binary())}


@dataclass(frozen=True)
class Backends:
    blue: RunningModel
    green: Stub
    root: Path


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends]:
    if litellm_binary() is None:
        missing = "no LiteLLM proxy: run scripts/setup (installs .venv-litellm) or set ROLLOUT_LITELLM_BIN"
        # CI installs it (scripts/setup), so there a missing proxy is a failure, not a skip.
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(missing)
        pytest.skip(missing)
    assert NAME not in os.environ
    root = tmp_path_factory.mktemp("litellm-keys")
    with (
        running_model("stub-blue", api_key=BACKEND_KEY, log=root / "smollm.log") as blue,
        stub_model("stub-green", key=BACKEND_KEY) as green,
    ):
        assert httpx.post(f"{blue.url}/v1/chat/completions", json=ASK, timeout=30).status_code == 401
        yield Backends(blue=blue, green=green, root=root)


def keyed_plan(backends: Backends, url: str, folder: str) -> Plan:
    root = backends.root / folder
    root.mkdir()
    path = write_plan(
        root,
        kind="litellm",
        config="litellm.yaml",
        url=url,
        reload=f"kill -HUP $(cat {root / 'litellm.pid'})",
        blue_port=int(backends.blue.url.rsplit(":", 1)[1]),
        green_port=backends.green.port,
        probes=40,
    )
    path.write_text(
        path.read_text().replace(
            '"probes": 40', f'"probes": 40, "backend_key_env": {{"blue": "{NAME}", "green": "{NAME}"}}'
        )
    )
    plan = load_plan(path)
    plan.router.config.write_text(render_config(plan, TrafficState.initial("chat")))
    return plan


@contextmanager
def proxy_for(plan: Plan, env: Mapping[str, str]) -> Iterator[GracefulLiteLLM]:
    binary = litellm_binary()
    assert binary is not None and plan.router.url is not None
    port = int(plan.router.url.rsplit(":", 1)[1])
    proxy = GracefulLiteLLM(binary, plan.router.config, port, plan.root / "litellm.log", MASTER, env=env)
    proxy.start()
    try:
        wait_until(lambda: serves(proxy.url, MASTER), timeout=180, what="LiteLLM proxy start")
        yield proxy
    finally:
        proxy.stop()


def chat(url: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", headers=AUTH, json=ASK, timeout=120)


def answered(url: str) -> int | None:
    """The status of a chat, or None when the connection closed unanswered (an old worker leaving at a reload)."""
    try:
        return chat(url).status_code
    except httpx.TransportError:
        return None


def test_the_proxy_holding_the_key_authenticates_to_keyed_servers_and_apply_verifies_through_them(
    backends: Backends,
) -> None:
    plan = keyed_plan(backends, f"http://127.0.0.1:{free_port()}", "holding")
    with proxy_for(plan, {NAME: BACKEND_KEY}) as proxy:
        reply = chat(proxy.url)
        assert reply.status_code == 200, reply.text
        assert reply.headers["x-litellm-model-id"] == "blue" and reply.json()["choices"][0]["message"]["content"]

        result = apply_traffic(plan, state(25), env=ENV)
        [check] = result.checks
        assert check.ok and check.blue > 0 and check.green > 0, check.describe()

        info = httpx.get(f"{proxy.url}/v1/model/info", headers=AUTH, timeout=10)
        shown = [plan.router.config.read_text(), info.text, describe_change(result.change), str(result_to_dict(result))]
        assert all(BACKEND_KEY not in text for text in shown)
        assert f"api_key: os.environ/{NAME}" in shown[0]

        # What was rendered before: every deployment sends `unused`, and a keyed server refuses it.
        unkeyed = replace(plan, router=replace(plan.router, backend_key_env={}))
        plan.router.config.write_text(render_config(unkeyed, TrafficState.initial("chat")))
        os.kill(int((plan.root / "litellm.pid").read_text()), signal.SIGHUP)
        wait_until(lambda: answered(proxy.url) not in (None, 200), timeout=120, what="the proxy on the unkeyed config")
        refused = chat(proxy.url)
        assert refused.status_code == 401, refused.text


def test_a_proxy_without_the_key_in_its_environment_fails_the_apply_which_is_undone(backends: Backends) -> None:
    plan = keyed_plan(backends, f"http://127.0.0.1:{free_port()}", "without")
    before = plan.router.config.read_text()
    with proxy_for(plan, {}) as proxy:
        reply = chat(proxy.url)
        # LiteLLM resolves os.environ/NAME to nothing, and its OpenAI client will not send a request without a key.
        assert reply.status_code == 500 and "Missing credentials" in reply.text, reply.text
        served = len(backends.green.served)
        with pytest.raises(
            ExternalError,
            match=r"(?s)failed or unattributed: HTTP 500 x\d+\) MISMATCH.*router.backend_key_env.*restored the previous.*reloaded it",
        ):
            apply_traffic(plan, state(25), env=ENV)
        assert plan.router.config.read_text() == before
        assert len(backends.green.served) == served
