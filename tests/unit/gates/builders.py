"""Eval results and plans for gate tests, built in code so each test shows the numbers it depends on."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rollout.evals.results import CaseResult, EvalResults
from rollout.gates.pairing import CasePair, Paired


def case(case_id: str, scores: Sequence[float], **fields: Any) -> CaseResult:
    return CaseResult(id=case_id, scores=tuple(scores), **fields)


def paired(blue: Sequence[Sequence[float]], green: Sequence[Sequence[float]], **fields: Any) -> Paired:
    return Paired(
        pairs=tuple(
            CasePair(id=f"c{i}", blue=case(f"c{i}", b, **fields), green=case(f"c{i}", g, **fields))
            for i, (b, g) in enumerate(zip(blue, green, strict=True))
        )
    )


def binary_suite(n: int, *, blue_right: int, green_right: int, both: int) -> Paired:
    """n cases: `both` right on both colors, the rest of each color's right answers on distinct cases."""
    blue = [[1.0] if i < blue_right else [0.0] for i in range(n)]
    green = [[1.0] if i < both or blue_right <= i < blue_right + green_right - both else [0.0] for i in range(n)]
    return paired(blue, green)


def timed_cases(
    n: int, *, latency: float, ttft: float, tokens: int, seed: int, prefix: str = "c"
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "id": f"{prefix}{i}",
            "scores": [1.0],
            "latency_ms": [latency * rng.uniform(0.8, 1.2)],
            "ttft_ms": [ttft * rng.uniform(0.8, 1.2)],
            "output_tokens": [tokens],
            "errors": [],
        }
        for i in range(n)
    ]


def results_dict(suite: str, target: str, model: str, cases: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "schema": "rollout.eval-results/v1",
        "suite": suite,
        "target": target,
        "model": model,
        "revision": f"{model}-rev",
        "run_id": f"{target}-{suite}",
        "cases": cases,
        **extra,
    }


def results(suite: str, target: str, model: str, cases: Sequence[CaseResult]) -> EvalResults:
    return EvalResults(suite=suite, target=target, model=model, run_id=f"{target}-{suite}", cases=tuple(cases))


PLAN = """\
version: 1
service: chat
models:
  blue: {{name: blue-v1, model: org/m1, port: 8001}}
  green: {{name: green-v2, model: org/m2, port: 8002}}
router: {{kind: file, config: router.json}}
stages:
  - {{name: early, weight: 25, soak: 1h}}
  - {{name: full, weight: 100, soak: 1h}}
gates:
{gates}
"""


def write_plan(root: Path, gates: str) -> Path:
    for suite in ("quality", "safety"):
        (root / "eval_suites" / suite).mkdir(parents=True, exist_ok=True)
        (root / "eval_suites" / suite / "cases.yaml").write_text(
            f"name: {suite}\ncases:\n  - id: a\n    prompt: hi\n    expect:\n      - contains: hi\n"
        )
    path = root / "rollout-plan.yaml"
    path.write_text(PLAN.format(gates=gates))
    return path
