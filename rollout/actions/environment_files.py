"""Step outputs and the step summary: the files GitHub Actions names in `$GITHUB_OUTPUT` and `$GITHUB_STEP_SUMMARY`.

Outside Actions the variables are absent and each function does nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path


def write_outputs(env: Mapping[str, str], outputs: Mapping[str, str | int | None]) -> None:
    target = env.get("GITHUB_OUTPUT")
    if not target:
        return
    with Path(target).open("a", encoding="utf-8") as handle:
        for key, value in outputs.items():
            text = "" if value is None else str(value)
            if "\n" in text:
                delimiter = f"ghadelimiter_{uuid.uuid4()}"
                handle.write(f"{key}<<{delimiter}\n{text}\n{delimiter}\n")
            else:
                handle.write(f"{key}={text}\n")


def append_summary(env: Mapping[str, str], markdown: str) -> None:
    target = env.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    with Path(target).open("a", encoding="utf-8") as handle:
        handle.write(markdown.rstrip("\n") + "\n\n")
