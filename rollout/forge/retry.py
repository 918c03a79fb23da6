"""When to retry a GitHub request, and how long to wait first: a pure function of the response.

GitHub signals three kinds of "try later": a server error (5xx, or no answer at all), the primary
rate limit (`x-ratelimit-remaining: 0` until the epoch second in `x-ratelimit-reset`), and the
secondary rate limit (403 or 429, usually with `Retry-After` in seconds; without it GitHub asks
for at least a minute). Anything else is not going to get better by waiting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

SECONDARY_DEFAULT_WAIT = 60.0


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    attempts: int = 5
    """Requests in all, the first one included."""
    max_wait: float = 300.0
    """Seconds of waiting allowed across the retries of one request; a longer wait gives up at once."""
    backoff: float = 1.0
    """First wait after a server error; it doubles each time."""
    backoff_cap: float = 30.0


def retry_wait(
    status: int | None, headers: Mapping[str, str], message: str, *, attempt: int, now: float, policy: RetryPolicy
) -> float | None:
    """Seconds to wait before retrying after a failure (attempt 0 is the first request), or None: don't."""
    if status is None or status >= 500:
        return float(min(policy.backoff * 2**attempt, policy.backoff_cap))
    if status not in (403, 429):
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    retry_after = lowered.get("retry-after", "")
    if retry_after.strip().isdigit():
        return float(retry_after)
    if lowered.get("x-ratelimit-remaining") == "0":
        reset = lowered.get("x-ratelimit-reset", "")
        return max(float(reset) - now, 0.0) + 1.0 if reset.strip().isdigit() else SECONDARY_DEFAULT_WAIT
    if status == 429 or "rate limit" in message.lower():
        return SECONDARY_DEFAULT_WAIT
    return None
