"""When and how long to wait before trying a request again: jittered exponential backoff, Retry-After first."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TypeVar

T = TypeVar("T")

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    retries: int = 4
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 120.0


class Retryable(Exception):
    """A failure worth another try: the connection failed, or the server said 429/5xx."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RequestFailed(Exception):
    """A request that failed for good; its message goes into the case's errors."""


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def retry_after_of(headers: Mapping[str, str]) -> float | None:
    return parse_retry_after(headers.get("retry-after"))


def delay_for(attempt: int, retry_after: float | None, policy: RetryPolicy, rng: random.Random) -> float:
    """Retry-After wins (capped, plus up to 10% so a crowd does not return at once); otherwise full jitter."""
    if retry_after is not None:
        wait = min(retry_after, policy.max_retry_after)
        return wait + rng.uniform(0, wait * 0.1)
    return rng.uniform(0, min(policy.max_backoff, policy.backoff * 2**attempt))


async def with_retries(attempt: Callable[[], Awaitable[T]], policy: RetryPolicy, rng: random.Random) -> T:
    """Run `attempt` until it succeeds, fails for good, or the retries are spent (RequestFailed either way)."""
    tries = 0
    while True:
        try:
            return await attempt()
        except Retryable as exc:
            if tries >= policy.retries:
                raise RequestFailed(f"{exc} (gave up after {tries + 1} attempts)") from None
            await asyncio.sleep(delay_for(tries, exc.retry_after, policy, rng))
            tries += 1
