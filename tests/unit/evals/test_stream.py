"""Reading chat completions: streamed events split anywhere, whole JSON bodies, and the broken ones."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollout.evals.stream import BadResponse, ChatStream, parse_completion


def event(data: object) -> bytes:
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def delta(text: str) -> bytes:
    return event({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})


STREAM = (
    event({"choices": [{"delta": {"role": "assistant"}}]})
    + delta("Hel")
    + delta("lo")
    + b": keep-alive\n\n"
    + event({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}})
    + b"data: [DONE]\n\n"
)


@pytest.mark.parametrize("size", [1, 7, 64, len(STREAM)])
def test_stream_split_at_any_byte(size: int) -> None:
    parser = ChatStream()
    got = [parser.feed(STREAM[i : i + size]) for i in range(0, len(STREAM), size)]
    assert parser.finish() == ("Hello", 2)
    assert parser.done
    assert any(got)


def test_first_content_is_reported_once_text_arrives() -> None:
    parser = ChatStream()
    assert parser.feed(event({"choices": [{"delta": {"role": "assistant", "content": ""}}]})) is False
    assert parser.feed(delta("x")) is True


def test_last_event_without_trailing_newline() -> None:
    parser = ChatStream()
    parser.feed(delta("a") + b'data: {"choices": [{"delta": {"content": "b"}}]}')
    assert parser.finish() == ("ab", 2)  # no usage: one token per text chunk


def test_crlf_lines() -> None:
    parser = ChatStream()
    parser.feed(delta("a").replace(b"\n", b"\r\n"))
    assert parser.finish()[0] == "a"


@pytest.mark.parametrize(
    ("chunk", "message"),
    [
        (b"data: {not json\n\n", "malformed stream chunk"),
        (b"data: [1, 2]\n\n", "not a JSON object"),
        (event({"error": {"message": "model overloaded"}}), "model overloaded"),
        (event({"choices": "nope"}), "not a list"),
        (event({"choices": [{"delta": "text"}]}), "unexpected choice shape"),
    ],
)
def test_broken_streams(chunk: bytes, message: str) -> None:
    with pytest.raises(BadResponse, match=message):
        ChatStream().feed(chunk)


def test_a_stream_with_no_choices_is_an_error() -> None:
    parser = ChatStream()
    parser.feed(event({"choices": [], "usage": {"completion_tokens": 0}}) + b"data: [DONE]\n\n")
    with pytest.raises(BadResponse, match="no choices"):
        parser.finish()


def test_whole_json_completion() -> None:
    body = json.dumps(
        {"choices": [{"message": {"role": "assistant", "content": "Paris"}}], "usage": {"completion_tokens": 1}}
    )
    assert parse_completion(body.encode()) == ("Paris", 1)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>502 Bad Gateway</html>", "not JSON"),
        (b'{"choices": []}', "no choices"),
        (b'"text"', "not a JSON object"),
        (b'{"error": {"message": "bad model"}}', "bad model"),
    ],
)
def test_broken_json_completions(body: bytes, message: str) -> None:
    with pytest.raises(BadResponse, match=message):
        parse_completion(body)


def test_odd_usage_is_ignored() -> None:
    body = json.dumps({"choices": [{"message": {"content": "x"}}], "usage": {"completion_tokens": "many"}})
    assert parse_completion(body.encode()) == ("x", None)


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=20))
def test_any_split_reads_the_same(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(STREAM)]
    parser = ChatStream()
    for start, end in itertools.pairwise(bounds):
        parser.feed(STREAM[start:end])
    assert parser.finish() == ("Hello", 2)
