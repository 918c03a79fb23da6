"""A small suite against the real SmolLM2 server: real generations are streamed, timed, counted and graded."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from rollout.cli import cli
from rollout.evals.graders import combine, grade
from rollout.evals.results import load_results
from rollout.evals.suite import load_suite
from tests.support.model import RunningModel

pytestmark = pytest.mark.model

SUITE = """\
name: smoke
defaults: {system: "You are a concise assistant.", max_tokens: 12, temperature: 0}
cases:
  - id: capital
    prompt: What is the capital of France?
    expect: [{contains: Paris}, {length: {max: 2000}}]
  - id: count
    prompt: Count from 1 to 5.
    repeats: 2
    expect: [{regex: '1'}, {not_contains: zzzqqqxx}]
  - id: impossible
    prompt: Say hello.
    expect: [{equals: "this exact sentence will not be generated"}]
"""


@pytest.fixture
def suite_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "smoke"
    folder.mkdir()
    (folder / "cases.yaml").write_text(SUITE)
    return folder


# One request at a time: llama_cpp.server ends a running stream when the next request arrives
# (its interrupt_requests setting), which the harness rightly records as a mid-stream error.
def test_rollout_eval_grades_real_generations(suite_dir: Path, tmp_path: Path, smollm: RunningModel) -> None:
    out = tmp_path / "results.json"
    result = CliRunner().invoke(
        cli,
        [
            "eval",
            "--suite",
            str(suite_dir),
            "--target",
            smollm.url,
            "--out",
            str(out),
            "--concurrency",
            "1",
            "--timeout",
            "120",
        ],
        env={"CI": "true"},
    )
    assert result.exit_code == 0, result.output
    results = load_results(out)
    assert results.model == smollm.name
    assert results.server is not None and results.server.models == (smollm.name,)
    assert results.server.version is None  # llama-cpp-python's server has no /version
    suite = load_suite(suite_dir, env={})
    for case, got in zip(suite.cases, results.cases, strict=True):
        assert got.id == case.id and got.errors == ()
        assert len(got.scores) == case.repeats
        for output, score, latency, ttft, tokens in zip(
            got.outputs, got.scores, got.latency_ms, got.ttft_ms, got.output_tokens, strict=True
        ):
            assert output.strip()
            assert score == pytest.approx(combine([(grade(output, e), e.weight) for e in case.expect]), abs=1e-6)
            assert ttft is not None and 0 < ttft <= latency
            assert tokens is not None and 0 < tokens <= 12
    assert results.by_id()["impossible"].scores == (0.0,)
    assert results.by_id()["count"].scores[0] >= 0.5  # not_contains holds for any real answer


def test_pytest_plugin_writes_junit_and_results(suite_dir: Path, tmp_path: Path, smollm: RunningModel) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            str(suite_dir),
            "--rollout-target",
            smollm.url,
            "--rollout-results",
            "results.json",
            "--junitxml",
            "junit.xml",
            "--rollout-min-score",
            "0.5",
            "--rollout-concurrency",
            "1",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CI": "true"},
    )
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    results = load_results(tmp_path / "results.json")
    assert [c.id for c in results.cases] == ["capital", "count", "impossible"]
    cases = {c.get("name"): c for c in ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")}
    assert set(cases) == {"capital", "count", "impossible"}
    assert cases["impossible"].find("failure") is not None
    for case in results.cases:
        passed = cases[case.id].find("failure") is None
        assert passed == (case.mean is not None and case.mean >= 0.5 and not case.errors)
        assert all(t is not None and t > 0 for t in case.ttft_ms)
