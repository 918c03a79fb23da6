"""Which forge a command gets: github in Actions, the local repository elsewhere, none outside git."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rollout.errors import InputError
from rollout.forge import open_forge, optional_forge
from rollout.forge.github import GithubForge
from rollout.forge.local import LocalForge
from tests.support.gitops import git

ACTIONS = {"GITHUB_REPOSITORY": "acme/models", "GITHUB_TOKEN": "t", "GITHUB_API_URL": "http://127.0.0.1:9"}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    return tmp_path


def test_auto_is_github_in_actions_and_local_elsewhere(repo: Path) -> None:
    assert isinstance(open_forge("auto", root=repo, env=ACTIONS), GithubForge)
    assert isinstance(open_forge("auto", root=repo, env={}), LocalForge)
    assert isinstance(open_forge("local", root=repo, env=ACTIONS), LocalForge)


def test_github_needs_its_settings(repo: Path) -> None:
    with pytest.raises(InputError, match="GITHUB_TOKEN"):
        open_forge("github", root=repo, env={"GITHUB_REPOSITORY": "acme/models"})


def test_outside_git_and_actions_there_is_no_forge_for_apply(tmp_path: Path) -> None:
    outside = tmp_path / "plain"
    outside.mkdir()
    assert optional_forge("auto", root=outside, env={}) is None
    with pytest.raises(InputError, match="not inside a git repository"):
        optional_forge("local", root=outside, env={})


def test_ghapi_is_imported_only_for_the_github_forge(repo: Path) -> None:
    # A fresh interpreter: this one may have imported ghapi for another test already
    script = (
        "import sys; from pathlib import Path; import rollout.cli; from rollout.forge import open_forge; "
        f"open_forge('auto', root=Path({str(repo)!r}), env={{}}); print('ghapi' in sys.modules); "
        f"open_forge('auto', root=Path({str(repo)!r}), env={ACTIONS!r}); print('ghapi' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]
