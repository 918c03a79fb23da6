"""Step outputs and the step summary: the files GitHub Actions names in `$GITHUB_OUTPUT` and `$GITHUB_STEP_SUMMARY`.

Outside Actions the variables are absent and each function does nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path

from rollout.errors import ExternalError


def write_outputs(env: Mapping[str, str], outputs: Mapping[str, str | int | None]) -> None:
    lines = []
    for key, value in outputs.items():
        text = "" if value is None else str(value)
        if "\n" in text:
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
            lines.append(f"{key}<<{delimiter}\n{text}\n{delimiter}\n")
        else:
            lines.append(f"{key}={text}\n")
    _append(env, "GITHUB_OUTPUT", "".join(lines))


def append_summary(env: Mapping[str, str], markdown: str) -> None:
    _append(env, "GITHUB_STEP_SUMMARY", markdown.rstrip("\n") + "\n\n")


def _append(env: Mapping[str, str], variable: str, text: str) -> None:
    target = env.get(variable)
    if not target:
        return
    try:
        with Path(target).open("a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise ExternalError(f"cannot write ${variable} ({target}): {exc.strerror or exc}") from None
