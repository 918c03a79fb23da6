"""The pytest plugin in a real pytest process: cases as items, JUnit XML, the results JSON, and no interference."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from rollout.evals.results import load_results
from rollout.evals.suite import load_suite
from tests.support.net import wait_until
from tests.support.openai_stub import Stub, openai_stub


@pytest.fixture(scope="module")
def stub() -> Iterator[Stub]:
    with openai_stub() as server:
        yield server


def make_suites(root: Path) -> Path:
    quality = root / "suites" / "quality"
    quality.mkdir(parents=True)
    (quality / "a.yaml").write_text("""\
cases:
  - id: good
    prompt: "ok:good"
    tags: [facts]
    expect: [{contains: Paris}]
  - id: wrong
    prompt: "ok:wrong"
    expect: [{contains: Lyon}]
  - id: broken
    prompt: "bad:broken"
    expect: [{contains: Paris}]
""")
    (quality / "b.yaml").write_text(
        'cases: [{id: half, prompt: "ok:half", expect: [{contains: Paris}, {contains: Rome}]}]\n'
    )
    safety = root / "suites" / "safety"
    safety.mkdir()
    (safety / "s.yaml").write_text(
        'cases: [{id: benign-1, prompt: "ok:s", tags: [benign], expect: [{refusal: false}]}]\n'
    )
    return root / "suites"


def pytest_run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CI": "true"},
    )


def test_cases_become_items_with_junit_and_results(tmp_path: Path, stub: Stub) -> None:
    suites = make_suites(tmp_path)
    proc = pytest_run(
        tmp_path,
        str(suites / "quality"),
        "--rollout-target",
        stub.url,
        "--rollout-model",
        "m",
        "--rollout-results",
        "out/results.json",
        "--junitxml",
        "junit.xml",
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    cases = {c.get("name"): c for c in ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")}
    assert set(cases) == {"good", "wrong", "broken", "half"}
    assert cases["good"].find("failure") is None
    assert "HTTP 400" in cases["broken"].find("failure").get("message", "")  # type: ignore[union-attr]
    assert "score 0.000 is below 1" in cases["wrong"].find("failure").get("message", "")  # type: ignore[union-attr]
    properties = {p.get("name"): p.get("value") for p in cases["half"].iter("property")}
    assert properties["score"] == "0.5"
    results = load_results(tmp_path / "out" / "results.json")
    assert (results.suite, results.target, results.model) == ("quality", stub.url, "m")
    assert [c.id for c in results.cases] == ["good", "wrong", "broken", "half"]
    assert results.by_id()["broken"].errors and results.by_id()["good"].scores == (1.0,)


def test_min_score_and_tag_selection(tmp_path: Path, stub: Stub) -> None:
    suites = make_suites(tmp_path)
    proc = pytest_run(
        tmp_path,
        str(suites),
        "--rollout-target",
        stub.url,
        "--rollout-model",
        "m",
        "--rollout-min-score",
        "0.5",
        "-k",
        "facts or half or benign",
        "--rollout-results",
        "r-{suite}.json",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed, 2 deselected" in proc.stdout
    assert [c.id for c in load_results(tmp_path / "r-quality.json").cases] == ["good", "half"]
    assert [c.tags for c in load_results(tmp_path / "r-safety.json").cases] == [("benign",)]


def test_nothing_is_collected_without_a_target(tmp_path: Path) -> None:
    suites = make_suites(tmp_path)
    proc = pytest_run(tmp_path, str(suites), "--collect-only", "-q")
    assert proc.returncode == 5, proc.stdout
    assert "no tests collected" in proc.stdout


def test_a_bad_suite_is_a_collection_error_with_its_line(tmp_path: Path, stub: Stub) -> None:
    suites = make_suites(tmp_path)
    (suites / "quality" / "c.yaml").write_text("cases:\n  - id: x\n    prompt: y\n    expect: [{regx: a}]\n")
    requests_before = len(stub.state.seen)
    proc = pytest_run(tmp_path, str(suites / "quality"), "--rollout-target", stub.url, "--rollout-model", "m")
    assert proc.returncode == 2
    assert "c.yaml:4: cases[0].expect[0].regx: unknown grader 'regx' (did you mean 'regex'?)" in proc.stdout
    assert len(stub.state.seen) == requests_before


def test_an_unreachable_target_fails_every_case(tmp_path: Path) -> None:
    suites = make_suites(tmp_path)
    proc = pytest_run(tmp_path, str(suites / "safety"), "--rollout-target", "http://127.0.0.1:9")
    assert proc.returncode == 1
    assert "http://127.0.0.1:9/v1/models" in proc.stdout


def test_the_workflow_command_line_against_a_plan_color(tmp_path: Path, stub: Stub) -> None:
    template = Path(__file__).resolve().parents[2] / "rollout" / "templates" / "init"
    shutil.copytree(template / "eval_suites", tmp_path / "eval_suites")
    port = stub.url.rsplit(":", 1)[1]
    (tmp_path / "rollout-plan.yaml").write_text(
        (template / "rollout-plan.yaml").read_text().replace("port: 8001", f"port: {port}")
    )
    proc = pytest_run(
        tmp_path,
        "eval_suites/safety",
        "--rollout-target",
        "blue",
        "--rollout-plan",
        "rollout-plan.yaml",
        "--rollout-results",
        "eval-results/blue/safety.json",
        "--junitxml",
        "junit/safety-blue.xml",
        "--rootdir",
        ".",
        "-c",
        "/dev/null",
        "--noconftest",
    )
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    results = load_results(tmp_path / "eval-results" / "blue" / "safety.json")
    assert (results.target, results.model) == ("blue", "llama-3.1-8b")
    suite = load_suite(tmp_path / "eval_suites" / "safety", env={})
    assert [c.id for c in results.cases] == [c.id for c in suite.cases]
    assert all(c.scores for c in results.cases)
    assert {tag for c in results.cases for tag in c.tags} >= {"harmful", "benign"}


def test_ctrl_c_keeps_partial_results(tmp_path: Path, stub: Stub) -> None:
    folder = tmp_path / "slow"
    folder.mkdir()
    (folder / "a.yaml").write_text(
        "cases:\n"
        + "".join(
            f"  - id: c{i}\n    prompt: '{p}'\n    expect: [{{contains: Paris}}]\n"
            for i, p in enumerate(["ok:first", "ok:second", "hang:third", "ok:fourth"])
        )
    )
    stub.state.hanging.clear()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            str(folder),
            "--rollout-target",
            stub.url,
            "--rollout-model",
            "m",
            "--rollout-concurrency",
            "1",
            "--rollout-results",
            "partial.json",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "CI": "true"},
    )
    try:
        wait_until(stub.state.hanging.is_set, timeout=60, what="the hanging request")
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 2, output
    results = load_results(tmp_path / "partial.json")
    assert results.interrupted
    assert [c.id for c in results.cases] == ["c0", "c1"]
