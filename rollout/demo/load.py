"""The demo's users: a bounded loop of chat requests through the router while a stage soaks.

Each request is a non-streaming chat completion from a small set of prompts, marked as coming from an
internal user (so internal stages route it too). The tally counts, per color as the router's
X-Rollout-Color header names it, what was sent and what failed: the figures the live gates must match.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from rollout.routers._shared import AUDIENCE_HEADER
from rollout.routers.nginx import COLOR_HEADER

PROMPTS = (
    "What is the capital of France?",
    "Name a primary color.",
    "What is 2 + 2?",
    "Say hello in Spanish.",
    "What color is the sky on a clear day?",
)
CONCURRENCY = 2
"""One request in flight per model server, on average: llama_cpp.server answers one at a time."""


@dataclass
class Tally:
    sent: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)

    def add(self, color: str, failed: bool) -> None:
        self.sent[color] = self.sent.get(color, 0) + 1
        self.failed[color] = self.failed.get(color, 0) + failed

    def describe(self) -> str:
        return ", ".join(f"{c} {self.sent[c]} ({self.failed.get(c, 0)} failed)" for c in sorted(self.sent))


def send_load(url: str, model: str, count: int, *, env: Mapping[str, str], timeout: float = 120.0) -> Tally:
    """Send `count` requests, CONCURRENCY at a time; a request that gets no answer counts as failed, color unknown."""
    headers = {AUDIENCE_HEADER: "internal"}
    if env.get("ROLLOUT_ROUTER_KEY"):
        headers["Authorization"] = f"Bearer {env['ROLLOUT_ROUTER_KEY']}"
    tally = Tally()

    async def worker(client: httpx.AsyncClient, numbers: range) -> None:
        for n in numbers:
            body = {
                "model": model,
                "messages": [{"role": "user", "content": PROMPTS[n % len(PROMPTS)]}],
                "max_tokens": 1,
                "temperature": 0,
            }
            try:
                response = await client.post(f"{url}/v1/chat/completions", json=body)
            except httpx.HTTPError:
                tally.add("unknown", True)
                continue
            tally.add(response.headers.get(COLOR_HEADER, "unknown"), response.status_code >= 500)

    async def run() -> None:
        async with httpx.AsyncClient(headers=headers, timeout=timeout) as client:
            await asyncio.gather(*(worker(client, range(i, count, CONCURRENCY)) for i in range(CONCURRENCY)))

    asyncio.run(run())
    return tally
