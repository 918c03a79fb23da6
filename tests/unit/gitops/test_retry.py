"""When the github forge retries, and how long it waits first."""

from __future__ import annotations

import random

import pytest

from rollout.forge.github import GITHUB_POLICY, SECONDARY_DEFAULT_WAIT, retryable
from rollout.retry import delay_for

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("status", "headers", "message", "attempt", "expected"),
    [
        (None, {}, "connection refused", 0, 1.0),
        (502, {}, "Bad Gateway", 2, 4.0),
        (500, {}, "", 10, 30.0),
        (
            403,
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 120)},
            "API rate limit exceeded",
            0,
            121.0,
        ),
        (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) - 5)}, "", 0, 1.0),
        (429, {"Retry-After": "17"}, "", 0, 17.0),
        (403, {"retry-after": "3"}, "secondary rate limit", 0, 3.0),
        (403, {}, "You have exceeded a secondary rate limit", 0, SECONDARY_DEFAULT_WAIT),
        (429, {}, "", 0, SECONDARY_DEFAULT_WAIT),
        (403, {"x-ratelimit-remaining": "12"}, "Resource not accessible by integration", 0, None),
        (404, {}, "Not Found", 0, None),
        (422, {}, "Validation Failed", 0, None),
        (401, {}, "Bad credentials", 0, None),
    ],
)
def test_retry_wait(
    status: int | None, headers: dict[str, str], message: str, attempt: int, expected: float | None
) -> None:
    failure = retryable(status, headers, message, now=NOW)
    wait = None if failure is None else delay_for(attempt, failure.retry_after, GITHUB_POLICY, random.Random(0))
    assert wait == expected
