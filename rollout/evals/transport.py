"""An httpx transport holding one HTTP/1.1 keep-alive connection, for one worker's requests in turn.

httpcore's pool serves many tasks sharing connections, and pays for it on every request with locks,
cancel scopes and async-library detection: about 0.25 ms of CPU, most of the harness's budget. A
runner worker sends one request at a time on its own connection, so it needs none of that: this
transport speaks h11 (httpx's own HTTP/1.1 state machine) over an asyncio stream and costs about a
third as much. It connects directly (no proxy), verifies TLS with the context it is given, and maps
every failure to the httpx exception the runner already handles.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
from collections.abc import AsyncIterator

import h11
import httpx

READ_SIZE = 65536


class KeepAliveTransport(httpx.AsyncBaseTransport):
    def __init__(self, *, ssl_context: ssl.SSLContext, connect_timeout: float, read_timeout: float) -> None:
        self.ssl_context = ssl_context
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.h11 = h11.Connection(h11.CLIENT)
        self.origin: tuple[bytes, bytes, int] | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        origin = (url.raw_scheme, url.raw_host, url.port or (443 if url.raw_scheme == b"https" else 80))
        if self.writer is None or origin != self.origin or self.h11.our_state is not h11.IDLE:
            await self.reconnect(request, origin)
        assert self.writer is not None
        try:
            self.writer.write(
                self.h11.send(h11.Request(method=request.method, target=url.raw_path, headers=request.headers.raw))
                + self.h11.send(h11.Data(data=request.content))
                + self.h11.send(h11.EndOfMessage())
            )
            await self.writer.drain()
            event = await self.next_event(request)
            while not isinstance(event, h11.Response):
                if isinstance(event, h11.ConnectionClosed):
                    raise httpx.RemoteProtocolError("server disconnected without sending a response", request=request)
                event = await self.next_event(request)
        except h11.LocalProtocolError as exc:
            await self.close()
            raise httpx.LocalProtocolError(str(exc), request=request) from exc
        except OSError as exc:  # writing to a connection the server has closed: broken pipe, reset
            await self.close()
            raise httpx.WriteError(str(exc) or type(exc).__name__, request=request) from exc
        except httpx.TransportError:
            await self.close()
            raise
        return httpx.Response(
            event.status_code,
            headers=event.headers,
            stream=Body(self, request),
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def reconnect(self, request: httpx.Request, origin: tuple[bytes, bytes, int]) -> None:
        await self.close()
        scheme, host, port = origin
        secure = scheme == b"https"
        try:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(
                    host.decode("ascii"),
                    port,
                    ssl=self.ssl_context if secure else None,
                    server_hostname=host.decode("ascii") if secure else None,
                ),
                self.connect_timeout,
            )
        except (asyncio.TimeoutError, TimeoutError) as exc:
            raise httpx.ConnectTimeout(f"no connection within {self.connect_timeout:g}s", request=request) from exc
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        self.h11 = h11.Connection(h11.CLIENT)
        self.origin = origin

    async def next_event(self, request: httpx.Request) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        """The next HTTP event, reading from the socket as needed; failures as httpx exceptions."""
        try:
            event = self.h11.next_event()
            while event is h11.NEED_DATA:
                self.h11.receive_data(await self.read(request))
                event = self.h11.next_event()
        except h11.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from exc
        return event

    async def read(self, request: httpx.Request) -> bytes:
        assert self.reader is not None
        try:
            if sys.version_info >= (3, 11):
                async with asyncio.timeout(self.read_timeout):  # a timer, not a task, per read
                    return await self.reader.read(READ_SIZE)
            return await asyncio.wait_for(self.reader.read(READ_SIZE), self.read_timeout)
        except (asyncio.TimeoutError, TimeoutError) as exc:
            raise httpx.ReadTimeout(f"no data for {self.read_timeout:g}s", request=request) from exc

    async def finished(self) -> None:
        """After a whole response: keep the connection for the next request if both sides allow it."""
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
        else:
            await self.close()

    async def close(self) -> None:
        writer, self.reader, self.writer = self.writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):  # the peer already reset it: closed either way
                await writer.wait_closed()

    async def aclose(self) -> None:
        await self.close()


class Body(httpx.AsyncByteStream):
    """A response body read straight off the connection; abandoning it early drops the connection."""

    def __init__(self, transport: KeepAliveTransport, request: httpx.Request) -> None:
        self.transport = transport
        self.request = request
        self.complete = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            event = await self.transport.next_event(self.request)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self.complete = True
                return
            elif isinstance(event, h11.ConnectionClosed):
                raise httpx.RemoteProtocolError("server closed the connection mid-body", request=self.request)

    async def aclose(self) -> None:
        if self.complete:
            await self.transport.finished()
        else:
            await self.transport.close()
