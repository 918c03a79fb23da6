"""Trying a request again: when to give up, how long to wait first, and the loops that do the waiting.

A caller turns a failure worth another try into `Retryable` (with the server's Retry-After, if it sent
one) and anything else into an exception of its own; `retry_call` (sync) and `with_retries` (async) wait
and try again until the attempt succeeds, fails for good, or the policy is spent, and then raise
`GaveUp` naming the last failure. What counts as worth retrying is the caller's: GitHub's rate-limit
headers are read in `forge/github.py`, a model server's statuses in `evals/`.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TypeVar

T = TypeVar("T")

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
"""HTTP statuses that waiting may fix, for a server that is not GitHub."""

_RNG = random.Random()


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    retries: int = 4
    """Tries after the first one."""
    backoff: float = 0.5
    """Seconds to wait after the first failure (without a Retry-After); it doubles each time."""
    max_backoff: float = 30.0
    """The most that doubling may reach."""
    jitter: bool = True
    """Wait a random part of the backoff (and up to 10% more than a Retry-After), so clients that failed
    together do not all come back at once."""
    max_retry_after: float = 120.0
    """A server asking for a longer wait is waited for this long."""
    max_wait: float = math.inf
    """Seconds of waiting allowed across the retries of one request; a retry that would wait beyond it gives up
    at once."""


class Retryable(Exception):
    """A failure worth another try: the connection failed, or the server said to come back later."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RequestFailed(Exception):
    """A request that failed for good; its message says why."""


class GaveUp(RequestFailed):
    """The retries are spent, or the next wait is beyond the policy's budget.

    `last` is the final failure, `waited` the seconds already spent waiting, and `next_wait` the wait that would
    have gone beyond `max_wait` when that is why (None when the retries ran out).
    """

    def __init__(self, last: Retryable, *, attempts: int, waited: float, next_wait: float | None) -> None:
        super().__init__(f"{last} (gave up after {attempts} attempts)")
        self.last = last
        self.attempts = attempts
        self.waited = waited
        self.next_wait = next_wait


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
    """Seconds to wait after failed attempt `attempt` (0 is the first): Retry-After wins (capped), else backoff."""
    if retry_after is not None:
        wait = min(retry_after, policy.max_retry_after)
        return wait + rng.uniform(0, wait * 0.1) if policy.jitter else wait
    ceiling = float(min(policy.max_backoff, policy.backoff * 2**attempt))
    return rng.uniform(0, ceiling) if policy.jitter else ceiling


def retry_call(
    attempt: Callable[[], T],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random = _RNG,
) -> T:
    """Run `attempt` until it returns, raises something other than Retryable, or the policy is spent (GaveUp)."""
    tries, waited = 0, 0.0
    while True:
        try:
            return attempt()
        except Retryable as exc:
            wait = _next_wait(exc, tries=tries, waited=waited, policy=policy, rng=rng)
        sleep(wait)
        tries, waited = tries + 1, waited + wait


async def with_retries(attempt: Callable[[], Awaitable[T]], policy: RetryPolicy, rng: random.Random) -> T:
    """`retry_call` for a coroutine: the waiting is an asyncio sleep, so other requests go on meanwhile."""
    tries, waited = 0, 0.0
    while True:
        try:
            return await attempt()
        except Retryable as exc:
            wait = _next_wait(exc, tries=tries, waited=waited, policy=policy, rng=rng)
        await asyncio.sleep(wait)
        tries, waited = tries + 1, waited + wait


def _next_wait(failure: Retryable, *, tries: int, waited: float, policy: RetryPolicy, rng: random.Random) -> float:
    wait = delay_for(tries, failure.retry_after, policy, rng)
    beyond = waited + wait > policy.max_wait
    if beyond or tries >= policy.retries:
        raise GaveUp(failure, attempts=tries + 1, waited=waited, next_wait=wait if beyond else None) from None
    return wait
