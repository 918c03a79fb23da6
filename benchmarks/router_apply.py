"""How fast `rollout apply` moves a router to a verified split, and what a change costs traffic under load.

    .venv/bin/python -m benchmarks.router_apply [--router nginx|litellm] [--rounds N] [--reloads N]
                                                [--clients N] [--probes N]

A real router on loopback in front of two stub model servers: nginx (Debian's), or the LiteLLM proxy from
.venv-litellm run as docs/routers.md sets it up (`--run_gunicorn --num_workers 1`, reloaded by SIGHUP).
First, `--rounds` applies cycling through the stage weights, each timed from the start of apply_traffic to
the verified split (render, validate, swap, reload, the new revision live, `--probes` probe requests
judged). Then `--reloads` consecutive verified applies while `--clients` threads send chat requests back to
back; a request is lost if it fails even after one retry of a connection closed unanswered (counted
separately), or gets no answer within 60 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from rollout.plan import Plan, load_plan
from rollout.routers import render_config
from rollout.routers.apply import apply_traffic
from rollout.traffic import TrafficState
from tests.support.net import free_port, wait_until
from tests.support.routers import (
    GracefulLiteLLM,
    Stub,
    litellm_binary,
    litellm_env,
    running_nginx,
    serves,
    stage_state,
    steady_load,
    stub_model,
    write_plan,
)

CYCLE = (5, 25, 75, 100, 25, 0)
KEY = "sk-rollout-bench"


def state(step: int) -> TrafficState:
    return stage_state(CYCLE[step % len(CYCLE)])


@contextmanager
def running_router(kind: str, root: Path, blue: Stub, green: Stub, probes: int) -> Iterator[Plan]:
    """The router of `kind` started on the initial config, and a plan whose apply reloads it."""
    url = f"http://127.0.0.1:{free_port()}"
    proxy = None
    if kind == "litellm":
        binary = litellm_binary()
        if binary is None:
            raise SystemExit("no LiteLLM proxy: run scripts/setup (installs .venv-litellm)")
        proxy = GracefulLiteLLM(binary, root / "litellm.yaml", int(url.rsplit(":", 1)[1]), root / "litellm.log", KEY)
    plan = load_plan(
        write_plan(
            root,
            kind=kind,
            config="litellm.yaml" if proxy else "nginx.conf",
            url=url,
            reload=proxy.reload_command if proxy else None,
            blue_port=blue.port,
            green_port=green.port,
            probes=probes,
        )
    )
    plan.router.config.write_text(render_config(plan, TrafficState.initial("chat")))
    if proxy is None:
        with running_nginx(plan.router.config, url):
            yield plan
        return
    proxy.start()
    try:
        wait_until(lambda: serves(url, KEY), timeout=600, what="LiteLLM proxy start")
        yield plan
    finally:
        proxy.stop()


def timed_applies(plan: Plan, count: int, env: Mapping[str, str]) -> list[float]:
    times = []
    for step in range(count):
        began = time.perf_counter()
        apply_traffic(plan, state(step), env=env)
        times.append(time.perf_counter() - began)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--router", choices=("nginx", "litellm"), default="nginx")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--reloads", type=int, default=20)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--probes", type=int, default=200)
    args = parser.parse_args()
    env = {**os.environ, "LITELLM_MASTER_KEY": KEY, **litellm_env(litellm_binary())}
    with (
        tempfile.TemporaryDirectory() as tmp,
        stub_model("stub-blue") as blue,
        stub_model("stub-green") as green,
        running_router(args.router, Path(tmp), blue, green, args.probes) as plan,
    ):
        assert plan.router.url is not None
        idle = timed_applies(plan, args.rounds, env)
        with steady_load(plan.router.url, clients=args.clients, max_seconds=3600, key=KEY) as load:
            began = time.perf_counter()
            loaded = timed_applies(plan, args.reloads, env)
            under_load = time.perf_counter() - began
    print(
        f"{args.router}: apply to verified split ({args.probes} probes), {args.rounds} rounds: "
        f"median {statistics.median(idle):.2f} s, max {max(idle):.2f} s"
    )
    print(
        f"{args.reloads} verified applies under {args.clients} clients in {under_load:.1f} s "
        f"(median {statistics.median(loaded):.2f} s, max {max(loaded):.2f} s): {load.answered} answered, "
        f"{len(load.failures)} lost, {load.retried} retried after a closed keep-alive connection, "
        f"slowest answer {load.slowest:.2f} s"
    )
    for failure in load.failures[:5]:
        print(f"  lost: {failure}")


if __name__ == "__main__":
    main()
