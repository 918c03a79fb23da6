"""Retry policy: Retry-After in both forms, jittered backoff bounds, and giving up."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timezone

import pytest

from rollout.retry import RequestFailed, Retryable, RetryPolicy, delay_for, parse_retry_after, with_retries

NOW = datetime(2026, 11, 23, 10, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        ("0.5", 0.5),
        ("-4", 0.0),
        ("Mon, 23 Nov 2026 10:00:30 GMT", 30.0),
        ("Mon, 23 Nov 2026 09:00:00 GMT", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


def test_retry_after_wins_and_is_capped() -> None:
    policy = RetryPolicy(max_retry_after=10)
    rng = random.Random(1)
    assert 2.0 <= delay_for(0, 2.0, policy, rng) <= 2.2
    assert 10.0 <= delay_for(0, 500.0, policy, rng) <= 11.0


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(backoff=1.0, max_backoff=4.0)
    rng = random.Random(7)
    delays = [delay_for(attempt, None, policy, rng) for attempt in range(10) for _ in range(50)]
    assert all(0 <= d <= 4.0 for d in delays)
    assert max(delays[:50]) <= 1.0 < max(delays[100:])


def test_retries_until_success() -> None:
    calls = []

    async def attempt() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise Retryable("HTTP 503", retry_after=0)
        return "ok"

    assert asyncio.run(with_retries(attempt, RetryPolicy(retries=3), random.Random(0))) == "ok"
    assert len(calls) == 3


def test_gives_up_with_the_last_reason() -> None:
    async def attempt() -> str:
        raise Retryable("HTTP 429", retry_after=0)

    with pytest.raises(RequestFailed, match=r"HTTP 429 \(gave up after 3 attempts\)"):
        asyncio.run(with_retries(attempt, RetryPolicy(retries=2), random.Random(0)))


def test_permanent_failures_are_not_retried() -> None:
    calls = []

    async def attempt() -> str:
        calls.append(1)
        raise RequestFailed("HTTP 400")

    with pytest.raises(RequestFailed, match="HTTP 400"):
        asyncio.run(with_retries(attempt, RetryPolicy(retries=5), random.Random(0)))
    assert len(calls) == 1
