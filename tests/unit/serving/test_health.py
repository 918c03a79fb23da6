from __future__ import annotations

import httpx
import pytest

from rollout.errors import ExternalError
from rollout.serving.health import model_ids, probe, read_metrics, read_version
from tests.unit.serving.conftest import FIXTURES

URL = "http://127.0.0.1:8001"


def client(routes: dict[str, httpx.Response]) -> httpx.Client:
    def handle(request: httpx.Request) -> httpx.Response:
        return routes.get(request.url.path, httpx.Response(404, json={"detail": "Not Found"}))

    return httpx.Client(transport=httpx.MockTransport(handle))


MODELS = httpx.Response(200, json={"object": "list", "data": [{"id": "llama-3.1-8b", "object": "model"}]})


def test_a_healthy_vllm_serves_its_name() -> None:
    health = probe(URL, client=client({"/health": httpx.Response(200), "/v1/models": MODELS}))
    assert health.healthy and health.serves("llama-3.1-8b")
    assert not health.serves("llama-3.3-8b-ft2")


def test_a_server_without_health_endpoint_is_healthy_once_models_answer() -> None:
    assert probe(URL, client=client({"/v1/models": MODELS})).serves("llama-3.1-8b")


def test_503_is_answering_but_not_healthy() -> None:
    health = probe(URL, client=client({"/health": httpx.Response(503), "/v1/models": MODELS}))
    assert health.answering and not health.healthy and not health.serves("llama-3.1-8b")


def test_nothing_listening() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    health = probe(URL, client=httpx.Client(transport=httpx.MockTransport(refuse)))
    assert not health.answering
    assert health.error is not None and "ConnectError" in health.error


def test_models_answer_that_is_not_json_lists_nothing() -> None:
    health = probe(
        URL, client=client({"/health": httpx.Response(200), "/v1/models": httpx.Response(200, text="<html>")})
    )
    assert health.models == () and not health.serves("llama-3.1-8b")


@pytest.mark.parametrize("body", [None, [], {"data": "x"}, {"data": [{"name": "no id"}]}])
def test_odd_model_lists_list_nothing(body: object) -> None:
    assert model_ids(body) == ()


def test_version() -> None:
    assert read_version(URL, client=client({"/version": httpx.Response(200, json={"version": "0.11.0"})})) == "0.11.0"
    assert read_version(URL, client=client({})) is None


def test_metrics_are_scraped_and_parsed() -> None:
    text = (FIXTURES / "vllm-metrics.txt").read_text()
    metrics = read_metrics(URL, client=client({"/metrics": httpx.Response(200, text=text)}), model="llama-3.1-8b")
    assert metrics.generation_tokens == 12200


@pytest.mark.parametrize("response", [httpx.Response(500, text="boom"), httpx.Response(200, text='x{le="1" 2\n')])
def test_unreadable_metrics_are_an_external_failure(response: httpx.Response) -> None:
    with pytest.raises(ExternalError, match="/metrics"):
        read_metrics(URL, client=client({"/metrics": response}))
