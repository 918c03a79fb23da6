"""What each way of moving LiteLLM's weights costs: seconds until the new config answers, requests lost and delayed, memory.

    .venv/bin/python -m benchmarks.litellm_reloads [--modes M,M] [--changes N] [--clients N] [--inflight S]

The real LiteLLM proxy (.venv-litellm) on loopback in front of two stub model servers, with `--clients` threads
sending chat requests back to back while `--changes` weight changes are made, each way in turn:

  gunicorn-hup  `litellm --run_gunicorn --num_workers 1`, SIGHUP to the master (what `rollout init` sets up)
  workers-hup   `litellm --num_workers 2 --timeout_worker_healthcheck 120`: uvicorn's supervisor, SIGHUP
  blue-green    nginx in front; a second proxy started on the new config, nginx's upstream swapped by a
                reload, the old proxy stopped once drained
  restart       one proxy, killed and started again on the new config, as `systemctl restart` does

A change counts as live when the proxy answers /v1/model/info with the new revision: once for the modes that
switch every worker at once, 20 answers in a row on fresh connections for workers-hup (it replaces its
workers one by one, so old and new configs serve side by side meanwhile). Memory is the proportional set
size (PSS) of the proxies' process trees, so pages the workers share with their master count once. A
request is lost if it fails even after one retry of a connection closed unanswered; "delayed" is the
slowest answer and the longest stretch in which no request was answered at all. With `--inflight S`, one
request that the stub model server answers only after S seconds is sent before the first change, and
what became of it is reported.
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from rollout.plan import Plan, load_plan
from rollout.routers import render_config, rendered_config
from rollout.traffic import TrafficState
from tests.support.net import free_port, stop_group, wait_until
from tests.support.routers import NGINX, Stub, litellm_binary, stage_state, steady_load, stub_model, write_plan

KEY = "sk-rollout-bench"
MODES = ("gunicorn-hup", "workers-hup", "blue-green", "restart")
CYCLE = (25, 75, 100, 25, 5, 75)
BODY = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}


def pss_mb(pid: int) -> float:
    """Proportional set size of a process and all its descendants, in MB."""
    total, todo, seen = 0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            with open(f"/proc/{current}/smaps_rollup") as rollup:
                total += sum(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    todo.extend(int(child) for child in children.read().split())
        except OSError:
            continue
    return total / 1024


def answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health/liveliness", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def serves(url: str, revision: str) -> bool:
    try:
        with httpx.Client() as fresh:
            reply = fresh.get(f"{url}/v1/model/info", headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
        return {m["model_info"]["rollout_revision"] for m in reply.json()["data"]} == {revision}
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return False


def longest_gap(times: list[float], start: float, end: float) -> float:
    marks = [start, *sorted(t for t in times if start <= t <= end), end]
    return max(b - a for a, b in itertools.pairwise(marks))


class Proxy:
    """One LiteLLM proxy process group on a port, started with extra CLI arguments."""

    def __init__(self, config: Path, port: int, args: list[str], log: Path) -> None:
        env = {**os.environ, "LITELLM_MASTER_KEY": KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "true", "NO_DOCS": "True"}
        binary = litellm_binary()
        assert binary is not None, "no LiteLLM proxy: run scripts/setup"
        self.url = f"http://127.0.0.1:{port}"
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [binary, "--config", str(config), "--host", "127.0.0.1", "--port", str(port), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )

    def stop(self) -> None:
        stop_group(self.process, grace=120)  # SIGTERM: uvicorn finishes the requests it has, then exits


def nginx_conf(root: Path, listen: int, upstream: int) -> Path:
    path = root / "nginx.conf"
    path.write_text(f"""\
worker_processes 1;
pid nginx.pid;
error_log error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path client_body_temp;
    proxy_temp_path proxy_temp;
    fastcgi_temp_path fastcgi_temp;
    uwsgi_temp_path uwsgi_temp;
    scgi_temp_path scgi_temp;
    upstream litellm {{ server 127.0.0.1:{upstream}; keepalive 32; }}
    server {{
        listen 127.0.0.1:{listen};
        location / {{
            proxy_pass http://litellm;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 600s;
        }}
    }}
}}
""")
    return path


@dataclass(frozen=True, kw_only=True)
class Figures:
    mode: str
    start: float
    pss: float
    peak_pss: float
    live: tuple[float, ...]
    answered: int
    lost: int
    losses: tuple[tuple[str, int], ...]
    """What the lost requests got, most frequent first."""
    retried: int
    slowest: float
    gap: float
    inflight: str = ""


ARGS = {
    "gunicorn-hup": ["--run_gunicorn", "--num_workers", "1"],
    "workers-hup": ["--num_workers", "2", "--timeout_worker_healthcheck", "120"],
}


class Setup:
    """The proxies (and, for blue-green, nginx) of one mode, and how that mode moves them to a new config."""

    def __init__(self, mode: str, plan: Plan, root: Path) -> None:
        self.mode, self.plan, self.root = mode, plan, root
        self.args = ARGS.get(mode, [])
        self.log = root / f"{mode}.log"
        plan.router.config.write_text(render_config(plan, TrafficState.initial("chat")))
        self.port = free_port()
        began = time.monotonic()
        self.proxies = [Proxy(plan.router.config, self.port, self.args, self.log)]
        wait_until(lambda: answers(self.proxies[0].url), timeout=600, what=f"{mode} proxy start")
        self.start_seconds = time.monotonic() - began
        self.url = self.proxies[0].url
        self.nginx: subprocess.Popen[bytes] | None = None
        if mode == "blue-green":
            self.front = free_port()
            self.nginx = subprocess.Popen([NGINX, *self._nginx_args(self.port), "-g", "daemon off;"])
            self.url = f"http://127.0.0.1:{self.front}"
            wait_until(lambda: answers(self.url), timeout=30, what="nginx start")

    def _nginx_args(self, upstream: int) -> list[str]:
        return ["-p", f"{self.root}/", "-c", str(nginx_conf(self.root, self.front, upstream))]

    def pss(self) -> float:
        return sum(pss_mb(proxy.process.pid) for proxy in self.proxies)

    def change(self, step: int, state: TrafficState) -> float:
        """Move to `state`, return once it is served, and give the highest PSS seen meanwhile."""
        text, revision = rendered_config(self.plan, state)
        if self.mode == "blue-green":
            spare = self.root / f"litellm-{step}.yaml"
            spare.write_text(text)
            port = free_port()
            self.proxies.append(Proxy(spare, port, [], self.log))
            peak = sample_peak(self, lambda: answers(self.proxies[-1].url))
            subprocess.run([NGINX, *self._nginx_args(port), "-s", "reload"], check=True, capture_output=True)
            wait_until(lambda: serves(self.url, revision), timeout=120, what="the new proxy behind nginx")
            self.proxies.pop(0).stop()
            return peak
        self.plan.router.config.write_text(text)
        if self.mode == "restart":
            self.proxies[0].stop()
            self.proxies[0] = Proxy(self.plan.router.config, self.port, self.args, self.log)
        else:
            os.kill(self.proxies[0].process.pid, signal.SIGHUP)
        # uvicorn's supervisor replaces its workers one by one: old and new answer side by side meanwhile.
        needed = 20 if self.mode == "workers-hup" else 1
        return sample_peak(self, lambda: all(serves(self.url, revision) for _ in range(needed)))

    def stop(self) -> None:
        for proxy in self.proxies:
            proxy.stop()
        if self.nginx is not None:
            self.nginx.terminate()
            self.nginx.wait(timeout=30)


def measure(
    mode: str, plan: Plan, root: Path, stubs: tuple[Stub, Stub], changes: int, clients: int, inflight: float
) -> Figures:
    setup = Setup(mode, plan, root)
    pss = peak = setup.pss()
    live: list[float] = []
    try:
        with (
            steady_load(setup.url, clients=clients, max_seconds=3600, key=KEY) as traffic,
            ThreadPoolExecutor(1) as pool,
        ):
            time.sleep(3)
            slow = None
            if inflight:
                held = sum(len(stub.started) for stub in stubs)
                slow = pool.submit(slow_request, setup.url, inflight)
                wait_until(lambda: sum(len(stub.started) for stub in stubs) > held, timeout=60, what="slow request")
            first = time.monotonic()
            for step in range(changes):
                began = time.monotonic()
                peak = max(peak, setup.change(step, stage_state(CYCLE[step % len(CYCLE)])))
                live.append(time.monotonic() - began)
            last = time.monotonic()
            time.sleep(2)
            outcome = slow.result() if slow is not None else ""
    finally:
        setup.stop()
    return Figures(
        mode=mode,
        start=setup.start_seconds,
        pss=pss,
        peak_pss=peak,
        live=tuple(live),
        answered=traffic.answered,
        lost=len(traffic.failures),
        losses=tuple(Counter(traffic.failures).most_common()),
        retried=traffic.retried,
        slowest=traffic.slowest,
        gap=longest_gap(traffic.answered_at, first, last),
        inflight=outcome,
    )


def slow_request(url: str, seconds: float) -> str:
    """Send a request the stub answers after `seconds`, and say what became of it."""
    body = {**BODY, "messages": [{"role": "user", "content": f"slow {seconds}"}]}
    began = time.monotonic()
    try:
        reply = httpx.post(
            f"{url}/v1/chat/completions", headers={"Authorization": f"Bearer {KEY}"}, json=body, timeout=seconds + 600
        )
        what = f"HTTP {reply.status_code}"
    except httpx.HTTPError as exc:
        what = type(exc).__name__
    return f"{what} after {time.monotonic() - began:.1f} s"


def sample_peak(setup: Setup, done: Callable[[], bool]) -> float:
    """Poll `done` until true (at most 10 minutes), returning the highest PSS seen meanwhile."""
    peak, deadline = 0.0, time.monotonic() + 600
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("the new config was not served within 600 s")
        peak = max(peak, setup.pss())
        time.sleep(0.2)
    return peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--changes", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--inflight", type=float, default=0.0, help="seconds of one slow request sent before the changes"
    )
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown modes {sorted(unknown)}; known: {', '.join(MODES)}")
    with stub_model("stub-blue") as blue, stub_model("stub-green") as green:
        for mode in modes:
            with tempfile.TemporaryDirectory() as tmp:
                root = Path(tmp)
                plan = load_plan(
                    write_plan(
                        root,
                        kind="litellm",
                        config="litellm.yaml",
                        url="http://127.0.0.1:1",
                        reload="true",
                        blue_port=blue.port,
                        green_port=green.port,
                    )
                )
                figures = measure(mode, plan, root, (blue, green), args.changes, args.clients, args.inflight)
            live = ", ".join(f"{s:.1f}" for s in figures.live)
            print(
                f"{figures.mode}: start {figures.start:.1f} s, PSS {figures.pss:.0f} MB (peak {figures.peak_pss:.0f}); "
                f"new config live after {live} s (median {statistics.median(figures.live):.1f}); "
                f"{figures.answered} answered, {figures.lost} lost, {figures.retried} retried; "
                f"slowest answer {figures.slowest:.1f} s, longest stretch without an answer {figures.gap:.1f} s"
                + (f"; the slow request: {figures.inflight}" if figures.inflight else ""),
                flush=True,
            )
            for outcome, count in figures.losses[:5]:
                print(f"  lost x{count}: {outcome}", flush=True)


if __name__ == "__main__":
    main()
