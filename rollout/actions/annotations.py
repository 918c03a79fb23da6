"""Workflow commands: the ones we write, escaped as the runner expects, and the neutralising of every
other line, which may carry text we did not write (a model server's error body, a model id, feedback text).

The runner reads a step's stdout and stderr line by line, a line ending at `\\n` or a lone `\\r`. It obeys a
line that starts with `::` once leading whitespace is trimmed (`::add-mask::`, `::error ...::`,
`::stop-commands::`), and, from the older syntax, a `##[` anywhere in it (`##[set-output name=x;]`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from rollout.errors import Problem

# Control characters (C0 but tab, line feed and carriage return; DEL; C1) and the Unicode line and paragraph
# separators: terminals obey them (colours, cursor moves, hidden text), and some readers split lines on them.
_CONTROL = re.compile("[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
_LINE_END = re.compile(r"(\r\n|\r|\n)")


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


def neutralise(text: str) -> str:
    """`text` with no line the runner would obey as a workflow command, and no control character a terminal
    would obey; line ends stay where they were, so the result reads as the text did.

    Idempotent: neutralised text passes through unchanged.
    """
    return "".join(_neutralise_line(part) if i % 2 == 0 else part for i, part in enumerate(_LINE_END.split(text)))


def _neutralise_line(line: str) -> str:
    line = _CONTROL.sub(_visible, line).replace("##[", "## [")
    start = len(line) - len(line.lstrip())
    if line.startswith("::", start):
        line = f"{line[:start]}: :{line[start + 2 :]}"
    return line


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _escape_data(text: str) -> str:
    return _CONTROL.sub(_visible, text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
