"""GitHub Actions' side channels: step outputs, the step summary, and annotations.

Each takes the environment as a mapping so callers (and tests) decide where it comes from.
Outside Actions the variables are absent and every function does nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

from rollout.errors import Problem


def in_actions(env: Mapping[str, str]) -> bool:
    return env.get("GITHUB_ACTIONS") == "true"


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


def error_annotations(problems: Iterable[Problem]) -> list[str]:
    """`::error` workflow commands, one per problem, escaped as the runner expects."""
    lines = []
    for problem in problems:
        props = [f"file={_escape_property(problem.file)}"]
        if problem.line is not None:
            props.append(f"line={problem.line}")
        if problem.field:
            props.append(f"title={_escape_property(problem.field)}")
        lines.append(f"::error {','.join(props)}::{_escape_data(problem.message)}")
    return lines


def annotation(kind: Literal["notice", "warning", "error"], message: str, *, title: str = "") -> str:
    """One workflow command that shows `message` on the run's page (and, for a PR, its checks)."""
    props = f" title={_escape_property(title)}" if title else ""
    return f"::{kind}{props}::{_escape_data(message)}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
