"""The whole `rollout gate` process on a folder's plan and its blue.json and green.json, timed as a child process.

million_cases.py and gate_speed.py both measure it: wall time, and CPU time and peak resident memory from the
children's rusage (the peak is the largest of any child so far).
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class GateProcess:
    done: subprocess.CompletedProcess[str]
    wall: float
    """Seconds."""
    cpu: float
    """User and system seconds."""
    peak_rss_mb: float


def time_gate(root: Path) -> GateProcess:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "rollout",
            "gate",
            "--plan",
            str(root / "rollout-plan.yaml"),
            "--baseline",
            str(root / "blue.json"),
            "--candidate",
            str(root / "green.json"),
        ],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # ru_maxrss is in kilobytes on Linux
    return GateProcess(done=done, wall=wall, cpu=cpu, peak_rss_mb=after.ru_maxrss / 1024)
