"""The hostile corpus replayed against every command that prints: whatever a model, a model server, a
results file or the traffic file says, no line of output is one the runner would obey, and nothing
crashes. The commands run with GITHUB_ACTIONS set, as they do in the workflows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from rollout.cli import cli
from rollout.evals.results import CaseResult, EvalResults, results_to_json
from tests.support.hostile import Hostile, corpus, markdown_hazards, obeyed_lines, runner_lines
from tests.support.net import free_port
from tests.support.openai_stub import Stub, openai_stub

REPO = Path(__file__).resolve().parents[2]
DOCUMENTED_EXITS = {0, 1, 2, 3, 4}
OUR_ANNOTATION = ("::error file=", "::warning title=rollout ", "::notice title=rollout ")
PRINTED = corpus("runner", "terminal")


def git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=env)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("hostile") / "repo"
    assert CliRunner().invoke(cli, ["init", str(repo)]).exit_code == 0
    return repo


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    subprocess.run(["cp", "-a", str(template), str(repo)], check=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    return repo


@pytest.fixture
def stub() -> Iterator[Stub]:
    with openai_stub() as server:
        yield server


def invoke(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = {
        "GITHUB_ACTIONS": "true",
        "CI": "true",
        "GITHUB_OUTPUT": str(tmp_path / "outputs"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in DOCUMENTED_EXITS, result.output
    return result.exit_code, result.stdout, result.stderr


def assert_safe(stdout: str, stderr: str) -> None:
    ours = tuple(line for line in runner_lines(stdout) if line.startswith(OUR_ANNOTATION))
    assert obeyed_lines(stdout, ours=ours) == []
    assert obeyed_lines(stderr) == []


def hostile_traffic(repo: Path, text: str) -> None:
    traffic = {"service": "chat", "stage": "internal", "green": text, "weights": {"blue": 95, "green": 5}}
    (repo / "rollout-traffic.yaml").write_text(yaml.safe_dump({**traffic, "rejected": [text]}))
    git(repo, "commit", "-qam", "to internal")


def assert_summary_inert(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    if summary.exists():
        assert markdown_hazards(summary.read_text()) == []


@pytest.mark.parametrize("hostile", corpus(), ids=lambda h: h.name)
def test_the_traffic_files_green_reaches_no_command_raw(repo: Path, tmp_path: Path, hostile: Hostile) -> None:
    hostile_traffic(repo, hostile.text)
    plan = str(repo / "rollout-plan.yaml")
    for args in (
        ["validate"],
        ["status"],
        ["status", "--json"],
        ["next"],
        ["apply", "--dry-run"],
        ["propose", "--forge", "local", "--dry-run"],
        ["rollback", "--forge", "local", "--dry-run", "--reason", hostile.text],
    ):
        _, stdout, stderr = invoke(tmp_path, args[0], "--plan", plan, *args[1:])
        assert_safe(stdout, stderr)
    assert_summary_inert(tmp_path)


@pytest.mark.parametrize("hostile", PRINTED, ids=lambda h: h.name)
def test_a_servers_error_body_and_model_id_reach_eval_output_neutralised(
    tmp_path: Path, stub: Stub, hostile: Hostile
) -> None:
    stub.state.error_body = hostile.text.encode()
    stub.state.model_id = hostile.text
    folder = tmp_path / "suite"
    folder.mkdir()
    (folder / "cases.yaml").write_text('name: mini\ncases: [{id: c1, prompt: "rejects:1", expect: [{contains: P}]}]\n')
    for extra in ([], ["--json"]):
        code, stdout, stderr = invoke(tmp_path, "eval", "--suite", str(folder), "--target", stub.url, *extra)
        assert code == 4
        assert_safe(stdout, stderr)


def results(color: str, hostile: str) -> str:
    case = CaseResult(id=f"case {hostile}", scores=(1.0,), latency_ms=(10.0,), errors=(), outputs=(hostile,))
    broken = CaseResult(id="broken", errors=(hostile,))
    return results_to_json(
        EvalResults(suite="quality", target=color, model=hostile, revision=hostile, cases=(case, broken))
    )


@pytest.mark.parametrize("hostile", corpus(), ids=lambda h: h.name)
def test_results_files_reach_gate_output_neutralised(repo: Path, tmp_path: Path, hostile: Hostile) -> None:
    for color in ("blue", "green"):
        (tmp_path / color).mkdir()
        (tmp_path / color / "quality.json").write_text(results(color, hostile.text))
    plan = str(repo / "rollout-plan.yaml")
    for extra in ([], ["--json"]):
        _, stdout, stderr = invoke(
            tmp_path,
            "gate",
            "--plan",
            plan,
            "--baseline",
            str(tmp_path / "blue"),
            "--candidate",
            str(tmp_path / "green"),
            *extra,
        )
        assert_safe(stdout, stderr)
    assert_summary_inert(tmp_path)


def test_a_plan_error_is_our_annotation_and_nothing_else(repo: Path, tmp_path: Path) -> None:
    plan = repo / "rollout-plan.yaml"
    plan.write_text(plan.read_text().replace("service: chat", 'service: ["::add-mask::x"]'))
    code, stdout, stderr = invoke(tmp_path, "validate", "--plan", str(plan))
    assert code == 2
    assert stdout.startswith("::error file=")
    assert_safe(stdout, stderr)


def test_the_pytest_plugins_failure_report_is_neutralised(tmp_path: Path, stub: Stub) -> None:
    stub.state.error_body = "\n".join(h.text for h in PRINTED).encode()
    folder = tmp_path / "suites" / "quality"
    folder.mkdir(parents=True)
    (folder / "a.yaml").write_text('cases: [{id: c1, prompt: "rejects:1", expect: [{contains: P}]}]\n')
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(folder), "--rollout-target", stub.url],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CI": "true", "GITHUB_ACTIONS": "true", "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "HTTP 400" in proc.stdout
    assert obeyed_lines(proc.stdout) == [], proc.stdout
    assert obeyed_lines(proc.stderr) == []


def test_the_console_script_guards_its_tracebacks_too(tmp_path: Path, repo: Path) -> None:
    hostile_traffic(repo, "::add-mask::hunter2")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from rollout.cli import main; main()",
            "status",
            "--plan",
            str(repo / "rollout-plan.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "GITHUB_ACTIONS": "true", "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode in DOCUMENTED_EXITS, proc.stderr
    assert_safe(proc.stdout, proc.stderr)


@pytest.mark.parametrize("hostile", corpus("config"), ids=lambda h: h.name)
def test_a_plan_value_that_would_escape_its_config_is_refused_at_validate(
    repo: Path, tmp_path: Path, hostile: Hostile
) -> None:
    plan = repo / "rollout-plan.yaml"
    text = plan.read_text()
    line = text[: text.index("    port: 8002")].count("\n") + 2
    plan.write_text(text.replace("    port: 8002", f"    port: 8002\n    host: {json.dumps(hostile.text)}"))
    code, stdout, stderr = invoke(tmp_path, "validate", "--plan", str(plan))
    assert code == 2
    assert f"{plan}:{line}: models.green.host: " in stderr
    assert_safe(stdout, stderr)


def test_a_model_servers_log_lines_in_a_failed_start_are_neutralised(repo: Path, tmp_path: Path) -> None:
    log = tmp_path / "server-says.txt"
    log.write_text("\n".join(h.text for h in PRINTED))
    server = f"import sys; sys.stdout.write(open({str(log)!r}).read()); sys.exit(3)"
    plan = repo / "rollout-plan.yaml"
    text = plan.read_text().replace(
        '    port: 8001\n    args: [--max-model-len, "8192", --gpu-memory-utilization, "0.45"]',
        f"    port: {free_port()}\n    engine: command\n    command: {json.dumps(f'{sys.executable} -c {server!r} {{port}}')}",
        1,
    )
    plan.write_text(text + f"state_dir: {tmp_path / 'state'}\n")
    code, stdout, stderr = invoke(tmp_path, "serve", "start", "blue", "--plan", str(plan), "--timeout", "30")
    assert code == 4, stdout + stderr
    assert "add-mask::hunter2" in stderr
    assert_safe(stdout, stderr)
