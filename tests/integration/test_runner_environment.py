"""`.ci/run`'s pytest passes inside a GitHub Actions job: every test owns the variables the runner sets."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from tests.conftest import REPO

HERMETIC = (
    "tests/unit/routers/test_apply.py",
    "tests/integration/test_cli_state.py",
    "tests/integration/test_gate_cli.py",
)
"""Tests that read the environment (forge auto-detection, outputs, the step summary)."""


def ci_pytest() -> list[str]:
    """The pytest command line `.ci/run` ends with (scripts/test's last line), without its arguments."""
    lines = (REPO / "scripts" / "test").read_text(encoding="utf-8").splitlines()
    command = shlex.split(next(line for line in reversed(lines) if line.startswith("exec ") and "pytest" in line))
    return [word for word in command[1:] if word != "$@"]


def runner_environment(job: Path) -> dict[str, str]:
    """What GitHub's runner sets in every job (docs: "Store information in variables", default variables)."""
    for name in ("output", "step-summary", "env", "path", "state", "event.json"):
        (job / name).write_text("{}" if name == "event.json" else "", encoding="utf-8")
    return {
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_ACTION": "__run",
        "GITHUB_ACTOR": "octocat",
        "GITHUB_API_URL": "https://api.github.com",
        "GITHUB_GRAPHQL_URL": "https://api.github.com/graphql",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "model-rollout/model-rollout",
        "GITHUB_REPOSITORY_OWNER": "model-rollout",
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_EVENT_PATH": str(job / "event.json"),
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_REF_NAME": "main",
        "GITHUB_REF_TYPE": "branch",
        "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
        "GITHUB_RUN_ID": "1",
        "GITHUB_RUN_NUMBER": "1",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_WORKFLOW": "ci",
        "GITHUB_JOB": "test",
        "GITHUB_WORKSPACE": str(REPO),
        "GITHUB_OUTPUT": str(job / "output"),
        "GITHUB_STEP_SUMMARY": str(job / "step-summary"),
        "GITHUB_ENV": str(job / "env"),
        "GITHUB_PATH": str(job / "path"),
        "GITHUB_STATE": str(job / "state"),
        "RUNNER_OS": "Linux",
        "RUNNER_ARCH": "X64",
        "RUNNER_NAME": "GitHub Actions 1",
        "RUNNER_ENVIRONMENT": "github-hosted",
        "RUNNER_TEMP": str(job),
        "RUNNER_TOOL_CACHE": str(job),
        "ACTIONS_RUNTIME_URL": "http://127.0.0.1:9/",
        "ACTIONS_RUNTIME_TOKEN": "not-a-token",
        "ACTIONS_CACHE_URL": "http://127.0.0.1:9/",
    }


def test_ci_pytest_passes_with_the_runners_variables_and_leaves_the_jobs_files_alone(tmp_path: Path) -> None:
    job = tmp_path / "job"
    job.mkdir()
    env = {**os.environ, **runner_environment(job)}
    result = subprocess.run(
        [*ci_pytest(), "-q", "-p", "no:cacheprovider", *HERMETIC],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout.splitlines()[-1]
    written = {name: (job / name).read_text(encoding="utf-8") for name in ("output", "step-summary", "env", "path")}
    assert written == dict.fromkeys(written, ""), "a test wrote into the job's own files"
