"""Run the tools other supervisors drive (systemd-run, systemctl, journalctl, docker)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from rollout.errors import ExternalError

TOOL_TIMEOUT = 600


def run_tool(argv: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError as exc:
        raise ExternalError(f"{argv[0]} is not installed or not on PATH") from exc
    except subprocess.TimeoutExpired as exc:
        raise ExternalError(f"{' '.join(argv)} did not finish within {TOOL_TIMEOUT}s") from exc
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise ExternalError(f"{' '.join(argv)} failed (exit {result.returncode}): {detail}")
    return result
