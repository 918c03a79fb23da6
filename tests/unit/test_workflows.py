"""The GitHub Actions surface, read statically: the commands it runs, its triggers and conditions against the
lifecycle in docs/architecture.md, and the safety properties (permissions, pins, forks, concurrency) a reviewer expects."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from rollout import __version__
from rollout.cli import cli
from tests.support.workflows import (
    ACTION,
    ACTION_USES,
    CALLERS_DIR,
    PLACEHOLDER,
    REPO,
    REUSABLE,
    WORKFLOWS_DIR,
    CommandLine,
    CommandProblem,
    Expression,
    caller_files,
    check_command_line,
    command_lines,
    event_context,
    jobs,
    load,
    needs,
    push_triggers,
    steps,
    triggers,
    workflow_files,
)

OWN = {path.name: load(path) for path in workflow_files()}
CALLED = {name: OWN[name] for name in REUSABLE}
CALLERS = {path.name: load(path) for path in caller_files()}
ACTION_DATA = load(ACTION)
ALL_FILES = [ACTION, *workflow_files(), *caller_files()]
ROLLOUT_LINES = [line for path in ALL_FILES for line in command_lines(path) if line.program == "rollout"]
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
GUARDED_ROOT = "plan"
RELEASE = f"v{__version__}"


def line_id(line: CommandLine) -> str:
    return f"{line.where}: rollout {' '.join(line.argv)}"


# ---- commands ------------------------------------------------------------------------------------------


def test_the_workflows_run_the_lifecycle_commands() -> None:
    used = {line.argv[0] for line in ROLLOUT_LINES}
    assert {"status", "serve", "gate", "propose", "apply"} <= used
    assert any(line.program == "pytest" for path in ALL_FILES for line in command_lines(path))


@pytest.mark.parametrize("line", ROLLOUT_LINES, ids=line_id)
def test_every_rollout_command_line_parses_with_the_real_cli(line: CommandLine) -> None:
    try:
        check_command_line(cli, line.argv)
    except CommandProblem as exc:
        pytest.fail(f"{line.where}: {exc}")


@pytest.mark.parametrize(
    "argv",
    [
        ("gate", "--baselines", "a", "--candidate", "b"),  # a renamed flag
        ("promote", "--forge", "github"),  # an unknown command
        ("serve", "start", "purple"),  # a literal value outside a choice
        ("serve", "launch", "blue"),  # an unknown subcommand
        ("serve", "start", "blue", "green"),  # an extra argument
        ("gate", "--candidate", "b"),  # a required option left out
        ("propose", "--verdict"),  # an option without its value
        ("serve",),  # a group without its subcommand
    ],
)
def test_the_command_check_rejects_what_the_cli_would(argv: tuple[str, ...]) -> None:
    with pytest.raises(CommandProblem):
        check_command_line(cli, argv)


# ---- triggers and conditions against the lifecycle ----------------------------------------------------


def test_every_reusable_workflow_is_only_called_and_has_a_caller_that_init_writes() -> None:
    assert sorted(CALLERS) == sorted(REUSABLE)
    for name, workflow in CALLED.items():
        assert set(triggers(workflow)) == {"workflow_call"}, name


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        # A merged stage PR, and its revert: both change the traffic file (and a record).
        (["rollout-traffic.yaml", "rollout-records/chat/0002-early.json"], {"rollout-apply.yml"}),
        # A PR that names a new green.
        (["rollout-plan.yaml"], {"rollout-deploy.yml"}),
        # The decommission PR promotes green to blue and resets the traffic.
        (["rollout-plan.yaml", "rollout-traffic.yaml"], {"rollout-deploy.yml", "rollout-apply.yml"}),
        (["eval_suites/quality/facts.yaml", "README.md"], set()),
    ],
)
def test_pushes_to_the_default_branch_start_the_right_workflows(changed: list[str], expected: set[str]) -> None:
    started = {name for name, workflow in CALLERS.items() if push_triggers(workflow, "main", changed)}
    assert started == expected


def test_a_push_to_another_branch_starts_nothing() -> None:
    assert not any(push_triggers(w, "rollout/chat/early", ["rollout-traffic.yaml"]) for w in CALLERS.values())


def test_watch_and_decommission_run_on_a_schedule() -> None:
    for name in ("rollout-watch.yml", "rollout-decommission.yml"):
        schedule = triggers(CALLERS[name])["schedule"]
        assert schedule and all(len(entry["cron"].split()) == 5 for entry in schedule)


@pytest.mark.parametrize(
    "path", [*workflow_files(), *caller_files()], ids=lambda p: ("init/" if p.parent == CALLERS_DIR else "") + p.name
)
def test_no_workflow_lets_a_pull_request_reach_a_secret_or_a_self_hosted_runner(path: Path) -> None:
    workflow = load(path)
    on = set(triggers(workflow))
    assert not on & {"pull_request_target", "workflow_run", "issue_comment"}, "runs with secrets for untrusted code"
    if path.parent == CALLERS_DIR:
        assert on <= {"push", "schedule", "workflow_dispatch"}
    if "pull_request" in on:
        assert "secrets." not in path.read_text()
        for job in jobs(workflow).values():
            assert isinstance(job["runs-on"], str) and job["runs-on"].startswith("ubuntu-"), "GitHub-hosted only"


EVENTS = [
    (event_context("push"), True),
    (event_context("schedule"), True),
    (event_context("workflow_dispatch"), True),
    (event_context("push", branch="feature"), False),
    (event_context("workflow_dispatch", branch="rollout/chat/early"), False),
    (event_context("pull_request", branch="7/merge"), False),
    # pull_request_target and workflow_run run on the default branch, with secrets, for code from a fork.
    (event_context("pull_request_target"), False),
    (event_context("workflow_run"), False),
    (event_context("push", branch="trunk", default_branch="trunk"), True),
]


@pytest.mark.parametrize("name", REUSABLE)
def test_every_job_is_reached_only_from_the_default_branch(name: str) -> None:
    all_jobs = jobs(CALLED[name])
    for job_name, job in all_jobs.items():
        chain = needs(job)
        if not chain:
            assert job_name == GUARDED_ROOT, f"{job_name} needs no guarded job"
            condition = Expression(job["if"])
            for context, reached in EVENTS:
                assert bool(condition.evaluate(context)) is reached, (job_name, context["github"])
        else:
            assert GUARDED_ROOT in chain, f"{job_name} must need {GUARDED_ROOT} so a skip there skips it"
            condition = str(job.get("if", ""))
            assert not re.search(r"\b(always|failure)\s*\(", condition), job_name
            if re.search(r"\bcancelled\s*\(", condition):
                # A status function runs the job even when the jobs it needs were skipped: then its condition
                # must still fail on what a skipped job leaves (no outputs).
                skipped = {"needs": {name: {"result": "skipped", "outputs": {}} for name in all_jobs}}
                assert not Expression(condition).evaluate(skipped), job_name


@pytest.mark.parametrize("name", ["rollout-deploy.yml", "rollout-decommission.yml"])
def test_deploy_and_decommission_run_the_same_eval_gate_and_propose_steps_as_watch(name: str) -> None:
    """tests/integration/test_workflows.py runs watch's steps for real; the others must be the same steps."""
    other, watch = jobs(CALLED[name]), jobs(CALLED["rollout-watch.yml"])
    for job in ("eval", "gate", "propose"):
        assert other[job]["steps"] == watch[job]["steps"], job


def test_deploy_watch_and_decommission_branch_on_the_phase_and_the_fresh_decision() -> None:
    deploy, watch = jobs(CALLED["rollout-deploy.yml"]), jobs(CALLED["rollout-watch.yml"])
    decommission = jobs(CALLED["rollout-decommission.yml"])
    assert deploy["serve"]["if"] == "needs.plan.outputs.phase == 'new'"
    assert watch["eval"]["if"] == "needs.plan.outputs.phase == 'rolling'"
    assert decommission["eval"]["if"] == "needs.plan.outputs.decision == 'decommission'"
    # Only the decommission workflow retires blue, after fresh gates pass and after stopping blue's server.
    assert watch["propose"]["if"] == (
        "${{ !cancelled() && needs.gate.result == 'success' && needs.gate.outputs.decision != 'decommission' }}"
    )
    # After an eval job failed too: the live gates do not need the evals, and must still roll back.
    assert watch["gate"]["if"] == "${{ !cancelled() && needs.plan.outputs.phase == 'rolling' }}"
    assert decommission["stop"]["if"] == "needs.gate.outputs.decision == 'decommission'"
    assert "stop" in needs(decommission["propose"])
    for workflow in (deploy, watch, decommission):
        assert workflow["gate"]["outputs"]["decision"] == "${{ steps.next.outputs.decision }}"


def test_apply_is_one_job_in_the_environment_of_the_stage_read_from_the_traffic_file() -> None:
    workflow = CALLED["rollout-apply.yml"]
    in_environment = {name: job for name, job in jobs(workflow).items() if "environment" in job}
    assert list(in_environment) == ["apply"]
    apply = in_environment["apply"]
    assert apply["environment"] == "${{ needs.plan.outputs.environment }}"
    plan = jobs(workflow)["plan"]
    assert plan["outputs"]["environment"] == "${{ steps.status.outputs.environment }}"
    status = next(s for s in plan["steps"] if s.get("id") == "status")
    assert status["uses"] in ACTION_USES and status["with"]["command"] == "status"
    commands = [
        line.argv[0]
        for line in command_lines(WORKFLOWS_DIR / "rollout-apply.yml")
        if line.where.startswith("rollout-apply.yml: apply:")
    ]
    assert commands == ["apply"]


@pytest.mark.parametrize("name", REUSABLE)
def test_concurrency_is_per_service_and_never_cancels_a_running_job(name: str) -> None:
    workflow = CALLED[name]
    found = [workflow.get("concurrency"), *(job.get("concurrency") for job in jobs(workflow).values())]
    groups = [group for group in found if group]
    assert groups, "a concurrency group"
    for group in groups:
        assert group["cancel-in-progress"] is False
        assert "inputs.plan" in group["group"] and "github.repository" in group["group"]
    if name == "rollout-apply.yml":
        assert jobs(workflow)["apply"].get("concurrency"), "the apply job itself queues"


ALLOWED_WRITES = {("rollout-apply.yml", "apply"): {"deployments", "pull-requests"}}


@pytest.mark.parametrize("name", sorted(OWN))
def test_every_job_has_a_timeout_and_least_privilege_permissions(name: str) -> None:
    workflow = OWN[name]
    assert workflow["permissions"] == {}, "nothing by default"
    for job_name, job in jobs(workflow).items():
        assert isinstance(job.get("timeout-minutes"), int) and 0 < job["timeout-minutes"] <= 180, job_name
        permissions = job["permissions"]
        assert isinstance(permissions, dict), "no read-all/write-all"
        writes = {scope for scope, level in permissions.items() if level == "write"}
        assert writes == ALLOWED_WRITES.get((name, job_name), set()), job_name
        assert set(permissions.values()) <= {"read", "write"}


LEVEL = {"none": 0, "read": 1, "write": 2}


@pytest.mark.parametrize("name", REUSABLE)
def test_each_caller_grants_what_its_workflow_needs_and_passes_only_known_inputs(name: str) -> None:
    caller_job = next(iter(jobs(CALLERS[name]).values()))
    called = triggers(CALLED[name])["workflow_call"]
    needed: dict[str, int] = {}
    for job in jobs(CALLED[name]).values():
        for scope, level in job["permissions"].items():
            needed[scope] = max(needed.get(scope, 0), LEVEL[level])
    granted = {scope: LEVEL[level] for scope, level in caller_job["permissions"].items()}
    assert granted == needed, "the caller grants exactly what the called jobs use"
    assert set(caller_job.get("with", {})) <= set(called["inputs"])
    secrets = caller_job.get("secrets", {})
    assert secrets != "inherit" and set(secrets) <= set(called.get("secrets") or {})
    required = {key for key, spec in called["inputs"].items() if spec.get("required")}
    assert required <= set(caller_job.get("with", {}))


@pytest.mark.parametrize("name", ["rollout-deploy.yml", "rollout-watch.yml", "rollout-decommission.yml"])
def test_the_app_token_asks_for_members_read_only_when_the_plan_names_team_reviewers(name: str) -> None:
    tokens = {
        step["id"]: step
        for _, step in steps(CALLED[name])
        if str(step.get("uses", "")).startswith("actions/create-github-app-token@")
    }
    assert set(tokens) == {"app", "app-teams"}
    asked = {
        key: {k: v for k, v in step["with"].items() if k.startswith("permission-")} for key, step in tokens.items()
    }
    assert asked["app-teams"] == {**asked["app"], "permission-members": "read"}
    assert "!inputs.team-reviewers" in tokens["app"]["if"] and "&& inputs.team-reviewers" in tokens["app-teams"]["if"]
    assert triggers(CALLED[name])["workflow_call"]["inputs"]["team-reviewers"]["default"] is False
    caller_job = next(iter(jobs(CALLERS[name]).values()))
    assert caller_job["with"]["team-reviewers"] is False


@pytest.mark.parametrize("name", REUSABLE)
def test_runner_labels_come_from_inputs_and_model_work_runs_on_the_gpu_runner(name: str) -> None:
    workflow = CALLED[name]
    inputs = triggers(workflow)["workflow_call"]["inputs"]
    assert isinstance(json.loads(inputs["runner"]["default"]), list)
    for job_name, job in jobs(workflow).items():
        assert job["runs-on"] in ("${{ fromJSON(inputs.runner) }}", "${{ fromJSON(inputs.control-runner) }}")
        lines = [line for line in command_lines(WORKFLOWS_DIR / name) if line.where.startswith(f"{name}: {job_name}:")]
        touches_models = any(line.program == "pytest" or line.argv[0] in ("serve", "gate", "apply") for line in lines)
        if touches_models:
            assert job["runs-on"] == "${{ fromJSON(inputs.runner) }}", job_name


def test_callers_use_the_plan_s_runner_labels() -> None:
    plan = yaml.safe_load((REPO / "rollout" / "templates" / "init" / "rollout-plan.yaml").read_text())
    for name, workflow in CALLERS.items():
        job = next(iter(jobs(workflow).values()))
        assert json.loads(job["with"]["runner"]) == plan["runner"], name


# ---- supply chain and injection ---------------------------------------------------------------------------


def all_steps(path: Path) -> list[dict[str, Any]]:
    data = load(path)
    if "runs" in data:
        return list(data["runs"]["steps"])
    return [step for _, step in steps(data)]


@pytest.mark.parametrize("path", [ACTION, *workflow_files()], ids=lambda p: p.name)
def test_actions_are_pinned_to_a_commit_and_checkouts_keep_no_credentials(path: Path) -> None:
    for step in all_steps(path):
        uses = step.get("uses")
        if uses is None or uses in ACTION_USES:
            continue
        assert PINNED.match(uses), f"{uses} is not pinned to a full commit SHA"
        assert re.search(re.escape(uses) + r" # v\d+\.\d+\.\d+", path.read_text()), f"{uses} names its version"
        if uses.startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_expression_is_pasted_into_a_shell_script(path: Path) -> None:
    for step in all_steps(path):
        assert "${{" not in step.get("run", ""), f"{step.get('name') or step['run'][:40]}: pass it through env:"


@pytest.mark.parametrize("name", ["rollout-deploy.yml", "rollout-watch.yml", "rollout-decommission.yml"])
def test_eval_results_and_verdicts_live_outside_the_checkout(name: str) -> None:
    # A results file committed under eval-results/ must never become evidence the gate reads.
    temp = "${{ runner.temp }}/"
    artifacts = [step for _, step in steps(CALLED[name]) if "-artifact@" in str(step.get("uses", ""))]
    assert artifacts
    for step in artifacts:
        assert str(step["with"]["path"]).startswith(temp), f"{step['uses']}: {step['with']['path']}"
    evals = [step for _, step in steps(CALLED[name]) if "RESULTS" in (step.get("env") or {})]
    assert evals and all(str(step["env"]["RESULTS"]).startswith(temp) for step in evals)
    for line in command_lines(WORKFLOWS_DIR / name):
        for flag in ("--baseline", "--candidate", "--verdict", "--report", "--out"):
            if flag in line.argv:
                assert line.argv[line.argv.index(flag) + 1].startswith(PLACEHOLDER + "/"), f"{line.where}: {flag}"


def test_inputs_and_outputs_of_the_action_that_workflows_use_exist() -> None:
    inputs = set(ACTION_DATA["inputs"])
    outputs = set(ACTION_DATA["outputs"])
    for path in workflow_files():
        workflow = load(path)
        text = path.read_text()
        for job_name, job in jobs(workflow).items():
            ids = {s["id"] for s in job.get("steps", ()) if s.get("uses") in ACTION_USES and "id" in s}
            for step in job.get("steps", ()):
                if step.get("uses") in ACTION_USES:
                    assert set(step.get("with", {})) <= inputs, (path.name, job_name)
            for step_id, output in re.findall(r"steps\.([\w-]+)\.outputs\.([\w-]+)", json.dumps(job)):
                if step_id in ids:
                    assert output in outputs, (path.name, job_name, output)
        for job_name, output in re.findall(r"needs\.([\w-]+)\.outputs\.([\w-]+)", text):
            assert output in jobs(workflow)[job_name].get("outputs", {}), (path.name, job_name, output)


def test_callers_pin_this_release_and_install_the_same_one() -> None:
    for name, workflow in CALLERS.items():
        job = next(iter(jobs(workflow).values()))
        assert job["uses"] == f"model-rollout/model-rollout/.github/workflows/{name}@{RELEASE}"
        assert job["with"]["rollout-ref"] == RELEASE
        assert triggers(CALLED[name])["workflow_call"]["inputs"]["rollout-ref"]["default"] == RELEASE


def test_the_only_silenced_finding_is_the_callers_tag_pin_with_its_reason() -> None:
    for path in [ACTION, *workflow_files(), *caller_files()]:
        for number, text in enumerate(path.read_text().splitlines(), 1):
            if "zizmor:" in text or "actionlint" in text:
                assert path.parent == CALLERS_DIR, f"{path.name}:{number}"
                assert re.fullmatch(r"\s+uses: model-rollout/model-rollout/\S+ # zizmor: ignore\[unpinned-uses\]", text)
                previous = path.read_text().splitlines()[number - 2]
                assert "Pin to the full commit SHA" in previous, "the reason sits above the ignore"


def test_the_setup_guide_names_every_input() -> None:
    guide = (REPO / "docs" / "setup.md").read_text()
    names = set(ACTION_DATA["inputs"]) | set(ACTION_DATA["outputs"])
    for workflow in CALLED.values():
        call = triggers(workflow)["workflow_call"]
        names |= set(call["inputs"]) | set(call.get("secrets") or {})
    assert {name for name in names if f"`{name}`" not in guide} == set()


@pytest.mark.parametrize("name", REUSABLE)
def test_every_job_output_is_read_by_a_later_job(name: str) -> None:
    text = (WORKFLOWS_DIR / name).read_text()
    for job_name, job in jobs(CALLED[name]).items():
        for output in job.get("outputs", {}):
            assert f"needs.{job_name}.outputs.{output}" in text, f"{job_name}.outputs.{output} is never read"
