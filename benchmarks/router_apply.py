"""How fast `rollout apply` moves nginx to a verified split, and what a reload costs traffic under load.

    .venv/bin/python -m benchmarks.router_apply [--rounds N] [--reloads N] [--clients N] [--probes N]

A real nginx on loopback in front of two stub model servers. First, `--rounds` applies cycling through
the stage weights, each timed from the start of apply_traffic to the verified split (render, nginx -t,
swap, nginx -s reload, the new revision live, `--probes` probe requests judged). Then `--reloads`
consecutive verified applies while `--clients` threads send chat requests back to back; a request is
lost if it fails even after one retry of a connection closed unanswered (counted separately).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from rollout.plan import load_plan
from rollout.routers import render_config
from rollout.routers.apply import apply_traffic
from rollout.traffic import TrafficState
from tests.support.net import free_port
from tests.support.routers import running_nginx, stage_state, steady_load, stub_model, write_plan

CYCLE = (5, 25, 75, 100, 25, 0)


def state(step: int) -> TrafficState:
    return stage_state(CYCLE[step % len(CYCLE)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--reloads", type=int, default=20)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--probes", type=int, default=200)
    args = parser.parse_args()
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp, stub_model("stub-blue") as blue, stub_model("stub-green") as green:
        plan = load_plan(
            write_plan(
                Path(tmp),
                kind="nginx",
                config="nginx.conf",
                url=f"http://127.0.0.1:{free_port()}",
                blue_port=blue.port,
                green_port=green.port,
                probes=args.probes,
            )
        )
        plan.router.config.write_text(render_config(plan, TrafficState.initial("chat")))
        assert plan.router.url is not None
        with running_nginx(plan.router.config, plan.router.url):
            times = []
            for step in range(args.rounds):
                began = time.perf_counter()
                apply_traffic(plan, state(step), env=env)
                times.append(time.perf_counter() - began)
            with steady_load(plan.router.url, clients=args.clients, max_seconds=600) as load:
                began = time.perf_counter()
                for step in range(args.reloads):
                    apply_traffic(plan, state(step), env=env)
                under_load = time.perf_counter() - began
            lost = len(load.failures)
    print(
        f"apply to verified split ({args.probes} probes), {args.rounds} rounds: "
        f"median {statistics.median(times):.2f} s, max {max(times):.2f} s"
    )
    print(
        f"{args.reloads} verified applies under {args.clients} clients in {under_load:.1f} s: "
        f"{load.answered} answered, {lost} lost, {load.retried} retried after a closed keep-alive connection"
    )
    for failure in load.failures[:5]:
        print(f"  lost: {failure}")


if __name__ == "__main__":
    main()
