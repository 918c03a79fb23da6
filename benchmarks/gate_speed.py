"""How long gating takes on a large suite: 10,000 cases x 5 repeats per color, all four result-based gates.

    .venv/bin/python benchmarks/gate_speed.py [--cases 10000] [--repeats 5] [--scores binary|graded|continuous]

Times the pure evaluation (pairing, the quality score test, quantiles, report) and, separately, the whole
`rollout gate` process on the same results written as JSON files (loading and schema checks included).
Scores per repeat: binary (0 or 1, as most graders give), graded (tenths, as a judge's rubric gives), or
continuous (any float, where no two cases share a value).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rollout.evals.results import results_from_dict
from rollout.gates.evaluate import SuiteRun, evaluate_gates
from rollout.gates.report import render_report
from rollout.gates.verdict import verdict_to_json
from rollout.plan import load_plan

GATES = """\
  quality: {suite: eval_suites/quality, margin: 0.02}
  latency: {p95_ratio_max: 1.2, ttft_p95_ms_max: 1500}
  cost: {ratio_max: 1.1, gpu_hour_usd: {blue: 2.5, green: 2.5}}
"""


def suite(rng: random.Random, color: str, cases: int, repeats: int, scores: str) -> dict[str, Any]:
    def score(p: float) -> float:
        if scores == "continuous":
            return rng.random()
        return round(rng.random() * 10) / 10 if scores == "graded" else float(rng.random() < p)

    return {
        "schema": "rollout.eval-results/v1",
        "suite": "quality",
        "target": color,
        "model": f"{color}-model",
        "cases": [
            {
                "id": f"case-{i}",
                "scores": [score(0.8) for _ in range(repeats)],
                "latency_ms": [rng.uniform(200, 2000) for _ in range(repeats)],
                "ttft_ms": [rng.uniform(50, 400) for _ in range(repeats)],
                "output_tokens": [rng.randint(10, 200) for _ in range(repeats)],
                "errors": [],
            }
            for i in range(cases)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scores", choices=("binary", "graded", "continuous"), default="binary")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.gate_process import time_gate
    from tests.unit.gates.builders import write_plan

    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        plan = load_plan(write_plan(root, GATES))
        data = {color: suite(rng, color, args.cases, args.repeats, args.scores) for color in ("blue", "green")}
        for color, content in data.items():
            (root / f"{color}.json").write_text(json.dumps(content))
        run = SuiteRun(
            suite="quality", baseline=results_from_dict(data["blue"]), candidate=results_from_dict(data["green"])
        )
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            verdict = evaluate_gates(plan.gates, [run])
            render_report(verdict)
            verdict_to_json(verdict)
            timings.append(time.perf_counter() - started)
        gate = time_gate(root)
    print(
        f"{args.cases} cases x {args.repeats} repeats, {args.scores} scores: evaluate + report "
        f"{min(timings):.3f} s (best of 3; {', '.join(f'{t:.3f}' for t in timings)}); "
        f"whole `rollout gate` process {gate.wall:.2f} s (exit {gate.done.returncode})"
    )
    print("\n".join(f"  {g.gate}: {g.outcome}: {g.reason}" for g in verdict.gates))


if __name__ == "__main__":
    main()
