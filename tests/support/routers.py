"""Real routers on loopback for router tests: stub model servers, nginx, and a supervised LiteLLM proxy."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from rollout.plan import Plan, load_plan
from rollout.routers import render_config
from rollout.traffic import TrafficState, Weights
from tests.support.net import free_port, stop_group, wait_until

REPO = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SLOW = re.compile(rb"slow (\d+(?:\.\d+)?)")


def write_plan(
    root: Path,
    *,
    kind: str,
    config: str,
    url: str,
    blue_port: int,
    green_port: int,
    reload: str | None = None,
    validate: str | None = None,
    probes: int = 200,
    internal_first: bool = False,
) -> Path:
    """A minimal plan with stages 5/25/75/100 (the first for internal requests only, if asked)."""
    router = {"kind": kind, "config": config, "url": url, "probes": probes}
    if reload:
        router["reload"] = reload
    if validate:
        router["validate"] = validate
    first = ", audience: internal" if internal_first else ""
    path = root / "rollout-plan.yaml"
    path.write_text(f"""\
version: 1
service: chat
models:
  blue: {{name: stub-blue, model: stub/blue, port: {blue_port}}}
  green: {{name: stub-green, model: stub/green, port: {green_port}}}
router: {json.dumps(router)}
stages:
  - {{name: internal, weight: 5, soak: 1h{first}}}
  - {{name: early, weight: 25, soak: 1h}}
  - {{name: majority, weight: 75, soak: 1h}}
  - {{name: full, weight: 100, soak: 1h}}
gates: {{}}
""")
    return path


def nginx_plan(root: Path, *, blue_port: int, green_port: int, state: TrafficState) -> Plan:
    """write_plan's plan routed by nginx at a free port, its config rendered for `state` in root/nginx/."""
    url = f"http://127.0.0.1:{free_port()}"
    path = write_plan(
        root, kind="nginx", config="nginx/nginx.conf", url=url, blue_port=blue_port, green_port=green_port
    )
    plan = load_plan(path)
    plan.router.config.parent.mkdir()
    plan.router.config.write_text(render_config(plan, state))
    return plan


def litellm_plan(root: Path, marker: Path) -> Plan:
    """write_plan's LiteLLM plan at http://router.test, whose reload adds a line to `marker`."""
    return load_plan(
        write_plan(
            root,
            kind="litellm",
            config="litellm.yaml",
            url="http://router.test",
            reload=f"echo x >> {marker}",
            blue_port=8001,
            green_port=8002,
        )
    )


def stage_state(green: int) -> TrafficState:
    """The traffic state of write_plan's stage with this green weight (0: before the first stage)."""
    stages = {0: None, 5: "internal", 25: "early", 75: "majority", 100: "full"}
    return TrafficState(service="chat", stage=stages[green], green="stub-green", weights=Weights.for_green(green))


@dataclass(frozen=True)
class Stub:
    """A stub model server; while `failing` is set it answers every chat request with HTTP 500, and while
    `stalling` is set it takes a tenth of a second over each answer."""

    name: str
    port: int
    served: list[str]
    started: list[str] = field(default_factory=list)
    failing: threading.Event = field(default_factory=threading.Event)
    stalling: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class _Backlogged(ThreadingHTTPServer):
    # The default backlog of 5 overflows when reloaded nginx workers open their upstream connections at once.
    request_queue_size = 128


@contextmanager
def stub_model(name: str, key: str | None = None) -> Iterator[Stub]:
    """A tiny OpenAI-compatible server answering as `name`; it records the path of every request it answered.

    A request whose prompt says `slow N` is answered after N seconds; `started` records it on arrival. With
    `key`, a request without `Authorization: Bearer <key>` gets vLLM's 401 instead.
    """
    served: list[str] = []
    started: list[str] = []
    failing = threading.Event()
    stalling = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _send(self, payload: object, status: int = 200) -> None:
            served.append(self.path)
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _refused(self) -> bool:
            if key is None or self.headers.get("Authorization") == f"Bearer {key}":
                return False
            self._send({"error": "Unauthorized"}, status=401)
            return True

        def do_GET(self) -> None:
            if self.path.startswith("/v1/") and self._refused():
                return
            if self.path in ("/health", "/v1/models"):
                self._send({"object": "list", "data": [{"id": name, "object": "model"}]})
            else:
                self.send_error(404)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            request = self.rfile.read(length)
            if self._refused():
                return
            if self.path != "/v1/chat/completions":
                self.send_error(404)
                return
            slow = SLOW.search(request)
            if slow:
                started.append(self.path)
                time.sleep(float(slow[1]))
            if stalling.is_set():
                time.sleep(0.1)
            if failing.is_set():
                self._send({"error": {"message": f"{name} is failing", "type": "server_error"}}, status=500)
                return
            self._send(
                {
                    "id": "stub",
                    "object": "chat.completion",
                    "created": 0,
                    "model": name,
                    "choices": [
                        {"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": name}}
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
            )

    server = _Backlogged(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Stub(
            name=name, port=server.server_address[1], served=served, started=started, failing=failing, stalling=stalling
        )
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def running_nginx(config: Path, url: str) -> Iterator[subprocess.Popen[bytes]]:
    """nginx in the foreground with config's directory as its prefix, listening at url; stopped at exit."""
    stderr = config.parent / "nginx.stderr"
    with stderr.open("wb") as log:
        process = subprocess.Popen(
            [NGINX, "-e", "stderr", "-p", f"{config.parent}/", "-c", str(config), "-g", "daemon off;"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until(lambda: process.poll() is not None or _listening(url), timeout=10, what="nginx start")
            if process.poll() is not None:
                raise RuntimeError(f"nginx exited: {stderr.read_text()}")
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _listening(url: str) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=0.5).close()
    except OSError:
        return False
    return True


def litellm_binary() -> str | None:
    override = os.environ.get("ROLLOUT_LITELLM_BIN")
    if override:
        return override
    local = REPO / ".venv-litellm" / "bin" / "litellm"
    return str(local) if local.exists() else shutil.which("litellm")


def litellm_env(binary: str | None) -> dict[str, str]:
    """What apply needs to check a config with the proxy's own Python: the `python` beside its `litellm`."""
    return {"ROLLOUT_LITELLM_PYTHON": str(Path(binary).parent / "python")} if binary else {}


class GracefulLiteLLM:
    """The LiteLLM proxy as `rollout init` and docs/routers.md run it: under gunicorn, reloaded by SIGHUP.

    `reload_command` is `kill -HUP <master>`, what `systemctl reload litellm` does with the documented unit:
    gunicorn starts new workers on the config file as it is now and retires the old ones once they have
    answered what they hold, while its listening socket stays open.
    """

    def __init__(
        self, binary: str, config: Path, port: int, log: Path, key: str, env: Mapping[str, str] | None = None
    ) -> None:
        """`env` adds to the proxy's environment (the model servers' keys)."""
        self.binary, self.config, self.port, self.log, self.key = binary, config, port, log, key
        self.extra_env = dict(env or {})
        self.pidfile = config.parent / "litellm.pid"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def reload_command(self) -> str:
        return f"kill -HUP $(cat {self.pidfile})"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {
            **os.environ,
            "LITELLM_MASTER_KEY": self.key,
            "LITELLM_LOCAL_MODEL_COST_MAP": "true",
            "NO_DOCS": "True",
            **self.extra_env,
        }
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    *(self.binary, "--config", str(self.config), "--host", "127.0.0.1", "--port", str(self.port)),
                    *("--run_gunicorn", "--num_workers", "1"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self.pidfile.write_text(str(self._process.pid))

    def kill(self) -> None:
        """SIGKILL to master and workers, the master left unreaped as a crashed one is until its supervisor
        notices: its pid still takes signals, so `kill -HUP` of it succeeds, while nothing listens."""
        assert self._process is not None
        os.killpg(self._process.pid, signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM to the whole process group (master and workers), SIGKILL after 30 s."""
        if self._process is not None:
            stop_group(self._process, grace=30)

    def restart(self) -> None:
        """What is left of the proxy stopped, and the proxy started again on its config file as it is now."""
        self.stop()
        self.start()
        wait_until(lambda: serves(self.url, self.key), timeout=180, what="LiteLLM proxy start")


def serves(url: str, key: str) -> bool:
    try:
        return (
            httpx.get(f"{url}/health/liveliness", headers={"Authorization": f"Bearer {key}"}, timeout=1.0).status_code
            == 200
        )
    except httpx.HTTPError:
        return False


@dataclass
class LoadStats:
    """What a steady load saw: answered requests by color and when each came, every failure, the slowest answer."""

    colors: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    retried: int = 0
    slowest: float = 0.0
    answered_at: list[float] = field(default_factory=list)

    @property
    def answered(self) -> int:
        return sum(self.colors.values())


@contextmanager
def steady_load(
    url: str, *, clients: int = 20, max_seconds: float = 60.0, key: str | None = None
) -> Iterator[LoadStats]:
    """`clients` threads each sending chat requests back to back over keep-alive connections until the block ends.

    `key` is sent as a bearer token (the LiteLLM proxy's master key). Answers are counted by the color the
    router names: nginx's X-Rollout-Color, or LiteLLM's x-litellm-model-id.

    A request on a connection the server closed or reset before answering is retried once, as OpenAI's
    SDK does (a keep-alive connection can be closed by an exiting nginx or gunicorn worker just as a
    request is sent on it); it counts as lost only if the retry fails too, or if no answer came within
    60 s, and every retry is counted.
    """
    stats = LoadStats()
    stop = threading.Event()
    lock = threading.Lock()
    deadline = time.monotonic() + max_seconds
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}

    def client() -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        with httpx.Client(base_url=url, timeout=httpx.Timeout(60.0, connect=10.0), headers=headers) as session:
            while not stop.is_set() and time.monotonic() < deadline:
                began = time.monotonic()
                outcome, retried = _one_request(session, body)
                with lock:
                    stats.retried += retried
                    stats.slowest = max(stats.slowest, time.monotonic() - began)
                    if outcome.startswith("failed"):
                        stats.failures.append(outcome)
                    else:
                        stats.colors[outcome] += 1
                        stats.answered_at.append(time.monotonic())

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield stats
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=20)


def _one_request(session: httpx.Client, body: dict[str, object]) -> tuple[str, int]:
    for attempt in range(2):
        try:
            response = session.post("/v1/chat/completions", json=body)
        except (httpx.RemoteProtocolError, httpx.ConnectError, httpx.ReadError, httpx.WriteError) as exc:
            if attempt == 0:
                continue
            return f"failed: {type(exc).__name__}: {exc}", 1
        except httpx.HTTPError as exc:
            return f"failed: {type(exc).__name__}: {exc}", attempt
        if response.status_code != 200:
            return f"failed: HTTP {response.status_code}", attempt
        color = response.headers.get("x-rollout-color") or response.headers.get("x-litellm-model-id")
        return color or "unattributed", attempt
    raise AssertionError("unreachable")
