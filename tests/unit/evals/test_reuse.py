"""Reuse or run: the decision over recorded results, the union of a sampled suite's repeats, and the suite digest."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from rollout.evals.results import CaseResult, EvalResults, ReusedFrom, load_results, results_to_json
from rollout.evals.reuse import PlannedRun, accumulate, decide_reuse, provenance_note, reused
from rollout.evals.suite import Suite, load_suite, suite_digest

CASES = ("a", "b")


def recorded(**changes: object) -> EvalResults:
    results = EvalResults(
        suite="quality",
        target="green",
        model="chat-v2",
        revision="abc123",
        serving_digest="s1",
        suite_digest="d1",
        run_id="run-1",
        started_at="2026-12-01T10:00:00Z",
        finished_at="2026-12-01T10:03:00Z",
        cases=tuple(
            CaseResult(id=i, scores=(1.0,), latency_ms=(10.0,), ttft_ms=(2.0,), output_tokens=(3,), outputs=("x",))
            for i in CASES
        ),
    )
    return replace(results, **changes)  # type: ignore[arg-type]


def planned(**changes: object) -> PlannedRun:
    run = PlannedRun(
        suite="quality",
        target="green",
        model="chat-v2",
        revision="abc123",
        serving_digest="s1",
        suite_digest="d1",
        case_ids=CASES,
        sampled=False,
        max_rounds=8,
    )
    return replace(run, **changes)  # type: ignore[arg-type]


def test_a_deterministic_suite_with_the_same_provenance_is_reused() -> None:
    choice = decide_reuse(recorded(), planned())
    assert choice.action == "reuse" and choice.recorded == recorded()
    assert "run-1" in choice.reason


def test_a_sampled_suite_with_the_same_provenance_accumulates() -> None:
    choice = decide_reuse(recorded(rounds=2), planned(sampled=True))
    assert choice.action == "accumulate" and "2 recorded rounds" in choice.reason


def test_a_sampled_suite_accumulates_up_to_its_cap_and_is_then_reused_as_it_is() -> None:
    below = decide_reuse(recorded(rounds=3), planned(sampled=True, max_rounds=4))
    assert below.action == "accumulate", "at the cap's last round this round's repeats make the fourth"
    at = decide_reuse(recorded(rounds=4), planned(sampled=True, max_rounds=4))
    assert at.action == "reuse" and at.recorded == recorded(rounds=4)
    assert at.reason == "run run-1 holds 4 rounds, the most this suite takes"
    lowered = decide_reuse(recorded(rounds=6), planned(sampled=True, max_rounds=4))
    assert lowered.action == "reuse", "a cap lowered below what is recorded reuses too"
    again = reused(recorded(rounds=4))
    assert provenance_note(reused_from=again.reused_from, rounds=again.rounds) == (
        "4 rounds accumulated, the most this suite takes; reused from run run-1 at 2026-12-01T10:03:00Z"
    )
    assert decide_reuse(recorded(rounds=1), planned(sampled=True, max_rounds=1)).action == "reuse"


@pytest.mark.parametrize(
    ("what", "planned_changes"),
    [
        ("model", {"model": "chat-v3"}),
        ("revision", {"revision": "def456"}),
        ("serving arguments", {"serving_digest": "s2"}),
        ("suite digest", {"suite_digest": "d2"}),
        ("target", {"target": "blue"}),
    ],
)
def test_any_change_of_provenance_runs_afresh(what: str, planned_changes: dict[str, object]) -> None:
    for sampled in (False, True):
        choice = decide_reuse(recorded(), planned(sampled=sampled, **planned_changes))
        assert (choice.action, choice.recorded) == ("run", None)
        assert f"the {what} changed since run run-1" == choice.reason


@pytest.mark.parametrize(
    ("recorded_changes", "planned_changes", "reason"),
    [
        ({"interrupted": True}, {}, "was interrupted"),
        ({}, {"case_ids": ("a", "b", "c")}, "holds other cases"),
        ({}, {"case_ids": ("a",)}, "holds other cases"),
        ({"revision": None}, {"revision": None}, "no revision"),
        ({"serving_digest": None}, {"serving_digest": None}, "no revision and serving arguments"),
    ],
)
def test_incomplete_or_unbound_results_run_afresh(
    recorded_changes: dict[str, object], planned_changes: dict[str, object], reason: str
) -> None:
    for sampled in (False, True):
        choice = decide_reuse(recorded(**recorded_changes), planned(sampled=sampled, **planned_changes))
        assert choice.action == "run" and reason in choice.reason


def test_request_errors_run_a_deterministic_suite_afresh_and_stay_in_a_sampled_ones() -> None:
    failed = (CaseResult(id="a", scores=(1.0,)), CaseResult(id="b", errors=("repeat 1: HTTP 500",)))
    again = decide_reuse(recorded(cases=failed), planned(sampled=False))
    assert (again.action, again.reason) == ("run", "run run-1 had request errors")
    kept = decide_reuse(recorded(cases=failed), planned(sampled=True))
    assert kept.action == "accumulate" and kept.recorded == recorded(cases=failed)


def test_nothing_recorded_runs() -> None:
    assert decide_reuse(None, planned()).action == "run"


def test_reused_results_are_the_recorded_ones_marked_with_their_run() -> None:
    again = reused(recorded())
    assert replace(again, reused_from=None) == recorded()
    assert again.reused_from == ReusedFrom(run_id="run-1", at="2026-12-01T10:03:00Z")
    assert reused(again) == again, "reused twice still names the run that asked"
    assert provenance_note(reused_from=again.reused_from, rounds=again.rounds) == (
        "reused from run run-1 at 2026-12-01T10:03:00Z (same revision, serving args and suite)"
    )


def test_accumulating_concatenates_each_case_s_repeats_and_counts_the_rounds(tmp_path: Path) -> None:
    old = recorded(rounds=2)
    fresh = replace(
        recorded(run_id="run-3", started_at="2026-12-01T12:00:00Z", finished_at="2026-12-01T12:01:00Z"),
        cases=(
            CaseResult(id="b", scores=(0.0, 1.0), latency_ms=(5.0, 6.0), ttft_ms=(None, 1.0), output_tokens=(1, 2)),
            CaseResult(id="a", scores=(0.5,), latency_ms=(7.0,), ttft_ms=(1.5,), output_tokens=(4,), outputs=("y",)),
        ),
    )
    union = accumulate(old, fresh)
    assert (union.rounds, union.run_id, union.started_at, union.finished_at) == (
        3,
        "run-3",
        "2026-12-01T10:00:00Z",
        "2026-12-01T12:01:00Z",
    )
    cases = union.by_id()
    assert [c.id for c in union.cases] == ["b", "a"]
    assert cases["a"].scores == (1.0, 0.5) and cases["a"].outputs == ("x", "y")
    assert cases["a"].latency_ms == (10.0, 7.0) and cases["a"].output_tokens == (3, 4)
    assert cases["b"].scores == (1.0, 0.0, 1.0) and cases["b"].ttft_ms == (2.0, None, 1.0)
    assert cases["b"].outputs == (), "one run kept no answers: no list that would not line up with the scores"
    assert provenance_note(reused_from=None, rounds=union.rounds) == "3 rounds accumulated"
    path = tmp_path / "union.json"
    path.write_text(results_to_json(union))
    assert load_results(path) == union, "the union is valid results, and round-trips"


SUITE = """\
name: quality
defaults: {max_tokens: 16, temperature: 0}
cases:
  - {id: capital, prompt: What is the capital of France?, expect: [{contains: Paris}]}
  - {id: judge, prompt: Say hi., expect: [{llm_judge: friendly, url: "http://judge:1"}]}
"""


def suite_of(tmp_path: Path, text: str) -> Suite:
    folder = tmp_path / f"suite-{abs(hash(text))}"
    folder.mkdir()
    (folder / "cases.yaml").write_text(text)
    return load_suite(folder, env={"ROLLOUT_JUDGE_MODEL": "judge-1"})


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("capital of France", "capital of Spain"),
        ("contains: Paris", "contains: paris"),
        ("temperature: 0", "temperature: 0.7"),
        ("max_tokens: 16", "max_tokens: 17"),
        ("friendly", "polite"),
        ("id: capital", "id: capital2"),
        ("http://judge:1", "http://judge:2"),
    ],
)
def test_the_suite_digest_changes_with_what_decides_an_answer_or_its_score(tmp_path: Path, old: str, new: str) -> None:
    env = {"ROLLOUT_JUDGE_MODEL": "judge-1"}
    before = suite_digest(suite_of(tmp_path, SUITE), env=env)
    assert suite_digest(suite_of(tmp_path, SUITE.replace(old, new)), env=env) != before


def test_the_suite_digest_ignores_the_repeat_count_but_not_the_judge_model(tmp_path: Path) -> None:
    suite = suite_of(tmp_path, SUITE)
    env = {"ROLLOUT_JUDGE_MODEL": "judge-1"}
    assert suite_digest(suite.with_repeats(5), env=env) == suite_digest(suite, env=env)
    assert suite_digest(suite, env={"ROLLOUT_JUDGE_MODEL": "judge-2"}) != suite_digest(suite, env=env)
    reordered = replace(suite, cases=tuple(reversed(suite.cases)))
    assert suite_digest(reordered, env=env) == suite_digest(suite, env=env)
    subset = replace(suite, cases=suite.cases[:1])
    assert suite_digest(subset, env=env) != suite_digest(suite, env=env), "the cases selected are the suite run"


def test_the_suite_digest_follows_a_python_grader_s_source(tmp_path: Path) -> None:
    folder = tmp_path / "graded"
    folder.mkdir()
    grader = folder / "reuse_digest_grader.py"
    grader.write_text("def score(output, options):\n    return True\n")
    (folder / "cases.yaml").write_text(
        "name: graded\ncases:\n  - {id: x, prompt: hi, expect: [{python: 'reuse_digest_grader:score'}]}\n"
    )
    suite = load_suite(folder, env={})
    before = suite_digest(suite, env={})
    grader.write_text("def score(output, options):\n    return False\n")
    assert suite_digest(suite, env={}) != before
