"""The live gates' sources against real parts: nginx's rendered access log and vLLM-format /metrics behind it,
and a stub answering Prometheus's documented /api/v1/query JSON (no Prometheus server is packaged here)."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from rollout.gates.live import live_gates
from rollout.gates.live_sources import read_live
from rollout.plan import LiveErrors, LiveGate, LiveSource, Plan, load_plan
from rollout.routers.nginx import ACCESS_LOG, COLOR_HEADER
from tests.support.net import wait_until
from tests.support.routers import NGINX, nginx_plan, running_nginx, stage_state, write_plan
from tests.support.vllm_stub import TOKENS, vllm_stub

REQUESTS = 400


def send(url: str, count: int) -> Counter[tuple[str, int]]:
    """`count` chat requests through the router; (color, status) as the responses say, counted here."""
    seen: Counter[tuple[str, int]] = Counter()
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
    with httpx.Client(timeout=10) as client:
        for _ in range(count):
            response = client.post(f"{url}/v1/chat/completions", json=body)
            seen[(response.headers[COLOR_HEADER.lower()], response.status_code)] += 1
    return seen


@pytest.mark.nginx
def test_nginx_log_and_vllm_metrics_count_what_the_load_sent(tmp_path: Path) -> None:
    with vllm_stub("stub-blue") as blue, vllm_stub("stub-green", fail_every=20) as green:
        plan = nginx_plan(tmp_path, blue_port=blue.port, green_port=green.port, state=stage_state(25))
        plan = replace(plan, state_dir=tmp_path / "state")
        assert plan.router.url is not None
        config = LiveGate(
            sources=(LiveSource(kind="nginx", log=plan.router.config.parent / ACCESS_LOG), LiveSource(kind="vllm")),
            min_requests=50,
            errors=LiveErrors(margin=0.02, ceiling=0.01),
        )
        start = datetime.now(timezone.utc) - timedelta(seconds=1)
        with running_nginx(plan.router.config, plan.router.url):
            first = read_live(plan, config, start=start, end=datetime.now(timezone.utc), env=dict(os.environ))
            assert first.readings[1].unavailable == "no earlier scrape of this stage yet"
            seen = send(plan.router.url, REQUESTS)
            time.sleep(0.2)  # nginx writes the log line after the response
            live = read_live(plan, config, start=start, end=datetime.now(timezone.utc), env=dict(os.environ))

    by_color = {c: sum(n for (color, _), n in seen.items() if color == c) for c in ("blue", "green")}
    errors = {
        c: sum(n for (color, status), n in seen.items() if color == c and status >= 500) for c in ("blue", "green")
    }
    assert by_color["green"] == green.served.answered + green.served.failed
    assert errors == {"blue": 0, "green": green.served.failed} and green.served.failed >= 3
    nginx, vllm = live.readings
    assert nginx.unavailable is None and vllm.unavailable is None, (nginx, vllm)
    for reading in (nginx, vllm):
        assert {c: reading.traffic[c].requests for c in ("blue", "green")} == by_color, reading.source
        assert {c: reading.traffic[c].errors for c in ("blue", "green")} == errors, reading.source
    assert vllm.traffic["green"].output_tokens == TOKENS * green.served.answered

    (gate,) = live_gates(live, config)
    assert gate.details["measures"]["requests"] == by_color
    assert gate.details["measures"]["errors"] == errors
    assert gate.details["measured_by"]["requests"] == "nginx access.log"
    ceiling = next(c for c in gate.details["checks"] if c["check"] == "error ceiling")
    assert ceiling["estimate"] == errors["green"] / by_color["green"]


def rotate(log: Path, config: Path) -> None:
    """What Debian's logrotate does with delaycompress: log.1 -> log.2.gz, log -> log.1, then nginx reopens."""
    time.sleep(0.2)  # nginx writes the log line after the response
    older = log.with_name(f"{log.name}.1")
    if older.exists():
        with older.open("rb") as plain, gzip.open(log.with_name(f"{log.name}.2.gz"), "wb") as packed:
            shutil.copyfileobj(plain, packed)
        older.unlink()
    log.rename(older)
    subprocess.run([NGINX, "-p", f"{config.parent}/", "-c", str(config), "-s", "reopen"], check=True, timeout=10)
    wait_until(log.exists, timeout=10, what="nginx reopening its access log")


@pytest.fixture
def reachable() -> Iterator[Path]:
    """A folder nginx's workers can reach: on `nginx -s reopen` each reopens the log itself, as its unprivileged
    user when nginx runs as root, and pytest's own folders are private to their owner."""
    folder = Path(tempfile.mkdtemp(prefix="rollout-rotation-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


@pytest.mark.nginx
def test_the_nginx_source_reads_the_rotated_logs_as_far_back_as_the_window(reachable: Path) -> None:
    with vllm_stub("stub-blue") as blue, vllm_stub("stub-green", fail_every=20) as green:
        plan = nginx_plan(reachable, blue_port=blue.port, green_port=green.port, state=stage_state(25))
        assert plan.router.url is not None
        log = plan.router.config.parent / ACCESS_LOG
        config = LiveGate(sources=(LiveSource(kind="nginx", log=log),), min_requests=10)
        # Older than any window here, and never to be opened: reading stops at the file that reaches the start.
        kept = datetime.now(timezone.utc) - timedelta(hours=1)
        with gzip.open(log.with_name(f"{ACCESS_LOG}.3.gz"), "wt") as older:
            older.write(f"rollout1\t{kept.timestamp():.3f}\tgreen\t500\t0.001\t0.001\t10\tPOST\t/v1/chat\n")
        log.with_name(f"{ACCESS_LOG}.4.gz").write_bytes(b"not gzip: opening this fails the reading")

        first = datetime.now(timezone.utc) - timedelta(seconds=1)
        with running_nginx(plan.router.config, plan.router.url):
            before = send(plan.router.url, REQUESTS // 4)
            rotate(log, plan.router.config)
            time.sleep(0.05)
            second = datetime.now(timezone.utc)
            during = send(plan.router.url, REQUESTS // 4)
            rotate(log, plan.router.config)
            during += send(plan.router.url, REQUESTS // 4)
            time.sleep(0.2)
            end = datetime.now(timezone.utc)
            whole = read_live(plan, config, start=first, end=end, env={})
            later = read_live(plan, config, start=second, end=end, env={})

    assert sorted(p.name for p in log.parent.glob(f"{ACCESS_LOG}*")) == [
        ACCESS_LOG,
        *(f"{ACCESS_LOG}.{n}" for n in ("1", "2.gz", "3.gz", "4.gz")),
    ]
    for live, sent in ((whole, before + during), (later, during)):
        (reading,) = live.readings
        assert reading.unavailable is None, reading.unavailable
        assert {c: reading.traffic[c].requests for c in ("blue", "green")} == {
            c: sum(n for (color, _), n in sent.items() if color == c) for c in ("blue", "green")
        }
        assert {c: reading.traffic[c].errors for c in ("blue", "green")} == {
            c: sum(n for (color, status), n in sent.items() if color == c and status >= 500) for c in ("blue", "green")
        }
    assert whole.readings[0].note == "read access.log, access.log.1, access.log.2.gz, access.log.3.gz"
    assert later.readings[0].note == "read access.log, access.log.1, access.log.2.gz"
    assert green.served.failed >= 3
    served = (s.served.answered + s.served.failed for s in (blue, green))
    assert sum(before.values()) + sum(during.values()) == sum(served)


@contextmanager
def prometheus_stub(answers: dict[str, object]) -> Iterator[tuple[str, list[str]]]:
    """Answers /api/v1/query from `answers` (query text -> the `data` member), recording the queries asked."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)["query"][0]
            asked.append(query)
            if url.path != "/api/v1/query":
                self.send_error(404)
                return
            found = answers.get(query)
            body = (
                {"status": "success", "data": found}
                if found is not None
                else {"status": "error", "errorType": "bad_data", "error": f"unknown query {query}"}
            )
            data = json.dumps(body).encode()
            self.send_response(200 if found is not None else 400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


def vector(*samples: tuple[dict[str, str], float]) -> dict[str, object]:
    return {"resultType": "vector", "result": [{"metric": m, "value": [1764590400.0, str(v)]} for m, v in samples]}


def prometheus_plan(tmp_path: Path) -> Plan:
    return load_plan(
        write_plan(tmp_path, kind="file", config="traffic.json", url="http://127.0.0.1:1", blue_port=1, green_port=2)
    )


def test_prometheus_queries_get_the_window_and_model_and_their_vectors_are_summed(tmp_path: Path) -> None:
    plan = prometheus_plan(tmp_path)
    requests = 'sum(increase(http_requests_total{model="$model"}[$window]))'
    buckets = 'sum by (le) (increase(vllm:e2e_request_latency_seconds_bucket{model_name="$model"}[$window]))'
    answers: dict[str, object] = {}
    for model, total in (("stub-blue", 900), ("stub-green", 300)):
        answers[requests.replace("$model", model).replace("$window", "3600s")] = vector(
            ({"instance": "a"}, total / 3), ({"instance": "b"}, 2 * total / 3)
        )
        answers[buckets.replace("$model", model).replace("$window", "3600s")] = vector(
            ({"le": "1.0"}, total * 0.5), ({"le": "2.5"}, total * 0.99), ({"le": "+Inf"}, float(total))
        )
    end = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    with prometheus_stub(answers) as (url, asked):
        source = LiveSource(kind="prometheus", url=url, queries={"requests": requests, "e2e_buckets": buckets})
        config = LiveGate(sources=(source,))
        live = read_live(plan, config, start=end - timedelta(hours=1), end=end, env={})
    (reading,) = live.readings
    assert reading.unavailable is None, reading.unavailable
    assert len(asked) == 4 and all("$" not in q for q in asked)
    assert reading.traffic["blue"].requests == 900 and reading.traffic["green"].requests == 300
    e2e = reading.traffic["green"].e2e
    assert e2e is not None and e2e.buckets[-1] == (float("inf"), 300.0) and e2e.count == 300


def test_a_prometheus_error_leaves_the_measures_unread_and_says_why(tmp_path: Path) -> None:
    plan = prometheus_plan(tmp_path)
    end = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    with prometheus_stub({}) as (url, _):
        source = LiveSource(kind="prometheus", url=url, queries={"requests": "up"})
        live = read_live(plan, LiveGate(sources=(source,)), start=end - timedelta(hours=1), end=end, env={})
    (reading,) = live.readings
    assert reading.unavailable is not None and "HTTP 400" in reading.unavailable
    (gate,) = live_gates(live, LiveGate(sources=(source,)))
    assert gate.outcome == "inconclusive" and "no source counted the requests" in gate.reason


def test_a_long_rotated_log_is_read_in_memory_that_does_not_grow_with_it(tmp_path: Path) -> None:
    start = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    log = tmp_path / ACCESS_LOG
    plan = prometheus_plan(tmp_path)
    config = LiveGate(sources=(LiveSource(kind="nginx", log=log),))

    def peak(lines: int) -> int:
        at = start.timestamp() + 1
        for name in (f"{ACCESS_LOG}.2.gz", f"{ACCESS_LOG}.1", ACCESS_LOG):
            text = "".join(
                f"rollout1\t{at + i / 1000:.3f}\t{color}\t{status}\t{i % 900 / 1000:.3f}\t0\t9\tPOST\t/\n"
                for i in range(lines // 3)
                for color, status in [("green", 500) if i % 4 == 0 else ("blue", 200)]
            ).encode()
            log.with_name(name).write_bytes(gzip.compress(text) if name.endswith(".gz") else text)
            at += lines / 3000
        tracemalloc.start()
        try:
            live = read_live(plan, config, start=start, end=start + timedelta(days=1), env={})
            _, high = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        (reading,) = live.readings
        assert reading.traffic["green"].requests == reading.traffic["green"].errors == 3 * len(range(0, lines // 3, 4))
        assert reading.traffic["blue"].requests == lines - reading.traffic["green"].requests
        return high

    small, large = peak(15_000), peak(90_000)
    assert large < small * 2, (small, large)


def test_a_damaged_rotated_log_makes_the_reading_unavailable_not_a_crash(tmp_path: Path) -> None:
    start = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    log = tmp_path / ACCESS_LOG
    log.write_text("")
    packed = bytearray(gzip.compress(b"rollout1\t1.000\tblue\t200\t0.100\t0\t9\tPOST\t/\n" * 200))
    packed[20:40] = b"\xff" * 20  # the deflate stream itself, past the header
    log.with_name(f"{ACCESS_LOG}.1.gz").write_bytes(bytes(packed))
    config = LiveGate(sources=(LiveSource(kind="nginx", log=log),))
    live = read_live(prometheus_plan(tmp_path), config, start=start, end=start + timedelta(days=1), env={})
    (reading,) = live.readings
    assert reading.unavailable is not None and f"{ACCESS_LOG}.1.gz" in reading.unavailable
