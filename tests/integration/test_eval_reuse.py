"""Reuse or run, in real runs: the pytest plugin takes over recorded results without sending a request (its
target is down), runs again when the suite or the revision changed, and a sampled suite against the real
SmolLM2 server accumulates its repeats round after round through `rollout eval --reuse`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from rollout.cli import cli
from rollout.evals.results import CaseResult, EvalResults, load_results, results_to_json
from rollout.evals.reuse import evidence_path
from rollout.evals.suite import load_suite, suite_digest
from rollout.plan import load_plan, serving_args_digest
from tests.support.model import RunningModel
from tests.support.net import free_port
from tests.support.openai_stub import openai_stub

SUITE = """\
name: quality
defaults: {max_tokens: 16, temperature: 0}
cases:
  - {id: capital, prompt: "ok:capital", expect: [{contains: Paris}]}
  - {id: wrong, prompt: "ok:wrong", expect: [{contains: Lyon}]}
"""


def plan_text(green_port: int, *, revision: str = "r1", suite: str = "eval_suites/quality") -> str:
    return f"""\
version: 1
service: chat
models:
  blue: {{name: chat-v1, model: org/chat-v1, revision: r0, port: {free_port()}}}
  green: {{name: chat-v2, model: org/chat-v2, revision: {revision}, port: {green_port}}}
router: {{kind: file, config: router.json}}
stages:
  - {{name: full, weight: 100, soak: 1h}}
gates:
  quality: {{suite: {suite}, margin: 0.02}}
"""


def repository(root: Path, suite: str, green_port: int) -> Path:
    (root / "eval_suites" / "quality").mkdir(parents=True, exist_ok=True)
    (root / "eval_suites" / "quality" / "cases.yaml").write_text(suite)
    (root / "rollout-plan.yaml").write_text(plan_text(green_port))
    return root


def plugin(cwd: Path, results: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "eval_suites/quality",
            "--rollout-target",
            "green",
            "--rollout-results",
            str(results),
            "--junitxml",
            str(results.with_suffix(".xml")),
            "-p",
            "no:cacheprovider",
            "--rootdir",
            ".",
            "-c",
            "/dev/null",
            *extra,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CI": "true"},
    )


def outcomes(junit: Path) -> dict[str, str]:
    cases = ET.parse(junit).getroot().iter("testcase")
    return {case.get("name", ""): "failed" if case.find("failure") is not None else "passed" for case in cases}


def test_the_plugin_reuses_recorded_results_without_asking_a_target_that_is_down(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    evidence = tmp_path / "evidence"
    with openai_stub() as stub:
        repository(repo, SUITE, int(stub.url.rsplit(":", 1)[1]))
        first = plugin(repo, tmp_path / "round1.json", "--rollout-reuse", str(evidence))
        asked = sum(stub.state.attempts.values())
    assert first.returncode == 1, first.stdout + first.stderr
    assert "rollout: quality on green: ran (no recorded results)" in first.stdout
    assert asked == 2
    recorded = load_results(tmp_path / "round1.json")
    assert recorded.suite_digest and recorded.serving_digest and recorded.reused_from is None
    (evidence / "green").mkdir(parents=True)
    shutil.copy(tmp_path / "round1.json", evidence / evidence_path("green", "quality"))

    # The next round: green's server is gone (nothing listens on its port, which no digest covers).
    (repo / "rollout-plan.yaml").write_text(plan_text(free_port()))
    second = plugin(repo, tmp_path / "round2.json", "--rollout-reuse", str(evidence))
    assert second.returncode == 1, second.stdout + second.stderr
    assert "rollout: quality on green: reused, nothing sent" in second.stdout
    again = load_results(tmp_path / "round2.json")
    assert again.reused_from is not None and again.reused_from.run_id == recorded.run_id
    assert again.cases == recorded.cases and again.run_id == recorded.run_id
    assert (
        outcomes(tmp_path / "round2.xml")
        == outcomes(tmp_path / "round1.xml")
        == {
            "capital": "passed",
            "wrong": "failed",
        }
    ), "the items still pass and fail, on the recorded results"

    # A changed suite, or a new revision, is asked again: and the closed port says so.
    (repo / "eval_suites" / "quality" / "cases.yaml").write_text(SUITE.replace("Lyon", "Paris"))
    changed = plugin(repo, tmp_path / "round3.json", "--rollout-reuse", str(evidence))
    assert "ran (the suite digest changed since run" in changed.stdout, changed.stdout
    assert all(
        case.errors and "cannot connect" in case.errors[0] for case in load_results(tmp_path / "round3.json").cases
    )
    (repo / "eval_suites" / "quality" / "cases.yaml").write_text(SUITE)
    (repo / "rollout-plan.yaml").write_text(plan_text(free_port(), revision="r2"))
    moved = plugin(repo, tmp_path / "round4.json", "--rollout-reuse", str(evidence))
    assert "ran (the revision changed since run" in moved.stdout, moved.stdout
    assert all(case.errors for case in load_results(tmp_path / "round4.json").cases)


def test_a_missing_evidence_folder_runs_as_without_reuse(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo", SUITE, free_port())
    done = plugin(repo, tmp_path / "r.json", "--rollout-reuse", str(tmp_path / "no-such-checkout"))
    assert "ran (no recorded results)" in done.stdout, done.stdout
    assert all(case.errors for case in load_results(tmp_path / "r.json").cases)


SAMPLED = """\
name: quality
max_rounds: 3
defaults: {system: "You are a concise assistant.", max_tokens: 6, temperature: 0.8, repeats: 2}
cases:
  - {id: capital, prompt: What is the capital of France?, expect: [{contains: Paris}]}
  - {id: color, prompt: Name a color., expect: [{length: {max: 200}}]}
"""


@pytest.mark.model
def test_a_sampled_suite_accumulates_its_repeats_across_rounds(tmp_path: Path, smollm: RunningModel) -> None:
    repo = repository(tmp_path / "repo", SAMPLED, int(smollm.url.rsplit(":", 1)[1]))
    (repo / "rollout-plan.yaml").write_text(plan_text(int(smollm.url.rsplit(":", 1)[1])).replace("chat-v2", "smol"))
    evidence = tmp_path / "evidence"
    kept = evidence / evidence_path("green", "quality")
    counts = []
    for round_number in (1, 2, 3, 4):
        out = tmp_path / f"round{round_number}.json"
        # llama_cpp.server answers one request at a time
        args = ["eval", "--suite", str(repo / "eval_suites" / "quality"), "--target", "green", "--out", str(out)]
        args += ["--plan", str(repo / "rollout-plan.yaml"), "--concurrency", "1", "--reuse", str(evidence)]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        results = load_results(out)
        assert (results.reused_from is None) == (round_number <= 3), "asked again every round up to its cap"
        counts.append((results.rounds, [len(case.scores) + len(case.errors) for case in results.cases]))
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(out, kept)
    assert counts == [(1, [2, 2]), (2, [4, 4]), (3, [6, 6]), (3, [6, 6])]
    assert "3 rounds accumulated, the most this suite takes; reused from run" in result.output
    assert load_results(tmp_path / "round4.json").cases == load_results(tmp_path / "round3.json").cases
    final = load_results(tmp_path / "round3.json")
    first = load_results(tmp_path / "round1.json")
    assert final.started_at == first.started_at and final.run_id != first.run_id
    assert all(len(case.outputs) == len(case.scores) for case in final.cases)


def test_rollout_eval_reuses_without_a_server_and_says_so(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo", SUITE, free_port())
    plan = load_plan(repo / "rollout-plan.yaml")
    suite = load_suite(repo / "eval_suites" / "quality", env={})
    recorded = EvalResults(
        suite="quality",
        target="green",
        model="chat-v2",
        revision="r1",
        serving_digest=serving_args_digest(plan.model("green")),
        suite_digest=suite_digest(suite, env={}),
        run_id="earlier-run",
        finished_at="2026-12-01T09:00:00Z",
        cases=(CaseResult(id="capital", scores=(1.0,)), CaseResult(id="wrong", scores=(0.0,))),
    )
    evidence = tmp_path / "evidence"
    (evidence / "green").mkdir(parents=True)
    (evidence / evidence_path("green", "quality")).write_text(results_to_json(recorded))
    out = tmp_path / "out.json"
    args = ["eval", "--suite", str(repo / "eval_suites" / "quality"), "--target", "green", "--out", str(out)]
    args += ["--plan", str(repo / "rollout-plan.yaml"), "--reuse", str(evidence), "--retries", "0"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "reused from run earlier-run at 2026-12-01T09:00:00Z" in result.output
    assert load_results(out).cases == recorded.cases
    # at another temperature it is another suite (the digest holds the sampling settings): run, nobody answers
    sampled = SUITE.replace("temperature: 0", "temperature: 0.5")
    (repo / "eval_suites" / "quality" / "cases.yaml").write_text(sampled)
    ran = CliRunner().invoke(cli, args)
    assert ran.exit_code == 4, ran.output
    assert "run: the suite digest changed since run earlier-run" in ran.output
    # a sampled suite at its cap is reused as it is: nothing sent, so nobody need answer
    (repo / "eval_suites" / "quality" / "cases.yaml").write_text(f"max_rounds: 2\n{sampled}")
    at_cap = replace(
        recorded, rounds=2, suite_digest=suite_digest(load_suite(repo / "eval_suites" / "quality", env={}), env={})
    )
    (evidence / evidence_path("green", "quality")).write_text(results_to_json(at_cap))
    capped = CliRunner().invoke(cli, args)
    assert capped.exit_code == 0, capped.output
    assert "2 rounds accumulated, the most this suite takes; reused from run earlier-run" in capped.output
    (evidence / evidence_path("green", "quality")).write_text(results_to_json(replace(at_cap, rounds=1)))
    below = CliRunner().invoke(cli, args)
    assert "accumulate: sampled suite" in below.output, "below its cap it asks (and nobody answers)"
    assert all(case.errors for case in load_results(out).cases)
