"""What the action's install step costs a job: building rollout from its checkout, or installing the run's wheel.

    .venv/bin/python -m benchmarks.install_once [--rounds N]

Each round makes two fresh virtual environments with the interpreter running this, as the action does under
$RUNNER_TEMP, and installs rollout and pytest into them: once from a clean copy of this checkout (what every
job did before), once from a wheel built beforehand (what every job after the first does now). The one build
of the wheel is timed too: the first job of a run pays it. pip's cache is warm (the dependencies' wheels are
not downloaded again), as on a self-hosted runner that has run the workflows before.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PIP = ("-m", "pip", "--quiet", "--disable-pip-version-check")
DEPLOY_CRITICAL_PATH = 5
"""Jobs one after the other from a merge to the stage's pull request in rollout-deploy: plan, serve, one eval
job (the others run beside it), gate, propose."""
DEPLOY_JOBS = 8
"""Jobs that install rollout in one deploy with both suites: plan, serve, four evals, gate, propose."""


def timed(argv: list[str]) -> float:
    began = time.monotonic()
    subprocess.run(argv, check=True, capture_output=True)
    return time.monotonic() - began


def fresh_venv(root: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    return root / "bin" / "python"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        checkout = work / "checkout"
        checkout.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", "HEAD"], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(checkout)], input=archive.stdout, check=True)
        builder = fresh_venv(work / "builder")
        build = timed([str(builder), *PIP, "wheel", "--no-deps", "--wheel-dir", str(work / "wheel"), str(checkout)])
        wheel = next((work / "wheel").glob("model_rollout-*.whl"))
        source: list[float] = []
        built: list[float] = []
        for round_ in range(args.rounds):
            python = fresh_venv(work / f"source-{round_}")
            source.append(timed([str(python), *PIP, "install", str(checkout), "pytest>=8"]))
            python = fresh_venv(work / f"wheel-{round_}")
            built.append(timed([str(python), *PIP, "install", str(wheel), "pytest>=8"]))
    src, whl = statistics.median(source), statistics.median(built)
    print(f"build the wheel once:           {build:6.1f} s")
    print(f"install from the checkout:      {src:6.1f} s median ({', '.join(f'{s:.1f}' for s in source)})")
    print(f"install from the wheel:         {whl:6.1f} s median ({', '.join(f'{s:.1f}' for s in built)})")
    print(f"ratio wheel / checkout:         {whl / src:6.2f}")
    before, after = DEPLOY_CRITICAL_PATH * src, build + DEPLOY_CRITICAL_PATH * whl
    print(f"deploy, merge to stage PR, installs on the critical path: {before:.0f} s before, {after:.0f} s after")
    total_before, total_after = DEPLOY_JOBS * src, build + DEPLOY_JOBS * whl
    print(f"deploy, installs in all {DEPLOY_JOBS} jobs: {total_before:.0f} s before, {total_after:.0f} s after")


if __name__ == "__main__":
    main()
