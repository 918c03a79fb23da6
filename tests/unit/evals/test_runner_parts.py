"""The runner's pure parts: job order, request bodies, results kept in case order, judge verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rollout.evals.graders import Expectation, GraderError
from rollout.evals.judge import judge_messages, parse_verdict
from rollout.evals.runner import Collector, Graded, Reply, jobs, request_body
from rollout.evals.suite import Case, Message, Suite
from rollout.evals.summary import summarize, summary_line
from rollout.evals.target import Target, base_url


def case(id: str, repeats: int = 1, tags: tuple[str, ...] = ()) -> Case:
    return Case(
        id=id,
        messages=(Message(role="system", content="s"), Message(role="user", content=f"q-{id}")),
        expect=(Expectation(kind="contains", value="x"),),
        repeats=repeats,
        max_tokens=9,
        tags=tags,
    )


def test_jobs_cover_first_repeats_first() -> None:
    assert list(jobs([case("a", 2), case("b", 1), case("c", 3)])) == [(0, 0), (1, 0), (2, 0), (0, 1), (2, 1), (2, 2)]


def test_request_body_streams_with_usage() -> None:
    body = json.loads(request_body(case("a"), "smol"))
    assert body["model"] == "smol"
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"][-1] == {"role": "user", "content": "q-a"}
    assert body["max_tokens"] == 9


def reply(text: str, ms: float) -> Reply:
    return Reply(text=text, latency_ms=ms, ttft_ms=ms / 2, output_tokens=3)


def collector() -> Collector:
    suite = Suite(name="s", path=Path("s"), cases=(case("a", 2, ("benign",)), case("b", 2)))
    return Collector(suite, Target(label="green", url="http://x", model="m", revision="r1"))


def test_results_keep_case_and_repeat_order_whatever_the_finish_order() -> None:
    c = collector()
    c.record(1, 1, Graded(reply=reply("late", 20), score=0.0))
    c.record(0, 1, "HTTP 500 (gave up after 5 attempts)")
    c.record(1, 0, Graded(reply=reply("early", 10), score=1.0))
    c.record(0, 0, Graded(reply=reply("x", 5), score=1.0))
    results = c.results()
    a, b = results.cases
    assert [a.id, b.id] == ["a", "b"]
    assert b.scores == (1.0, 0.0) and b.latency_ms == (10.0, 20.0) and b.outputs == ("early", "late")
    assert a.scores == (1.0,) and a.errors == ("repeat 2: HTTP 500 (gave up after 5 attempts)",)
    assert a.tags == ("benign",) and a.prompt == "q-a"
    assert (results.target, results.model, results.revision, results.interrupted) == ("green", "m", "r1", False)
    summary = summarize(results)
    assert (summary.cases, summary.scored, summary.errors) == (2, 3, 1)
    assert summary.mean == pytest.approx(2 / 3)
    assert "mean score 0.667, 1 errors" in summary_line(results, summary)


def test_interrupted_results_hold_only_started_cases() -> None:
    c = collector()
    c.record(1, 0, Graded(reply=reply("x", 1), score=1.0))
    results = c.results(interrupted=True)
    assert [r.id for r in results.cases] == ["b"]
    assert results.interrupted


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("http://h:1", "http://h:1"),
        ("http://h:1/", "http://h:1"),
        ("http://h:1/v1", "http://h:1"),
        ("http://h:1/v1/chat/completions", "http://h:1"),
        ("https://h/api", "https://h/api"),
    ],
)
def test_base_url(url: str, base: str) -> None:
    assert base_url(url) == base


@pytest.mark.parametrize(
    ("reply_text", "threshold", "score"),
    [
        ("Good answer.\nSCORE: 8", None, 0.8),
        ("score=10", None, 1.0),
        ("SCORE: 3\nwait, SCORE: 6", None, 0.6),
        ("SCORE: 14", None, 1.0),
        ("SCORE: 7", 0.7, 1.0),
        ("SCORE: 6", 0.7, 0.0),
    ],
)
def test_judge_verdicts(reply_text: str, threshold: float | None, score: float) -> None:
    assert parse_verdict(reply_text, threshold) == pytest.approx(score)


def test_judge_without_a_score_is_a_grader_error() -> None:
    with pytest.raises(GraderError, match="no 'SCORE: N'"):
        parse_verdict("I think it is fine.")


def test_judge_sees_rubric_question_and_answer() -> None:
    text = judge_messages("mentions Paris", "Capital of France?", "Paris.")[1]["content"]
    assert "mentions Paris" in text and "Capital of France?" in text and "Paris." in text
