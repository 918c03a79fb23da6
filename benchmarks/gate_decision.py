"""How often the quality gate promotes a worse candidate, and blocks an equal one, on simulated suites.

Each simulated case has a difficulty both colors share (so their scores are correlated, as on a real
suite); each color answers it correctly when difficulty plus its own noise is under its threshold,
and the thresholds are set so that green's true mean score is exactly blue's minus the margin
("worse") or equal to it ("equal"). `idiosyncrasy` lets the colors disagree case by case beyond that,
as two real model versions do; `noise` is repeat-to-repeat sampling noise.

    .venv/bin/python benchmarks/gate_decision.py [--suites 400] [--repeats 1] [--noise 0] [--idiosyncrasy 0.15]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path
from statistics import NormalDist

from rollout.evals.results import CaseResult
from rollout.gates.pairing import CasePair, Paired
from rollout.gates.quality import quality_gate
from rollout.plan import QualityGate

SIZES = (50, 200, 1000)
MARGIN = 0.02
BLUE_ACCURACY = 0.75


def simulate(
    rng: random.Random, *, cases: int, repeats: int, green_accuracy: float, noise: float, idiosyncrasy: float
) -> Paired:
    normal = NormalDist()
    spread = (1 + noise**2) ** 0.5
    blue_threshold = spread * normal.inv_cdf(BLUE_ACCURACY)
    green_threshold = (1 + noise**2 + idiosyncrasy**2) ** 0.5 * normal.inv_cdf(green_accuracy)
    pairs = []
    for i in range(cases):
        difficulty = rng.gauss(0, 1)
        own = rng.gauss(0, idiosyncrasy) if idiosyncrasy else 0.0
        blue = tuple(float(difficulty + rng.gauss(0, noise) < blue_threshold) for _ in range(repeats))
        green = tuple(float(difficulty + own + rng.gauss(0, noise) < green_threshold) for _ in range(repeats))
        pairs.append(
            CasePair(id=str(i), blue=CaseResult(id=str(i), scores=blue), green=CaseResult(id=str(i), scores=green))
        )
    return Paired(pairs=tuple(pairs))


def naive_promotes(paired: Paired) -> bool:
    blue = sum(p.blue.mean or 0.0 for p in paired.pairs) / len(paired.pairs)
    green = sum(p.green.mean or 0.0 for p in paired.pairs) / len(paired.pairs)
    return green >= blue - MARGIN


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suites", type=int, default=400, help="simulated suites per size and scenario")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--noise", type=float, default=0.0, help="repeat-to-repeat noise (0: temperature 0)")
    parser.add_argument("--idiosyncrasy", type=float, default=0.15, help="how much the versions differ per case")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    config = QualityGate(suite=Path("sim"), margin=MARGIN, confidence=0.95)
    rng = random.Random(args.seed)
    started = time.perf_counter()
    print(
        f"{args.suites} suites per cell; blue accuracy {BLUE_ACCURACY}, margin {MARGIN}, repeats {args.repeats}, "
        f"noise {args.noise}, idiosyncrasy {args.idiosyncrasy}\n"
    )
    print(
        "| cases | mean abs. per-case difference | worse by margin: promoted (ours) | (naive) | inconclusive (ours) "
        "| equal: promoted (ours) | (naive) | equal: blocked as fail (ours) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in SIZES:
        row: dict[str, list[float]] = {}
        disagreement = 0.0
        for scenario, green_accuracy in (("worse", BLUE_ACCURACY - MARGIN), ("equal", BLUE_ACCURACY)):
            ours_pass = naive_pass = ours_undecided = ours_fail = 0
            for _ in range(args.suites):
                paired = simulate(
                    rng,
                    cases=size,
                    repeats=args.repeats,
                    green_accuracy=green_accuracy,
                    noise=args.noise,
                    idiosyncrasy=args.idiosyncrasy,
                )
                disagreement += sum(abs((p.green.mean or 0.0) - (p.blue.mean or 0.0)) for p in paired.pairs) / size
                outcome = quality_gate(paired, config, suite="sim").outcome
                ours_pass += outcome == "pass"
                ours_undecided += outcome == "inconclusive"
                ours_fail += outcome == "fail"
                naive_pass += naive_promotes(paired)
            row[scenario] = [x / args.suites for x in (ours_pass, naive_pass, ours_undecided, ours_fail)]
        worse, equal = row["worse"], row["equal"]
        print(
            f"| {size} | {disagreement / (2 * args.suites):.1%} | {worse[0]:.1%} | {worse[1]:.1%} | {worse[2]:.1%} "
            f"| {equal[0]:.1%} | {equal[1]:.1%} | {equal[3]:.1%} |"
        )
    print(f"\n{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
