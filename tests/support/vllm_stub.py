"""A model server on loopback that speaks vLLM's /metrics and fails a share of its requests.

Its /metrics is written by prometheus-client, as vLLM's is, from the families the fixture generator declares
as vLLM does (tests/fixtures/serving/vllm_metrics.py: names, help texts, labels, buckets). Every `fail_every`-th
chat completion is answered with a 500 and counted as vLLM counts it, finished with reason "error", so the
share of failures is exact and a test can count it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from tests.fixtures.serving.vllm_metrics import declare

TOKENS = 5


@dataclass
class Served:
    answered: int = 0
    failed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class VllmStub:
    name: str
    port: int
    served: Served

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


@contextmanager
def vllm_stub(name: str, *, fail_every: int = 0, seconds: float = 0.0) -> Iterator[VllmStub]:
    registry = CollectorRegistry()
    family: dict[str, Any] = declare(registry, model=name)
    served = Served()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._send(200, generate_latest(registry), "text/plain; version=0.0.4; charset=utf-8")
            elif self.path in ("/health", "/v1/models"):
                self._send(200, json.dumps({"object": "list", "data": [{"id": name}]}).encode())
            else:
                self._send(404, b'{"detail": "Not Found"}')

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with served.lock:
                number = served.answered + served.failed + 1
                failing = fail_every > 0 and number % fail_every == 0
                if failing:
                    served.failed += 1
                else:
                    served.answered += 1
            if failing:
                family["vllm:request_success:error"].inc()
                self._send(500, b'{"error": {"message": "EngineCore encountered an issue", "code": 500}}')
                return
            family["vllm:e2e_request_latency_seconds"].observe(seconds)
            family["vllm:time_to_first_token_seconds"].observe(seconds / 2)
            family["vllm:generation_tokens"].inc(TOKENS)
            family["vllm:request_success:length"].inc()
            body = {
                "id": "stub",
                "object": "chat.completion",
                "model": name,
                "choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": name}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": TOKENS, "total_tokens": 3 + TOKENS},
            }
            self._send(200, json.dumps(body).encode())

    server = _Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield VllmStub(name=name, port=server.server_address[1], served=served)
    finally:
        server.shutdown()
        server.server_close()
