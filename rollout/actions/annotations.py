"""Workflow commands that show a message on the run's page (and, for a PR, its checks)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from rollout.errors import Problem


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
