"""A misbehaving OpenAI-compatible server on loopback, for tests about the eval harness itself.

The last user message picks the behaviour: "<scenario>:<anything>", e.g. "flaky:case-3". Attempts are
counted per prompt, so "fail twice, then answer" is deterministic whatever the concurrency.
"""

from __future__ import annotations

import json
import socket
import ssl
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ANSWER = "The capital of France is Paris."


def event(data: object) -> bytes:
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def delta(text: str) -> bytes:
    return event({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": text}}]})


def usage(tokens: int) -> bytes:
    return event({"object": "chat.completion.chunk", "choices": [], "usage": {"completion_tokens": tokens}})


GOOD_STREAM = delta("The capital of France") + delta(" is Paris.") + usage(7) + b"data: [DONE]\n\n"


@dataclass
class StubState:
    attempts: Counter[str] = field(default_factory=Counter)
    seen: list[tuple[str, float]] = field(default_factory=list)
    peers: set[tuple[str, int]] = field(default_factory=set)
    judge_models: list[str] = field(default_factory=list)
    model_id: str = "stub-model"
    error_body: bytes = b"bad request"
    release: threading.Event = field(default_factory=threading.Event)
    hanging: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def arrive(self, prompt: str) -> int:
        with self.lock:
            self.attempts[prompt] += 1
            self.seen.append((prompt, time.monotonic()))
            return self.attempts[prompt]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: StubState

    def handle_error(self, request: object, client_address: object) -> None:
        """Resets and hangs are the point here; their broken pipes are not worth a traceback."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        models = {"object": "list", "data": [{"id": self.server.state.model_id}]}
        self.send_body(200, json.dumps(models).encode(), "application/json")

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["content-length"])))
        prompt = request["messages"][-1]["content"]
        if request["messages"][0]["content"].startswith("You grade"):
            self.server.state.judge_models.append(request["model"])
            self.judge(prompt)
            return
        scenario = prompt.partition(":")[0]
        attempt = self.server.state.arrive(prompt)
        self.server.state.peers.add(self.client_address)
        getattr(self, f"scenario_{scenario}", self.scenario_ok)(attempt)

    def send_body(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def start_stream(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True

    def reset(self) -> None:
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def judge(self, prompt: str) -> None:
        """As a judge: 8/10 for an answer that names Paris, 2/10 otherwise."""
        answer = prompt.rpartition("Answer:")[2]
        verdict = "Names the city.\nSCORE: 8" if "Paris" in answer else "Wrong city.\nSCORE: 2"
        body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": verdict}}]}
        self.send_body(200, json.dumps(body).encode(), "application/json")

    def scenario_ok(self, attempt: int) -> None:
        self.send_body(200, GOOD_STREAM, "text/event-stream")

    def scenario_close(self, attempt: int) -> None:
        self.send_body(200, GOOD_STREAM, "text/event-stream", {"connection": "close"})
        self.close_connection = True

    def scenario_flaky(self, attempt: int) -> None:
        if attempt <= 2:
            self.send_body(503, b"overloaded", "text/plain")
        else:
            self.scenario_ok(attempt)

    def scenario_after(self, attempt: int) -> None:
        if attempt == 1:
            self.send_body(429, b"slow down", "text/plain", {"retry-after": "1"})
        else:
            self.scenario_ok(attempt)

    def scenario_storm(self, attempt: int) -> None:
        self.send_body(429, b"rate limited", "text/plain", {"retry-after": "0"})

    def scenario_bad(self, attempt: int) -> None:
        self.send_body(400, b'{"error": {"message": "max_tokens is too large"}}', "application/json")

    def scenario_rejects(self, attempt: int) -> None:
        self.send_body(400, self.server.state.error_body, "text/plain")

    def scenario_malformed(self, attempt: int) -> None:
        self.send_body(200, delta("Par") + b"data: {oops\n\n", "text/event-stream")

    def scenario_empty(self, attempt: int) -> None:
        self.send_body(200, usage(0) + b"data: [DONE]\n\n", "text/event-stream")

    def scenario_nonjson(self, attempt: int) -> None:
        self.send_body(200, b"<html>upstream error</html>", "application/json")

    def scenario_plain(self, attempt: int) -> None:
        body = {
            "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}}],
            "usage": {"completion_tokens": 7},
        }
        self.send_body(200, json.dumps(body).encode(), "application/json")

    def scenario_hang(self, attempt: int) -> None:
        self.start_stream()
        self.wfile.write(delta("The capital"))
        self.wfile.flush()
        self.server.state.hanging.set()
        self.server.state.release.wait(60)

    def scenario_drip(self, attempt: int) -> None:
        self.start_stream()
        for _ in range(40):
            self.wfile.write(delta("."))
            self.wfile.flush()
            if self.server.state.release.wait(0.25):
                return

    def scenario_plaindrip(self, attempt: int) -> None:
        """A whole JSON body, one byte every quarter second: every read is quick, the answer never ends."""
        body = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}}]}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        for byte in body[:40]:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            if self.server.state.release.wait(0.25):
                return

    def scenario_huge(self, attempt: int) -> None:
        """A whole JSON answer of 3 MB."""
        content = "Paris " * 500_000
        body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
        self.send_body(200, json.dumps(body).encode(), "application/json")

    def scenario_hugestream(self, attempt: int) -> None:
        """A streamed answer of 3 MB."""
        self.start_stream()
        chunk = delta("Paris " * 1000)
        for _ in range(500):
            self.wfile.write(chunk)
        self.wfile.write(b"data: [DONE]\n\n")

    def scenario_hugeerror(self, attempt: int) -> None:
        """An error whose body is 3 MB: only its start is read."""
        self.send_body(400, b"too long: " + b"x" * 3_000_000, "text/plain")

    def scenario_reset(self, attempt: int) -> None:
        if attempt == 1:
            self.reset()
        else:
            self.scenario_ok(attempt)

    def scenario_midreset(self, attempt: int) -> None:
        self.start_stream()
        self.wfile.write(delta("The capital"))
        self.reset()


@dataclass(frozen=True)
class Stub:
    url: str
    state: StubState


@contextmanager
def openai_stub(tls: tuple[Path, Path] | None = None) -> Iterator[Stub]:
    """The stub on a free loopback port; with tls=(certificate, key) it speaks HTTPS."""
    server = _Server(("127.0.0.1", 0), Handler)
    server.state = StubState()
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        scheme = "https" if tls else "http"
        yield Stub(url=f"{scheme}://127.0.0.1:{server.server_address[1]}", state=server.state)
    finally:
        server.state.release.set()
        server.shutdown()
        server.server_close()
