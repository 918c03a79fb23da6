"""One release, named alike everywhere: the package's version, the callers `rollout init` writes, the reusable
workflows' defaults and the docs; and callers pinned by the full commit SHA when the release stamped it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import rollout.callers
from rollout import __version__
from rollout.callers import REPOSITORY, Release, installed_release
from rollout.scaffold import TEMPLATES, scaffold
from tests.support.workflows import ACTION, REPO, REUSABLE, WORKFLOWS_DIR, caller_files, jobs, load

TAG = f"v{__version__}"
SHA = "0123456789abcdef0123456789abcdef01234567"
CALLERS = [f".github/workflows/{name}" for name in REUSABLE]
DOCS = [REPO / "README.md", ACTION, *sorted((REPO / "docs").glob("*.md"))]
VERSION = re.compile(r"\bv\d+\.\d+\.\d+\b")
OURS = ("model-rollout", "rollout-ref", "rollout init")
"""A line naming one of these names our release (other actions' pins carry their own versions)."""
REPOSITORY_NAME = re.compile(r"(?<![\w$/.-])[A-Za-z0-9][\w.-]*/model-rollout(?![\w.-])")


def test_the_version_in_pyproject_is_the_packages() -> None:
    tomllib = pytest.importorskip("tomllib")
    assert tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"] == __version__


def test_the_templates_and_the_reusable_workflows_name_this_release_and_repository() -> None:
    for path in caller_files():
        job = next(iter(jobs(load(path)).values()))
        assert job["uses"] == f"{REPOSITORY}/.github/workflows/{path.name}@{TAG}"
        assert job["with"]["rollout-ref"] == TAG
    for name in REUSABLE:
        inputs = load(WORKFLOWS_DIR / name)["on"]["workflow_call"]["inputs"]
        assert (inputs["rollout-repository"]["default"], inputs["rollout-ref"]["default"]) == (REPOSITORY, TAG)


def test_the_docs_and_the_action_name_this_release_and_repository() -> None:
    for path in [*DOCS, *caller_files(), *sorted(WORKFLOWS_DIR.glob("*.yml"))]:
        lines = path.read_text(encoding="utf-8").splitlines()
        ours = "\n".join(line for line in lines if any(name in line for name in OURS))
        assert set(VERSION.findall(ours)) <= {TAG}, path.name
        assert set(REPOSITORY_NAME.findall("\n".join(lines))) <= {REPOSITORY}, path.name


def test_callers_are_pinned_to_the_stamped_commit_of_the_release() -> None:
    files = scaffold("chat", release=Release(tag=TAG, commit=SHA)).files
    for name in CALLERS:
        text = files[name]
        job = next(iter(yaml.safe_load(text)["jobs"].values()))
        assert job["uses"] == f"{REPOSITORY}/{name}@{SHA}"
        assert job["with"]["rollout-ref"] == SHA
        assert f"@{SHA} # {TAG}\n" in text and "zizmor" not in text
        assert f"# model-rollout {TAG}, pinned by its full commit SHA" in text


def test_without_a_stamp_the_callers_are_the_templates_pinned_by_tag() -> None:
    files = scaffold("chat", release=Release(tag=TAG)).files
    for name in CALLERS:
        assert files[name] == (TEMPLATES / name).read_text(encoding="utf-8")


def test_the_installed_release_reads_the_stamp_and_ignores_a_broken_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stamp = tmp_path / "release-commit"
    monkeypatch.setattr(rollout.callers, "RELEASE_COMMIT", stamp)
    assert installed_release() == Release(tag=TAG)
    stamp.write_text(f"{SHA}\n")
    assert installed_release() == Release(tag=TAG, commit=SHA)
    stamp.write_text("main\n")
    assert installed_release() == Release(tag=TAG)


def test_the_release_guide_names_every_step_that_keeps_them_in_agreement() -> None:
    guide = (REPO / "docs" / "releasing.md").read_text(encoding="utf-8")
    for needed in ("pyproject.toml", "rollout/__init__.py", "release-commit", "git tag", "REPOSITORY"):
        assert needed in guide, needed
