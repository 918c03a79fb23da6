"""KeepAliveTransport failure mapping that a live server cannot trigger on demand."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import httpx
import pytest

from rollout.evals.transport import KeepAliveTransport


class BrokenWriter:
    """A connection the server closed while it sat idle: the next write fails."""

    closed = False

    def write(self, data: bytes) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    async def drain(self) -> None:
        return

    def close(self) -> None:
        self.closed = True

    async def wait_closed(self) -> None:
        return


def test_a_write_on_a_dead_connection_is_an_httpx_write_error() -> None:
    transport = KeepAliveTransport(ssl_context=ssl.create_default_context(), connect_timeout=1, read_timeout=1)
    writer = BrokenWriter()
    transport.writer = writer  # type: ignore[assignment]
    transport.reader = asyncio.StreamReader.__new__(asyncio.StreamReader)
    transport.origin = (b"http", b"127.0.0.1", 9)
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions", content=b"{}")

    async def send() -> Any:
        return await transport.handle_async_request(request)

    with pytest.raises(httpx.WriteError, match="Broken pipe"):
        asyncio.run(send())
    assert writer.closed and transport.writer is None
