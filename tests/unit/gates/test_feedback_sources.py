from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from rollout.errors import InputError
from rollout.gates.feedback import Votes, parse_prometheus, parse_votes_json
from rollout.gates.feedback_sources import fetch_feedback
from rollout.plan import FeedbackSource

PROMETHEUS = {
    "status": "success",
    "data": {
        "resultType": "vector",
        "result": [
            {"metric": {"model": "v1", "vote": "up"}, "value": [1700000000.0, "400"]},
            {"metric": {"model": "v1", "vote": "down"}, "value": [1700000000.0, "100"]},
            {"metric": {"model": "v2", "vote": "up"}, "value": [1700000000.0, "41.6"]},
        ],
    },
}


def test_prometheus_vectors_become_votes_per_model() -> None:
    assert parse_prometheus(PROMETHEUS) == {"v1": Votes(up=400, down=100), "v2": Votes(up=42, down=0)}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"status": "error", "error": "parse error at char 3"}, "parse error at char 3"),
        ({"status": "success", "data": {"resultType": "matrix", "result": []}}, "instant vector"),
        (
            {
                "status": "success",
                "data": {"resultType": "vector", "result": [{"metric": {"model": "v1"}, "value": [0, "1"]}]},
            },
            "labels model and vote",
        ),
        (
            {
                "status": "success",
                "data": {
                    "resultType": "vector",
                    "result": [{"metric": {"model": "v1", "vote": "up"}, "value": [0, "NaN"]}],
                },
            },
            "not a count",
        ),
    ],
)
def test_bad_prometheus_answers_say_what_is_wrong(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_prometheus(data)


def test_json_votes_need_whole_counts() -> None:
    assert parse_votes_json({"v1": {"up": 3, "down": 1}}) == {"v1": Votes(up=3, down=1)}
    with pytest.raises(ValueError, match="whole, non-negative"):
        parse_votes_json({"v1": {"up": -1}})


def test_prometheus_source_queries_the_http_api() -> None:
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, json=PROMETHEUS)

    source = FeedbackSource(kind="prometheus", url="http://prom:9090/", query="sum by (model, vote) (x)")
    feedback = fetch_feedback(source, transport=httpx.MockTransport(handler))
    assert feedback.votes == {"v1": Votes(up=400, down=100), "v2": Votes(up=42, down=0)}
    assert seen[0].path == "/api/v1/query" and seen[0].params["query"] == "sum by (model, vote) (x)"


def test_a_failing_source_is_retried_then_reported_not_raised() -> None:
    calls = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503) if len(calls) == 1 else httpx.Response(200, json={"v1": {"up": 1, "down": 0}})

    source = FeedbackSource(kind="http", url="http://votes/api")
    assert fetch_feedback(source, transport=httpx.MockTransport(flaky)).votes == {"v1": Votes(up=1, down=0)}
    down = fetch_feedback(source, transport=httpx.MockTransport(lambda r: httpx.Response(404)))
    assert down.votes is None and down.unavailable == "http source http://votes/api: HTTP 404"
    garbage = fetch_feedback(source, transport=httpx.MockTransport(lambda r: httpx.Response(200, text="<html>")))
    assert garbage.votes is None and "unexpected response" in (garbage.unavailable or "")


def test_jsonl_votes_and_their_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "votes.jsonl"
    path.write_text(
        "\n".join(json.dumps({"model": m, "vote": v}) for m, v in [("v1", "up"), ("v1", "down"), ("v2", "up")]) + "\n\n"
    )
    assert fetch_feedback(FeedbackSource(kind="jsonl", path=path)).votes == {
        "v1": Votes(up=1, down=1),
        "v2": Votes(up=1),
    }
    path.write_text('{"model": "v1", "vote": "up"}\n{"model": "v1", "vote": "meh"}\n')
    with pytest.raises(InputError) as caught:
        fetch_feedback(FeedbackSource(kind="jsonl", path=path))
    assert caught.value.problems[0].line == 2 and "up" in caught.value.problems[0].message
