from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.model import RunningModel, running_model

REPO = Path(__file__).resolve().parents[1]

RUNNER_PREFIXES = ("GITHUB_", "RUNNER_", "ACTIONS_")
"""What GitHub's runner sets in every job: a test that wants any of it sets it itself."""


@pytest.fixture(autouse=True)
def outside_actions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test owns the runner's variables, so the suite behaves the same on a laptop and in a job:
    `CliRunner(env=...)` adds to the real environment, and `--forge auto` would pick github in a job.
    Outputs and the step summary go to this test's own files, never to the job's."""
    for name in [name for name in os.environ if name.startswith(RUNNER_PREFIXES)]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "github-output"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "github-step-summary"))


@pytest.fixture(scope="session")
def smollm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningModel]:
    """One real SmolLM2 server for the whole session, served as model name 'smol'."""
    log = tmp_path_factory.mktemp("smollm") / "server.log"
    with running_model("smol", log=log) as model:
        yield model
