"""The hostile corpus (tests/fixtures/hostile) and what safe output must not contain.

The checks here are written apart from rollout's own neutralising, from the runner's rules, so a test
that uses them fails when the neutralising misses something.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "hostile" / "strings.json"

# The runner ends a line at \n, \r\n or a lone \r; it trims leading whitespace before looking for `::`.
_RUNNER_LINES = re.compile(r"\r\n|\r|\n")
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True)
class Hostile:
    name: str
    text: str
    against: tuple[str, ...]


def corpus(*layers: str) -> list[Hostile]:
    """The hostile strings that attack any of `layers` (all of them when none is named)."""
    entries = [Hostile(e["name"], e["text"], tuple(e["against"])) for e in json.loads(CORPUS.read_text())]
    return [e for e in entries if not layers or set(layers) & set(e.against)]


def runner_lines(output: str) -> list[str]:
    return _RUNNER_LINES.split(output)


def obeyed_lines(output: str, *, ours: tuple[str, ...] = ()) -> list[str]:
    """The lines of `output` that GitHub's runner would obey as workflow commands, or that carry a control
    character a terminal obeys; `ours` are exact lines we wrote on purpose (our annotations)."""
    bad = []
    for line in runner_lines(output):
        if line in ours:
            continue
        if line.lstrip().startswith("::") or "##[" in line or _CONTROLS.search(line):
            bad.append(line)
    return bad


_CODE_SPAN = re.compile(r"`[^`\n]+`")
_MARKDOWN_HAZARDS = {
    "an HTML tag": re.compile(r"<(?!br>|/?sub>)[a-zA-Z/!?]"),  # ours: <br> for a line break, <sub> for the footer
    "a www autolink": re.compile(r"(?i)\bwww\."),
    "a GH- reference": re.compile(r"(?i)\bgh-\d"),
    "a URL autolink": re.compile(r"(?i)\b[a-z][a-z0-9+.-]*:(?:\\)?//"),
    "a mention": re.compile(r"(?<![\w`])@\w"),
    "an issue reference": re.compile(r"(?<![\w&`])#\d"),
    "an escape sequence or its residue": re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]|\\[[0-9;]*[0-9][A-Za-z]|\\]8;;"),
}


def markdown_hazards(rendered: str) -> list[str]:
    """What in `rendered` Markdown would link, ping, render as HTML or show terminal residue on GitHub
    (nothing in a code span links or renders; a control character shows even there)."""
    rendered = _CODE_SPAN.sub(lambda m: "".join(_CONTROLS.findall(m.group())), rendered)
    return [f"{what}: {m.group()!r}" for what, pattern in _MARKDOWN_HAZARDS.items() for m in pattern.finditer(rendered)]
