"""Bad input that used to end in a traceback or a silent success: each is a clean exit with its message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from rollout.cli import cli
from tests.support.openai_stub import Stub, openai_stub


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    assert CliRunner().invoke(cli, ["init", str(tmp_path / "repo")]).exit_code == 0
    return tmp_path / "repo"


@pytest.fixture
def stub() -> Iterator[Stub]:
    with openai_stub() as server:
        yield server


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def exiting_grader(folder: Path, *, at: str) -> None:
    body = (
        "import sys\nsys.exit(0)\n" if at == "import" else "import sys\ndef grade(output, options):\n    sys.exit(0)\n"
    )
    (folder / f"exits_at_{at}.py").write_text(body)
    (folder / "zz-exits.yaml").write_text(
        f'cases: [{{id: exits, prompt: "ok:1", expect: [{{python: "exits_at_{at}:grade"}}]}}]\n'
    )


def test_validate_reports_a_grader_module_that_exits_on_import(repo: Path) -> None:
    exiting_grader(repo / "eval_suites" / "quality", at="import")
    code, output = invoke("validate", "--plan", str(repo / "rollout-plan.yaml"))
    assert code == 2
    assert "zz-exits.yaml:1: cases[0].expect[0].python: cannot import 'exits_at_import'" in output


def test_eval_reports_a_grader_module_that_exits_on_import(tmp_path: Path, stub: Stub) -> None:
    exiting_grader(tmp_path, at="import")
    code, output = invoke("eval", "--suite", str(tmp_path / "zz-exits.yaml"), "--target", stub.url, "--model", "m")
    assert code == 2
    assert "calls sys.exit(0) on import" in output
    assert stub.state.seen == []


def test_a_grader_that_exits_while_grading_is_that_repeats_error(tmp_path: Path, stub: Stub) -> None:
    exiting_grader(tmp_path, at="grade")
    out = tmp_path / "results.json"
    code, output = invoke(
        "eval", "--suite", str(tmp_path / "zz-exits.yaml"), "--target", stub.url, "--model", "m", "--out", str(out)
    )
    assert code == 4, output
    assert "SystemExit" in json.loads(out.read_text())["cases"][0]["errors"][0]


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def test_a_deeply_nested_verdict_is_bad_input(repo: Path, tmp_path: Path) -> None:
    verdict = tmp_path / "verdict.json"
    verdict.write_text('{"schema": "rollout.verdict/v1", "outcome": ' + deep(100_000) + "}")
    code, output = invoke("next", "--plan", str(repo / "rollout-plan.yaml"), "--verdict", str(verdict))
    assert code == 2
    assert f"{verdict}: nested too deeply to read" in output


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "a record is a JSON object"),
        ('{"verdict": {"outcome": "pass"}}', "verdict: 'baseline' is required"),
        ('{"verdict": {"outcome": "pass", "baseline": {"model": 3}}}', "verdict.baseline.model: 3 is not of type"),
        ('{"verdict": ' + deep(100_000) + "}", "nested too deeply to read"),
    ],
)
def test_status_names_a_malformed_record_instead_of_crashing(repo: Path, record: str, message: str) -> None:
    records = repo / "rollout-records" / "chat"
    records.mkdir(parents=True)
    (records / "0001-internal.json").write_text(record)
    code, output = invoke("status", "--plan", str(repo / "rollout-plan.yaml"))
    assert code == 2, output
    assert "rollout-records/chat/0001-internal.json" in output and message in output, output
