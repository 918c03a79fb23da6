"""`rollout init` writes the thin caller workflows, and the wheel carries them."""

from __future__ import annotations

import glob
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from rollout import __version__
from rollout.callers import Release, render_caller
from rollout.cli import cli
from rollout.plan import PLAN_FILE, TRAFFIC_FILE
from rollout.scaffold import TEMPLATES, scaffold
from tests.support.workflows import REPO, REUSABLE, caller_files, jobs, load, triggers

CALLERS = [f".github/workflows/{name}" for name in REUSABLE]


def test_the_scaffold_holds_the_callers_unchanged() -> None:
    files = scaffold("support-bot").files
    for name in CALLERS:
        assert files[name] == (TEMPLATES / name).read_text(encoding="utf-8")


def test_the_callers_run_on_the_plans_runner() -> None:
    files = scaffold("chat").files
    runner = yaml.safe_load(files[PLAN_FILE])["runner"]
    for name in CALLERS:
        job = next(iter(yaml.safe_load(files[name])["jobs"].values()))
        assert json.loads(job["with"]["runner"]) == runner, name


def test_a_callers_runner_input_is_rendered_from_labels() -> None:
    text = (TEMPLATES / CALLERS[0]).read_text(encoding="utf-8")
    rendered = render_caller(text, runner=("self-hosted", "gpu", "it's-a100"), release=Release(tag=f"v{__version__}"))
    assert '      runner: \'["self-hosted", "gpu", "it\'\'s-a100"]\'\n' in rendered
    job = next(iter(yaml.safe_load(rendered)["jobs"].values()))
    assert json.loads(job["with"]["runner"]) == ["self-hosted", "gpu", "it's-a100"]
    changed = [(a, b) for a, b in zip(text.splitlines(), rendered.splitlines(), strict=True) if a != b]
    assert len(changed) == 1


def test_init_writes_the_callers_beside_the_plan(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "repo"), "--service", "support-bot"])
    assert result.exit_code == 0, result.output
    written = sorted((tmp_path / "repo" / ".github" / "workflows").glob("*.yml"))
    assert [p.name for p in written] == sorted(REUSABLE)
    for path in written:
        assert f"wrote {path}" in result.output


def test_the_callers_watch_the_files_init_writes() -> None:
    files = scaffold("chat").files
    for path in caller_files():
        workflow = load(path)
        job = next(iter(jobs(workflow).values()))
        assert job["with"]["plan"] == PLAN_FILE and PLAN_FILE in files
        for pattern in (triggers(workflow).get("push") or {}).get("paths", []):
            assert pattern in (PLAN_FILE, TRAFFIC_FILE) and pattern in files, path.name


def test_the_package_data_globs_take_every_template_into_the_wheel() -> None:
    """setuptools expands package-data with glob(recursive=True), whose `*` skips dot-directories like .github."""
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["rollout"]
    package = REPO / "rollout"
    packaged = {Path(p) for pattern in patterns for p in glob.glob(str(package / pattern), recursive=True)}
    templates = {p for p in TEMPLATES.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert {p.relative_to(TEMPLATES).as_posix() for p in templates - packaged} == set()
    assert any(".github" in p.parts for p in packaged)
