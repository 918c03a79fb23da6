"""Loading and gating a million cases per color: the whole `rollout gate` process, its time and peak memory.

    .venv/bin/python benchmarks/million_cases.py [--cases 1000000] [--repeats 1] [--runs 1]

Writes blue's and green's results (binary scores, latency, TTFT and token counts per repeat, as
`rollout eval` writes them: about 120 MB per color for a million cases) to a temporary folder, then runs
`rollout gate` on them with the quality, latency and cost gates, as a child process. Reports wall time,
CPU time (user + system, from the child's rusage), peak resident memory, and the load average, since on a
shared machine wall time measures the neighbours as much as the gate.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from pathlib import Path

GATES = """\
  quality: {suite: eval_suites/quality, margin: 0.02}
  latency: {p95_ratio_max: 1.2, ttft_p95_ms_max: 1500}
  cost: {ratio_max: 1.1, gpu_hour_usd: {blue: 2.5, green: 2.5}}
"""


def write_results(path: Path, color: str, cases: int, repeats: int, rng: random.Random) -> None:
    """Streamed case by case, so the benchmark itself does not hold a million dicts."""
    head = {"schema": "rollout.eval-results/v1", "suite": "quality", "target": color, "model": f"{color}-model"}
    with path.open("w") as out:
        out.write(json.dumps(head)[:-1] + ', "cases": [\n')
        for i in range(cases):
            case = {
                "id": f"case-{i}",
                "scores": [float(rng.random() < 0.8) for _ in range(repeats)],
                "latency_ms": [round(rng.uniform(200, 2000), 2) for _ in range(repeats)],
                "ttft_ms": [round(rng.uniform(50, 400), 2) for _ in range(repeats)],
                "output_tokens": [rng.randint(10, 200) for _ in range(repeats)],
                "errors": [],
            }
            out.write(("" if i == 0 else ",\n") + json.dumps(case))
        out.write("\n]}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.gate_process import time_gate
    from tests.unit.gates.builders import write_plan

    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_plan(root, GATES)
        for color in ("blue", "green"):
            write_results(root / f"{color}.json", color, args.cases, args.repeats, rng)
        size = sum((root / f"{color}.json").stat().st_size for color in ("blue", "green")) / 1e6
        for run in range(args.runs):
            load = os.getloadavg()[0]
            gate = time_gate(root)
            print(
                f"run {run + 1}: {args.cases:,} cases x {args.repeats} repeats per color ({size:.0f} MB of JSON): "
                f"wall {gate.wall:.1f} s, CPU {gate.cpu:.1f} s, peak RSS {gate.peak_rss_mb:.0f} MB, "
                f"load average {load:.1f}, exit {gate.done.returncode}"
            )
            if gate.done.returncode not in (0, 1, 3):
                print(gate.done.stderr)
    print(gate.done.stdout)


if __name__ == "__main__":
    main()
