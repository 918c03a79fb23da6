"""How long `rollout serve` takes around the server itself: start to healthy, and stop to no process left.

    .venv/bin/python -m benchmarks.serve_lifecycle [--rounds N] [--model]

Each round starts blue then green and stops both, through the same API the CLI uses. With --model the
servers are the real SmolLM2 under llama_cpp.server (load time included); without it, the stub server,
so the figures are the harness's own overhead: spawning, polling /health and /v1/models, draining.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rollout.plan import COLORS
from rollout.serving import start, stop
from tests.support.model import smollm_path
from tests.support.serving import blue_and_green, stub_command

LLAMA = (
    f"{sys.executable} -m llama_cpp.server --model {{model}} --host {{host}} --port {{port}} "
    "--model_alias {name} --n_ctx 2048 --n_threads 1"
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--model", action="store_true", help="serve the real SmolLM2 instead of the stub")
    args = parser.parse_args()
    command, model = (LLAMA, str(smollm_path())) if args.model else (stub_command(), "m")
    starts: list[float] = []
    stops: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, blue_and_green(Path(tmp), command, prefix="bench", model=model) as plan:
        for _ in range(args.rounds):
            for color in COLORS:
                began = time.perf_counter()
                start(plan, color, timeout=300)
                starts.append(time.perf_counter() - began)
            for color in reversed(COLORS):
                began = time.perf_counter()
                stop(plan, color, force=True)
                stops.append(time.perf_counter() - began)
    server = "SmolLM2 (llama_cpp.server)" if args.model else "stub server"
    print(f"{server}, {args.rounds} rounds of blue+green")
    print(f"start to healthy: median {statistics.median(starts):.2f}s, max {max(starts):.2f}s")
    print(f"stop to no process left: median {statistics.median(stops):.2f}s, max {max(stops):.2f}s")


if __name__ == "__main__":
    main()
