"""validate, status, next and init through the real CLI, with git providing the stage's start time."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from rollout.cli import cli
from rollout.gates.verdict import GateResult, RunInfo, Verdict, verdict_to_json
from rollout.plan import load_plan, serving_args_digest
from tests.support.plans import candidate_of

GREEN = "llama-3.3-8b-ft2"


def git(repo: Path, *args: str, date: str | None = None) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    if date:
        env["GIT_COMMITTER_DATE"] = env["GIT_AUTHOR_DATE"] = date
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=env)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "repo")])
    assert result.exit_code == 0, result.output
    repo = tmp_path / "repo"
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init", date="2026-11-01T09:00:00Z")
    return repo


def run(repo: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [*args[:1], "--plan", str(repo / "rollout-plan.yaml"), *args[1:]])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def write_verdict(path: Path, outcome: str, plan: Path) -> Path:
    verdict = Verdict(
        outcome=outcome,
        baseline=RunInfo(model="llama-3.1-8b"),
        candidate=candidate_of(load_plan(plan).model("green")),  # type: ignore[arg-type]
        gates=(GateResult(gate="quality", outcome=outcome, reason="r"),),
    )  # type: ignore[arg-type]
    path.write_text(verdict_to_json(verdict))
    return path


def move_to(repo: Path, stage: str, green_weight: int, date: str) -> None:
    (repo / "rollout-traffic.yaml").write_text(
        f"service: chat\nstage: {stage}\ngreen: {GREEN}\nweights: {{blue: {100 - green_weight}, green: {green_weight}}}\nrejected: []\n"
    )
    git(repo, "commit", "-qam", f"to {stage}", date=date)


def test_validate_passes_on_a_fresh_init(repo: Path) -> None:
    code, output = run(repo, "validate")
    assert code == 0 and output.startswith("ok:")


def test_validate_refuses_a_plan_whose_gates_run_no_suite(repo: Path) -> None:
    plan = repo / "rollout-plan.yaml"
    text = plan.read_text()
    lines = text.splitlines(keepends=True)
    gates = next(i for i, line in enumerate(lines) if line.startswith("gates:"))
    kept = [line for line in lines if not line.startswith(("  quality:", "  safety:", "  cost:"))]
    plan.write_text("".join(kept))
    code, output = run(repo, "validate")
    assert code == 2, output
    assert f"{plan}:{gates + 1}: gates: no gate runs an eval suite" in output
    assert "add gates.quality or gates.safety with a suite" in output


def test_validate_reports_each_caller_whose_runner_differs_from_the_plans(repo: Path) -> None:
    plan = repo / "rollout-plan.yaml"
    result = CliRunner().invoke(cli, ["validate", "--plan", str(plan), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["warnings"] == [], result.output
    plan.write_text(plan.read_text().replace("runner: [self-hosted, gpu]", "runner: [self-hosted, gpu, a100]"))
    result = CliRunner().invoke(cli, ["validate", "--plan", str(plan), "--json"])
    assert result.exit_code == 0, result.output
    warnings = json.loads(result.stdout)["warnings"]
    workflows = repo / ".github" / "workflows"
    assert [w.split(":", 1)[0] for w in warnings] == [str(p) for p in sorted(workflows.glob("rollout-*.yml"))]
    deploy = next(w for w in warnings if "rollout-deploy.yml" in w)
    assert (
        'jobs.deploy.with.runner is ["self-hosted", "gpu"], but the plan\'s runner is ["self-hosted", "gpu", "a100"]'
        in (deploy)
    )


def test_validate_warns_of_a_vllm_template_that_drains_nothing(repo: Path) -> None:
    plan = repo / "rollout-plan.yaml"
    text = plan.read_text()
    blue = text.index("  blue:")
    plan.write_text(
        text[:blue] + "  blue:\n    engine: command\n    command: vllm serve {model} --port {port}\n" + text[blue + 8 :]
    )
    result = CliRunner().invoke(cli, ["validate", "--plan", str(plan), "--json"])
    assert result.exit_code == 0, result.output
    warnings = json.loads(result.stdout)["warnings"]
    assert len(warnings) == 1 and warnings[0].startswith("models.blue.command runs vLLM without --shutdown-timeout")


def test_validate_warns_of_a_litellm_reload_that_restarts_the_proxy(repo: Path) -> None:
    plan = repo / "rollout-plan.yaml"
    plan.write_text(plan.read_text().replace("reload: systemctl reload litellm", "reload: systemctl restart litellm"))
    result = CliRunner().invoke(cli, ["validate", "--plan", str(plan)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok:")
    assert f"warning: {plan}: router.reload 'systemctl restart litellm' looks like a restart" in result.stderr


def test_validate_warns_of_a_safety_bar_the_suite_cannot_show(repo: Path) -> None:
    plan = repo / "rollout-plan.yaml"
    text = plan.read_text()
    plan.write_text(text.replace("max_failures: 0}", "max_failures: 0, max_failure_rate: 0.01}", 1))
    result = CliRunner().invoke(cli, ["validate", "--plan", str(plan), "--json"])
    assert result.exit_code == 0, result.output
    (warning,) = json.loads(result.stdout)["warnings"]
    assert warning.startswith("gates.safety.max_failure_rate 1.0% cannot be shown on ")
    assert "so the gate would hold forever" in warning
    plan.write_text(text.replace("max_failures: 0}", "max_failures: 0, max_failure_rate: 0.5}", 1))
    reachable = CliRunner().invoke(cli, ["validate", "--plan", str(plan), "--json"])
    assert reachable.exit_code == 0 and json.loads(reachable.stdout)["warnings"] == []


def test_next_across_a_timeline_reads_the_stage_start_from_git(repo: Path, tmp_path: Path) -> None:
    passing = str(write_verdict(tmp_path / "pass.json", "pass", repo / "rollout-plan.yaml"))
    code, output = run(repo, "next", "--json", "--verdict", passing, "--now", "2026-11-01T10:00:00Z")
    assert (code, json.loads(output)["action"], json.loads(output)["stage"]) == (0, "advance", "internal")

    move_to(repo, "internal", 5, "2026-11-02T00:00:00Z")
    code, output = run(repo, "next", "--verdict", passing, "--now", "2026-11-02T12:00:00Z")
    assert code == 3 and output.startswith("hold: stage internal soaks until 2026-11-03 00:00:00")

    code, output = run(repo, "next", "--json", "--verdict", passing, "--now", "2026-11-03T00:00:01Z")
    assert (code, json.loads(output)["stage"], json.loads(output)["weights"]) == (0, "early", {"blue": 75, "green": 25})

    failing = str(write_verdict(tmp_path / "fail.json", "fail", repo / "rollout-plan.yaml"))
    code, output = run(repo, "next", "--json", "--verdict", failing, "--now", "2026-11-03T00:00:01Z")
    decision = json.loads(output)
    assert (code, decision["action"], decision["weights"]["green"], decision["rejected"]) == (1, "rollback", 0, [GREEN])

    undecided = str(write_verdict(tmp_path / "maybe.json", "inconclusive", repo / "rollout-plan.yaml"))
    code, output = run(repo, "next", "--verdict", undecided, "--now", "2026-11-09T00:00:00Z")
    assert code == 3 and "inconclusive" in output


def test_status_shows_where_the_rollout_stands(repo: Path) -> None:
    move_to(repo, "early", 25, "2026-11-05T08:00:00Z")
    code, output = run(repo, "status", "--json")
    status = json.loads(output)
    assert code == 0
    assert (status["stage"], status["weights"], status["stage_started_at"]) == (
        "early",
        {"blue": 75, "green": 25},
        "2026-11-05T08:00:00+00:00",
    )
    assert status["next"]["action"] == "hold"
    code, output = run(repo, "status")
    assert "blue llama-3.1-8b 75% / green llama-3.3-8b-ft2 25%" in output


@pytest.mark.parametrize("command", ["status", "next"])
def test_a_shallow_checkout_is_refused_as_its_stage_start_would_lie(repo: Path, tmp_path: Path, command: str) -> None:
    move_to(repo, "early", 25, "2026-11-05T08:00:00Z")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow))
    code, output = run(shallow, command)
    assert code == 2 and "the checkout is shallow" in output and "check out the whole history" in output
    assert "Traceback" not in output

    shutil.rmtree(shallow / ".git")
    code, output = run(shallow, command, "--json")
    assert code in (0, 3) and json.loads(output)["stage" if command == "status" else "action"]


def evidence(folder: Path, plan: Path) -> list[str]:
    """Passing results of both suites for both colors of the plan, as `rollout gate` arguments."""
    args = []
    for color in ("blue", "green"):
        version = load_plan(plan).model(color)
        for suite in ("quality", "safety"):
            cases = [{"id": f"{suite}-{i}", "scores": [1.0], "errors": []} for i in range(5)]
            results = {
                "schema": "rollout.eval-results/v1",
                "suite": suite,
                "target": color,
                "model": version.name,
                "revision": version.revision,
                "serving_digest": serving_args_digest(version),
                "run_id": f"{color}-{suite}",
                "cases": cases,
            }
            path = folder / color / f"{suite}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(results))
        args += ["--baseline" if color == "blue" else "--candidate", str(folder / color)]
    return args


def test_gate_refuses_a_shallow_checkout_once_its_live_window_is_read_from_it(repo: Path, tmp_path: Path) -> None:
    gate = evidence(tmp_path / "evidence", repo / "rollout-plan.yaml")
    before = tmp_path / "before"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(before))
    code, output = run(before, "gate", *gate)
    assert code in (0, 1, 3) and "the checkout is shallow" not in output, output  # no traffic: no window to read

    move_to(repo, "early", 25, "2026-11-05T08:00:00Z")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow))
    code, output = run(shallow, "gate", *gate)
    assert (code, output) == run(shallow, "next"), "the same refusal as a decision's"
    assert code == 2 and "the checkout is shallow" in output and "when the current stage started" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["next", "--now", "yesterday"], "--now: 'yesterday' is not an ISO 8601 time"),
        (["next", "--verdict", "missing.json"], "missing.json: file not found"),
    ],
)
def test_bad_options_exit_2_without_traceback(repo: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, [args[0], "--plan", str(repo / "rollout-plan.yaml"), *args[1:]])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_hand_edited_traffic_file_fails_validation(repo: Path) -> None:
    (repo / "rollout-traffic.yaml").write_text("service: chat\nstage: early\nweights: {blue: 80, green: 25}\n")
    code, output = run(repo, "validate")
    assert code == 2
    assert "rollout-traffic.yaml:3: weights: weights add up to 105, not 100" in output


def test_validate_refuses_traffic_the_plan_s_green_does_not_cover(repo: Path) -> None:
    (repo / "rollout-traffic.yaml").write_text(
        "service: chat\nstage: early\ngreen: some-other-model\nweights: {blue: 75, green: 25}\nrejected: []\n"
    )
    code, output = run(repo, "validate")
    assert code == 2
    assert "rollout-traffic.yaml:3: green: 'some-other-model' gets 25% of the traffic" in output


def test_init_refuses_to_overwrite_and_writes_nothing(repo: Path) -> None:
    (repo / "rollout-plan.yaml").write_text("# mine\n")
    before = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts}
    result = CliRunner().invoke(cli, ["init", str(repo)])
    assert result.exit_code == 2 and "pass --force" in result.output
    assert before == {p: p.read_bytes() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts}
    result = CliRunner().invoke(cli, ["init", str(repo), "--force", "--service", "support"])
    assert result.exit_code == 0
    assert "service: support" in (repo / "rollout-plan.yaml").read_text()


def test_the_console_script_exits_with_the_documented_code(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rollout", "validate", "--plan", str(tmp_path / "none.yaml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "none.yaml: file not found" in result.stderr
    assert "Traceback" not in result.stderr
