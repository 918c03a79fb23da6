"""Run an external program to completion: the one place a command's failure becomes an ExternalError.

Every tool we drive (git, systemd-run, docker, a router's reload or validate command) goes through
`run_command`, so each gets a timeout, no standard input, its output captured, and a message that
names the command and the last lines it printed when it fails.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from rollout.errors import ExternalError

DEFAULT_TIMEOUT = 600.0
SHOWN_OUTPUT_LINES = 5

Command = str | Sequence[str]
"""A shell line (run with `sh -c`, as a plan's `router.reload` is written) or an argv."""


def shown(command: Command) -> str:
    return command if isinstance(command, str) else shlex.join(command)


def run_command(
    command: Command,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    check: bool = True,
    what: str = "",
) -> subprocess.CompletedProcess[str]:
    """Run `command` and return what it did; raise ExternalError if it cannot run, times out, or (with check) fails.

    `env` replaces the environment; `extra_env` adds to it (to `env`, or to ours). `what` names the command's
    purpose in messages ("reload", "git"); it defaults to the program's name.
    """
    base = dict(os.environ if env is None else env)
    environment = {**base, **extra_env} if extra_env else base
    label = what or (command.split(maxsplit=1)[0] if isinstance(command, str) else command[0])
    try:
        result = subprocess.run(
            command if isinstance(command, str) else list(command),
            shell=isinstance(command, str),
            cwd=cwd,
            env=environment,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        program = command.split(maxsplit=1)[0] if isinstance(command, str) else command[0]
        raise ExternalError(f"{label}: {program} is not installed or not on PATH") from None
    except subprocess.TimeoutExpired:
        raise ExternalError(f"{label} command `{shown(command)}` did not finish within {timeout:g}s") from None
    except OSError as exc:
        raise ExternalError(f"{label} command `{shown(command)}` could not run: {exc}") from None
    if check and result.returncode != 0:
        output = (result.stderr.strip() or result.stdout.strip()).splitlines()[-SHOWN_OUTPUT_LINES:]
        where = f" in {cwd}" if cwd is not None else ""
        raise ExternalError(
            f"{label} command `{shown(command)}` failed{where} (exit {result.returncode})"
            + (":\n  " + "\n  ".join(output) if output else "")
        )
    return result
