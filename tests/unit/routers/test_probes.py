from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from rollout.errors import ExternalError
from rollout.plan import load_plan
from rollout.routers import litellm, nginx
from rollout.routers.probes import count_colors, wait_live
from rollout.routers.split import Expectation

GOLDEN = Path(__file__).parent / "golden"
INTERNAL = Expectation(audience="internal", green_percent=5, probes=40)


def test_probes_carry_the_audience_and_key_and_count_colors_by_header() -> None:
    seen: list[httpx.Request] = []

    def router(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        color = "green" if request.headers.get("X-Rollout-Audience") == "internal" else "blue"
        return httpx.Response(200, headers={"X-Rollout-Color": color})

    probe = nginx.probe_style(load_plan(GOLDEN / "nginx" / "rollout-plan.yaml"))
    assert probe is not None
    with httpx.Client(transport=httpx.MockTransport(router)) as client:
        counts = count_colors(
            client, "http://router", probe, INTERNAL, env={"ROLLOUT_ROUTER_KEY": "k"}, deadline=time.monotonic() + 30
        )
    assert counts == Counter({"green": 40})
    assert {r.headers["Authorization"] for r in seen} == {"Bearer k"}
    assert {(r.method, r.url.path) for r in seen} == {("GET", "/v1/models")}


@pytest.mark.parametrize(
    ("env", "sent"),
    [
        ({"VLLM_API_KEY": "server-key"}, "Bearer server-key"),
        ({"ROLLOUT_ROUTER_KEY": "k", "VLLM_API_KEY": "s"}, "Bearer k"),
    ],
)
def test_nginx_probes_reach_a_keyed_vllm_with_its_key(env: dict[str, str], sent: str) -> None:
    """nginx hands the probe's Authorization header to the model server, which answers 401 under /v1 without it."""
    seen: list[str] = []

    def router(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization", ""))
        return httpx.Response(200, headers={"X-Rollout-Color": "blue"})

    probe = nginx.probe_style(load_plan(GOLDEN / "nginx" / "rollout-plan.yaml"))
    assert probe is not None
    with httpx.Client(transport=httpx.MockTransport(router)) as client:
        count_colors(client, "http://router", probe, INTERNAL, env=env, deadline=time.monotonic() + 30)
    assert set(seen) == {sent}


def test_litellm_probes_ask_for_one_token_of_the_service_with_tags() -> None:
    bodies: list[bytes] = []

    def router(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        assert request.headers["x-litellm-tags"] == "internal"
        return httpx.Response(200, headers={"x-litellm-model-id": "blue"}, json={})

    probe = litellm.probe_style(load_plan(GOLDEN / "litellm" / "rollout-plan.yaml"))
    assert probe is not None
    with httpx.Client(transport=httpx.MockTransport(router)) as client:
        counts = count_colors(
            client, "http://router", probe, INTERNAL, env={"LITELLM_MASTER_KEY": "m"}, deadline=time.monotonic() + 30
        )
    assert counts == Counter({"blue": 40})
    assert json.loads(bodies[0]) == {
        "model": "chat",
        "messages": [{"role": "user", "content": "ping"}],
        "max_tokens": 1,
    }


def test_a_connection_closed_unanswered_is_retried_once_and_errors_are_counted() -> None:
    calls = Counter[str]()

    def router(request: httpx.Request) -> httpx.Response:
        calls["all"] += 1
        if calls["all"] % 3 == 1:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        if calls["all"] % 3 == 2:
            return httpx.Response(502)
        return httpx.Response(200, headers={"X-Rollout-Color": "blue"})

    probe = nginx.probe_style(load_plan(GOLDEN / "nginx" / "rollout-plan.yaml"))
    assert probe is not None
    with httpx.Client(transport=httpx.MockTransport(router)) as client:
        counts = count_colors(
            client,
            "http://router",
            probe,
            Expectation(audience="all", green_percent=0, probes=1),
            env={},
            deadline=time.monotonic() + 30,
        )
    assert counts == Counter({"HTTP 502": 1})


def test_probes_stop_at_the_deadline() -> None:
    probe = nginx.probe_style(load_plan(GOLDEN / "nginx" / "rollout-plan.yaml"))
    assert probe is not None
    transport = httpx.MockTransport(lambda request: httpx.Response(200, headers={"X-Rollout-Color": "blue"}))
    with httpx.Client(transport=transport) as client:
        counts = count_colors(client, "http://router", probe, INTERNAL, env={}, deadline=time.monotonic() - 1)
    assert counts == Counter({"unanswered": 40})


def test_waiting_for_a_revision_gives_up_with_what_it_last_saw() -> None:
    probe = nginx.probe_style(load_plan(GOLDEN / "nginx" / "rollout-plan.yaml"))
    assert probe is not None
    transport = httpx.MockTransport(lambda request: httpx.Response(200, headers={"X-Rollout-Config": "old"}))
    with httpx.Client(transport=transport) as client:
        assert wait_live(client, "http://router", probe, "old", env={}) >= 0
        with pytest.raises(ExternalError, match="not config revision new"):
            wait_live(client, "http://router", probe, "new", env={}, timeout=0.2)
