"""The Markdown a reviewer reads (PR body, step summary): the verdict first, a table per gate, then the
cases that went from pass to fail. Pure: a Verdict in, text out.

Everything that came from a results file or a model is untrusted and goes through `inline`, which keeps it
from injecting HTML, breaking a table, opening or closing code, linking images, or pinging people and issues.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from rollout.evals.reuse import provenance_note
from rollout.gates.verdict import GateOutcome, GateResult, RunInfo, Verdict, server_skew
from rollout.gates.wording import level

ICONS: Mapping[GateOutcome, str] = {"pass": "✅", "fail": "❌", "inconclusive": "⏸️"}
SHOWN_REGRESSIONS = 10
PROMPT_CHARS = 160
ANSWER_CHARS = 240
IDS_SHOWN = 10

# Terminal escape sequences as a whole (strings such as OSC 8 hyperlinks, CSI colours and cursor moves, the
# short ones), so that none leaves its parameters behind as visible residue like `[31m`.
_ESCAPES = re.compile(
    "(?:\x1b[]P^_X]|[\x90\x98\x9d-\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\\\|\x9c)?"
    "|(?:\x1b\\[|\x9b)[0-?]*[ -/]*[@-~]?"
    "|\x1b[ -/]*[0-~]?"
)
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "`": "&#96;"}
_BACKSLASHED = set("\\*_[]!|~{}:")
# GitHub links @name and #123 in the rendered text, after entities are decoded; a zero-width space breaks the link.
_UNLINKED = {"@": "@\u200b", "#": "#\u200b"}
# ... and GH-123, www.host and scheme://host: the same space goes where each autolink needs a literal.
_AUTOLINKED = re.compile(r"(?i)\b(?:www(?=\.)|gh(?=-\d))|:(?=//)")

_CODE_SAFE = re.compile("[^`|\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2028-\u2029\u2060-\u2069\ufeff]{1,200}")

_COMMIT = re.compile(r"[0-9a-f]{13,64}")


def inline(text: str, limit: int | None = None) -> str:
    """Untrusted text as one line of inline Markdown, safe in a paragraph or a table cell."""
    text = _ESCAPES.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _INVISIBLE.sub("", text).strip()
    if limit is not None:
        text = truncate(text, limit)
    text = _AUTOLINKED.sub(lambda match: match.group() + "\u200b", text)
    out = []
    for char in text:
        if char == "\n":
            out.append("<br>")
        elif char in _ENTITIES:
            out.append(_ENTITIES[char])
        elif char in _BACKSLASHED:
            out.append("\\" + char)
        else:
            out.append(_UNLINKED.get(char, char))
    return "".join(out)


def code(text: str) -> str:
    """Untrusted text as an inline code span (nothing in one links, pings or renders), when it can be one:
    a code span cannot escape a backtick, and a pipe ends a table cell even inside one. Else `inline`."""
    return f"`{text}`" if _CODE_SAFE.fullmatch(text) else inline(text)


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary when one is near, marked with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit * 3 // 4:
        cut = cut[:space]
    return cut.rstrip() + "…"


def short_revision(revision: str) -> str:
    """A commit hash shortened as git shortens it; any other revision (a tag, a version) in full."""
    return revision[:12] if _COMMIT.fullmatch(revision) else revision


def render_report(verdict: Verdict) -> str:
    counts = {o: sum(g.outcome == o for g in verdict.gates) for o in ICONS}
    tally = ", ".join(f"{n} {o}" for o, n in counts.items() if n)
    lines = [
        f"{ICONS[verdict.outcome]} **Gate verdict: {verdict.outcome.upper()}** for green {_run(verdict.candidate)} "
        f"against blue {_run(verdict.baseline)} ({len(verdict.gates)} gates: {tally or 'none'})",
        "",
    ]
    skew = server_skew(verdict)
    if skew is not None:
        lines += [f"> [!WARNING]\n> {inline(skew)}", ""]
    lines += provenance_lines(verdict)
    for gate in verdict.gates:
        lines += _gate_section(gate)
    if any(_regressions(g) for g in verdict.gates):
        lines += _regression_section(verdict.gates)
    return "\n".join(lines).rstrip("\n") + "\n"


def provenance_lines(verdict: Verdict) -> list[str]:
    """Per suite and color, results this round did not ask for afresh: reused, or accumulated over rounds."""
    notes = [(p, provenance_note(reused_from=p.reused_from, rounds=p.rounds)) for p in verdict.provenance]
    listed = [f"- {inline(p.suite)} on {inline(p.color)}: {inline(note)}" for p, note in notes if note]
    if not listed:
        return []
    return ["Evidence from earlier rounds:", "", *listed, ""]


def _run(info: RunInfo) -> str:
    revision = f" @ {inline(short_revision(info.revision))}" if info.revision else ""
    release = f" (server {inline(info.server_version)})" if info.server_version else ""
    return f"**{inline(info.model)}**{revision}{release}"


def _gate_section(gate: GateResult) -> list[str]:
    lines = [f"### {ICONS[gate.outcome]} {inline(gate.gate)}: {gate.outcome}", "", inline(gate.reason), ""]
    figures = []
    if gate.estimate is not None:
        figures.append(f"estimate {_number(gate.estimate)}")
    if gate.interval is not None:
        figures.append(
            f"{_look(gate.details.get('look'))}interval {_number(gate.interval[0])} to {_number(gate.interval[1])}"
        )
    if gate.threshold is not None:
        figures.append(f"threshold {_number(gate.threshold)}")
    measures = gate.details.get("measures")
    if isinstance(measures, Mapping) and measures:
        lines += ["| measure | blue | green |", "|---|---:|---:|"]
        for name, values in measures.items():
            values = values if isinstance(values, Mapping) else {}
            lines.append(f"| {inline(str(name))} | {_value(values.get('blue'))} | {_value(values.get('green'))} |")
        lines.append("")
    ratios = gate.details.get("ratios")
    if isinstance(ratios, Mapping) and ratios:
        lines += ["| green / blue | ratio | interval |", "|---|---:|---:|"]
        for name, ratio in ratios.items():
            interval = ratio.get("interval") if isinstance(ratio, Mapping) else None
            span = f"{_number(interval[0])} to {_number(interval[1])}" if interval else "–"
            lines.append(f"| {inline(str(name))} | {_value(ratio.get('estimate'))} | {span} |")
        lines.append("")
    if figures:
        lines += [" · ".join(figures), ""]
    excluded = _excluded(gate.details.get("excluded"))
    if excluded:
        lines += [excluded, ""]
    window = _window(gate.details)
    if window:
        lines += [window, ""]
    return lines


def _look(look: Any) -> str:
    """The level a gate read growing results at, from the second look on: "look 3: 99.2% "."""
    if not isinstance(look, Mapping):
        return ""
    index, confidence = look.get("index"), look.get("confidence")
    if not isinstance(index, int) or not isinstance(confidence, float) or not 0 < confidence < 1:
        return ""
    return f"{level(confidence, index)} "


def _window(details: Mapping[str, Any]) -> str:
    """A live gate's window and where each measure came from, as one line."""
    window, measured = details.get("window"), details.get("measured_by")
    if not isinstance(window, Mapping) or not isinstance(measured, Mapping):
        return ""
    by_source: dict[str, list[str]] = {}
    for measure, source in measured.items():
        by_source.setdefault(str(source), []).append(str(measure))
    sources = "; ".join(f"{inline(s)} ({', '.join(inline(m) for m in ms)})" for s, ms in by_source.items())
    notes = [
        f"{inline(str(r.get('source', '')))}: {inline(str(r.get('unavailable') or r.get('note')), 200)}"
        for r in details.get("sources", [])
        if isinstance(r, Mapping) and (r.get("unavailable") or r.get("note"))
    ]
    seconds = window.get("seconds")
    span = f"{_number(seconds / 3600)} h" if isinstance(seconds, (int, float)) else "?"
    line = (
        f"Window: {inline(str(window.get('start', '')))} to {inline(str(window.get('end', '')))} ({span}); "
        f"measured by {sources or 'no source'}."
    )
    return line + (" " + "; ".join(notes) + "." if notes else "")


def _excluded(excluded: Any) -> str:
    if not isinstance(excluded, Mapping):
        return ""
    parts = []
    for kind, listed in excluded.items():
        if isinstance(listed, Mapping) and listed.get("count"):
            ids = [inline(str(i), 60) for i in listed.get("ids", [])[:IDS_SHOWN]]
            more = ", …" if listed["count"] > len(ids) else ""
            parts.append(f"{listed['count']} {kind.replace('_', ' ')} ({', '.join(ids)}{more})")
    return "Not compared, and not counted as passes: " + "; ".join(parts) + "." if parts else ""


def _regressions(gate: GateResult) -> list[Mapping[str, Any]]:
    found = gate.details.get("regressions")
    cases = found.get("cases") if isinstance(found, Mapping) else None
    return [c for c in cases if isinstance(c, Mapping)] if isinstance(cases, list) else []


def _regression_section(gates: Sequence[GateResult]) -> list[str]:
    lines = [
        "### Cases that went from pass to fail",
        "",
        "| gate | case | prompt | blue answered | green answered |",
        "|---|---|---|---|---|",
    ]
    notes = []
    for gate in gates:
        cases = _regressions(gate)
        for case in cases[:SHOWN_REGRESSIONS]:
            lines.append(
                f"| {inline(gate.gate)} | {inline(str(case.get('id', '')), 80)} "
                f"| {inline(str(case.get('prompt', '')), PROMPT_CHARS)} "
                f"| {inline(str(case.get('blue', '')), ANSWER_CHARS)} "
                f"| {inline(str(case.get('green', '')), ANSWER_CHARS)} |"
            )
        total = gate.details["regressions"].get("count", len(cases)) if cases else 0
        if total > min(len(cases), SHOWN_REGRESSIONS):
            notes.append(f"{inline(gate.gate)}: {total - min(len(cases), SHOWN_REGRESSIONS)} more not shown")
    lines.append("")
    return lines + ([f"{'; '.join(notes)}.", ""] if notes else [])


def _value(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _number(value)
    return inline(str(value), 80)


def _number(value: float) -> str:
    if isinstance(value, int) or value == 0 or (abs(value) >= 1 and value == int(value)):
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"
