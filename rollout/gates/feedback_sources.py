"""Fetch the feedback gate's votes: the only part of the gates that touches the network or reads a log.

A source that cannot be reached or answers nonsense leaves the gate without feedback (inconclusive,
with the reason), rather than ending the run: the other gates' evidence still counts.
A JSONL file is the user's own input, so what is wrong with it is an input error naming the line.
"""

from __future__ import annotations

from typing import Any

import httpx

from rollout.documents import read_text
from rollout.errors import InputError
from rollout.gates.feedback import Feedback, parse_prometheus, parse_votes_json, parse_votes_jsonl
from rollout.plan import FeedbackSource
from rollout.retry import GaveUp, Retryable, RetryPolicy, retry_call

FEEDBACK_RETRY = RetryPolicy(retries=2, backoff=0.5, jitter=False)


def fetch_feedback(
    source: FeedbackSource, *, transport: httpx.BaseTransport | None = None, timeout: float = 10.0
) -> Feedback:
    if source.kind == "jsonl":
        assert source.path is not None
        name = str(source.path)
        try:
            return Feedback(source=name, votes=parse_votes_jsonl(read_text(source.path, max_bytes=500_000_000)))
        except ValueError as exc:
            raise InputError.at(name, str(exc.args[0]), line=exc.args[1]) from None
    assert source.url is not None
    if source.kind == "prometheus":
        url, params = source.url.rstrip("/") + "/api/v1/query", {"query": source.query or ""}
        parse = parse_prometheus
    else:
        url, params, parse = source.url, {}, parse_votes_json
    try:
        data = get_json(url, params, transport=transport, timeout=timeout)
        return Feedback(source=url, votes=parse(data))
    except GaveUp as exc:
        return Feedback(source=url, unavailable=f"{source.kind} source {url}: {exc.last}")
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        return Feedback(source=url, unavailable=f"{source.kind} source {url}: {describe(exc)}")


def get_json(url: str, params: dict[str, str], *, transport: httpx.BaseTransport | None, timeout: float) -> Any:
    with httpx.Client(transport=transport, timeout=timeout) as client:

        def attempt() -> httpx.Response:
            try:
                response = client.get(url, params=params)
            except httpx.TransportError as exc:
                raise Retryable(describe(exc)) from None
            if response.status_code >= 500:
                raise Retryable(f"HTTP {response.status_code}")
            return response

        response = retry_call(attempt, FEEDBACK_RETRY)
        response.raise_for_status()
        return response.json()


def describe(exc: Exception) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, httpx.HTTPError):
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return f"unexpected response: {exc}"
