"""Ask a running router, over HTTP, which config it serves and which color answers each request."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import httpx

from rollout.errors import ExternalError
from rollout.routers._shared import ProbeStyle, Reply
from rollout.routers.split import Expectation

CONCURRENCY = 8
UNANSWERED = "unanswered"
# A router that reloads closes idle keep-alive connections; a request sent just as that happens gets no
# answer and is retried once on a fresh connection, as OpenAI's SDK retries it.
CLOSED_UNANSWERED = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.ConnectError)


def auth_headers(style: ProbeStyle, env: Mapping[str, str]) -> dict[str, str]:
    key = next((env[name] for name in style.auth_env if env.get(name)), None)
    return {"Authorization": f"Bearer {key}"} if key else {}


def fetch(
    client: httpx.Client, method: str, url: str, *, headers: Mapping[str, str], body: Mapping[str, object] | None = None
) -> Reply:
    response = client.request(method, url, headers=dict(headers), json=body)
    return Reply(
        status=response.status_code, headers={k.lower(): v for k, v in response.headers.items()}, body=response.content
    )


def wait_live(
    client: httpx.Client,
    base_url: str,
    style: ProbeStyle,
    revision: str | None,
    *,
    env: Mapping[str, str],
    timeout: float | None = None,
    which: str = "the new config",
) -> float:
    """Poll until the router answers with `revision` (None: with any answer of its own, below 500: a 502 is a
    router that is up but cannot reach what it serves); return the seconds it took.
    `which` names that config in the error."""
    started = time.monotonic()
    limit = style.live_timeout if timeout is None else timeout
    last = "no answer yet"
    while True:
        try:
            reply = fetch(client, "GET", base_url + style.live_path, headers=auth_headers(style, env))
            if (reply.status < 500) if revision is None else style.is_live(reply, revision):
                return time.monotonic() - started
            last = f"HTTP {reply.status}" + ("" if revision is None else f", not config revision {revision}")
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() - started > limit:
            raise ExternalError(f"the router at {base_url} does not serve {which} after {limit:.0f}s ({last})")
        time.sleep(0.05)


def count_colors(
    client: httpx.Client,
    base_url: str,
    style: ProbeStyle,
    expectation: Expectation,
    *,
    env: Mapping[str, str],
    deadline: float,
) -> Counter[str]:
    """Send the expectation's probes (CONCURRENCY at a time) until done or `deadline` (monotonic) passes."""
    headers = {**auth_headers(style, env), **style.audience_headers.get(expectation.audience, {})}

    def one(_: int) -> str:
        if time.monotonic() > deadline:
            return UNANSWERED
        for attempt in range(2):
            try:
                reply = fetch(client, style.method, base_url + style.path, headers=headers, body=style.body)
            except CLOSED_UNANSWERED:
                if attempt == 0:
                    continue
                return "error: connection closed"
            except httpx.HTTPError as exc:
                return f"error {type(exc).__name__}"
            return style.color(reply) or f"HTTP {reply.status}"
        return UNANSWERED

    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        return Counter(pool.map(one, range(expectation.probes)))
