"""`rollout eval` and `rollout validate` end to end against a stub server on loopback."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from rollout.cli import cli
from rollout.evals.results import load_results
from tests.support.net import wait_until
from tests.support.openai_stub import Stub, openai_stub

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "rollout" / "templates" / "init"


@pytest.fixture
def stub() -> Iterator[Stub]:
    with openai_stub() as server:
        yield server


def suite(tmp_path: Path, prompts: list[str]) -> Path:
    folder = tmp_path / "suite"
    folder.mkdir()
    cases = "".join(
        f"  - id: c{i}\n    prompt: '{p}'\n    expect: [{{contains: Paris}}]\n" for i, p in enumerate(prompts)
    )
    (folder / "cases.yaml").write_text("name: mini\ncases:\n" + cases)
    return folder


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env={"CI": "true", **(env or {})}, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_url_target_asks_the_server_for_its_model(tmp_path: Path, stub: Stub) -> None:
    out = tmp_path / "out" / "results.json"
    code, stdout, _ = invoke(
        "eval",
        "--suite",
        str(suite(tmp_path, ["ok:1", "ok:2"])),
        "--target",
        stub.url + "/v1",
        "--out",
        str(out),
        "--repeats",
        "2",
    )
    assert code == 0
    results = load_results(out)
    assert (results.suite, results.model, results.target) == ("mini", "stub-model", stub.url + "/v1")
    assert [c.scores for c in results.cases] == [(1.0, 1.0), (1.0, 1.0)]
    assert "2 cases, 4 scored, mean score 1.000, 0 errors" in stdout
    assert [p.name for p in out.parent.iterdir()] == ["results.json"]


def test_json_summary_and_actions_outputs(tmp_path: Path, stub: Stub) -> None:
    outputs = tmp_path / "github_output"
    code, stdout, _ = invoke(
        "eval",
        "--suite",
        str(suite(tmp_path, ["ok:1", "bad:1"])),
        "--target",
        stub.url,
        "--model",
        "m",
        "--json",
        env={"GITHUB_OUTPUT": str(outputs)},
    )
    assert code == 0
    summary = json.loads(stdout)
    assert (summary["cases"], summary["scored"], summary["errors"], summary["mean"]) == (2, 1, 1, 1.0)
    assert outputs.read_text().splitlines() == ["results=", "mean=1.0", "errors=1"]


def test_color_target_reads_the_plan(tmp_path: Path, stub: Stub) -> None:
    shutil.copytree(TEMPLATE / "eval_suites", tmp_path / "eval_suites")
    port = stub.url.rsplit(":", 1)[1]
    plan = (TEMPLATE / "rollout-plan.yaml").read_text().replace("port: 8002", f"port: {port}")
    (tmp_path / "rollout-plan.yaml").write_text(plan)
    out = tmp_path / "green.json"
    code, _, stderr = invoke(
        "eval",
        "--plan",
        str(tmp_path / "rollout-plan.yaml"),
        "--suite",
        str(suite(tmp_path, ["ok:plan"])),
        "--target",
        "green",
        "--out",
        str(out),
    )
    assert code == 0, stderr
    results = load_results(out)
    assert (results.target, results.model, results.revision) == (
        "green",
        "llama-3.3-8b-ft2",
        "4f1d3c2b9a8e7d6c5b4a39281706f5e4d3c2b1a0",
    )
    # what the server said it serves, beside what the plan asked for; this server offers no /version
    assert results.server is not None
    assert (results.server.models, results.server.version) == ((stub.state.model_id,), None)
    assert stub.state.attempts["ok:plan"] == 1


def test_bad_suite_fails_before_any_request(tmp_path: Path, stub: Stub) -> None:
    folder = suite(tmp_path, ["ok:never"])
    (folder / "more.yaml").write_text("cases:\n  - id: x\n    prompt: y\n    expect:\n      - regex: '(('\n")
    code, _, stderr = invoke(
        "eval", "--suite", str(folder), "--target", stub.url, "--model", "m", "--out", str(tmp_path / "r.json")
    )
    assert code == 2
    assert f"{folder / 'more.yaml'}:5: cases[0].expect[0].regex: bad regular expression" in stderr
    assert "Traceback" not in stderr
    assert stub.state.seen == []
    assert not (tmp_path / "r.json").exists()


def test_unwritable_out_fails_before_the_run(tmp_path: Path, stub: Stub) -> None:
    (tmp_path / "taken").write_text("a file, not a folder")
    code, _, stderr = invoke(
        "eval",
        "--suite",
        str(suite(tmp_path, ["ok:never"])),
        "--target",
        stub.url,
        "--model",
        "m",
        "--out",
        str(tmp_path / "taken" / "r.json"),
    )
    assert code == 2
    assert "--out: cannot create its folder" in stderr
    assert stub.state.seen == []


def test_bad_target_is_a_usage_error(tmp_path: Path) -> None:
    code, _, stderr = invoke("eval", "--suite", str(suite(tmp_path, ["ok:1"])), "--target", "purple")
    assert code == 2
    assert "'purple' is not blue, green or an http(s):// URL" in stderr


def test_every_request_failing_is_an_external_error(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    code, _, stderr = invoke(
        "eval",
        "--suite",
        str(suite(tmp_path, ["ok:1"])),
        "--target",
        "http://127.0.0.1:9",
        "--model",
        "m",
        "--retries",
        "0",
        "--out",
        str(out),
    )
    assert code == 4
    assert "every request to http://127.0.0.1:9 failed" in stderr
    assert load_results(out).cases[0].errors


def test_validate_loads_the_gate_suites(tmp_path: Path) -> None:
    shutil.copytree(TEMPLATE, tmp_path / "repo")
    facts = tmp_path / "repo" / "eval_suites" / "quality" / "facts.yaml"
    facts.write_text(facts.read_text().replace("contains: Tokyo", "contians: Tokyo"))
    code, _, stderr = invoke("validate", "--plan", str(tmp_path / "repo" / "rollout-plan.yaml"))
    assert code == 2
    assert "facts.yaml:12: cases[1].expect[0].contians: unknown grader 'contians' (did you mean 'contains'?)" in stderr


def test_ctrl_c_writes_partial_results(tmp_path: Path, stub: Stub) -> None:
    out = tmp_path / "partial.json"
    folder = suite(tmp_path, ["ok:a", "ok:b", "hang:c", "ok:d"])
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rollout",
            "eval",
            "--suite",
            str(folder),
            "--target",
            stub.url,
            "--model",
            "m",
            "--concurrency",
            "1",
            "--timeout",
            "60",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "CI": "true"},
        cwd=tmp_path,
    )
    try:
        wait_until(stub.state.hanging.is_set, timeout=60, what="the hanging request")
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    results = load_results(out)
    assert results.interrupted
    assert [c.id for c in results.cases] == ["c0", "c1"]
    assert b"interrupted" in stdout
