"""The evidence branch on both forges: `save_evidence` writes a round's results in one parentless-first commit,
writes nothing when the branch already holds them (reused results included), finishes after an ambiguous
failure, and `rollout evidence save` refuses results that cannot be evidence before writing anything."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from rollout.cli import cli
from rollout.errors import ExternalError, InputError
from rollout.evals.results import CaseResult, EvalResults, load_results, results_to_json
from rollout.evals.reuse import reused
from rollout.forge import Forge
from rollout.forge.github import github_forge
from rollout.forge.local import LocalForge
from rollout.gitops.evidence import Saved, save_evidence
from tests.support.fake_github import FakeGitHub
from tests.support.gitops import git

BRANCH = "rollout-evidence/chat"


def results(color: str, run_id: str, *, score: float = 1.0, suite: str = "quality") -> EvalResults:
    return EvalResults(
        suite=suite,
        target=color,
        model=f"chat-{color}",
        revision="r1",
        serving_digest="s1",
        suite_digest="d1",
        run_id=run_id,
        started_at="2026-12-01T10:00:00Z",
        finished_at="2026-12-01T10:01:00Z",
        cases=(CaseResult(id="a", scores=(score,), latency_ms=(5.0,), ttft_ms=(1.0,), output_tokens=(2,)),),
    )


def saved(*items: EvalResults) -> list[Saved]:
    return [Saved(file=f"{r.target}/{r.suite}.json", results=r) for r in items]


@pytest.fixture(params=["local", "github"])
def forge(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Forge]:
    if request.param == "local":
        repo = tmp_path / "repo"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        (repo / "README.md").write_text("hello\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "First")
        yield LocalForge(repo)
        return
    with FakeGitHub(tmp_path) as fake:
        fake.push("main", {"README.md": "hello\n"}, "First commit")
        yield github_forge(fake.env(), sleep=lambda _seconds: None)


def test_a_round_s_results_are_one_commit_and_the_same_results_write_nothing(forge: Forge) -> None:
    blue, green = results("blue", "b1"), results("green", "g1")
    first = save_evidence(forge, "chat", saved(blue, green))
    assert (first.status, first.written) == ("created", ("blue/quality.json", "green/quality.json"))
    commit = forge.commit(str(first.sha))
    assert commit.parents == (), "a history of its own: a checkout of it holds only evidence"
    assert forge.read_file("README.md", str(first.sha)) is None
    assert forge.read_file("green/quality.json", str(first.sha)) == results_to_json(green)
    assert "green/quality.json: run g1" in commit.message

    # the next round reused both: saving its results (marked reused) changes nothing
    again = save_evidence(forge, "chat", saved(reused(blue), reused(green)))
    assert (again.status, again.sha) == ("unchanged", first.sha)

    # then green ran again (a sampled suite, say): one commit on top, blue's file untouched
    newer = replace(results("green", "g2", score=0.0), rounds=2)
    moved = save_evidence(forge, "chat", saved(reused(blue), newer))
    assert (moved.status, moved.written) == ("updated", ("green/quality.json",))
    assert forge.branch_head(BRANCH) == moved.sha and forge.commit(str(moved.sha)).parents == (first.sha,)
    assert forge.read_file("blue/quality.json", str(moved.sha)) == results_to_json(blue)
    assert json.loads(str(forge.read_file("green/quality.json", str(moved.sha))))["rounds"] == 2


def test_interrupted_results_are_never_recorded_and_a_dry_run_writes_nothing(forge: Forge) -> None:
    partial = replace(results("green", "g1"), interrupted=True)
    dry = save_evidence(forge, "chat", saved(results("blue", "b1"), partial), dry_run=True)
    assert (dry.status, dry.written) == ("would-create", ("blue/quality.json",))
    assert "interrupted" in dry.notes[0]
    assert forge.branch_head(BRANCH) is None


def test_results_that_cannot_be_evidence_are_refused_before_anything_is_written(forge: Forge) -> None:
    url = replace(results("green", "g1"), target="http://127.0.0.1:8000")
    for bad in ([url], [results("blue", "b1"), results("blue", "b2")]):
        with pytest.raises(InputError):
            save_evidence(forge, "chat", saved(*bad))
    assert forge.branch_head(BRANCH) is None


def test_a_suite_whose_name_is_no_file_name_is_left_out_with_a_note(forge: Forge) -> None:
    done = save_evidence(forge, "chat", saved(results("blue", "b1", suite="../x"), results("blue", "b2")))
    assert (done.status, done.written) == ("created", ("blue/quality.json",))
    assert "suite '../x' is not kept" in done.notes[0]
    nothing = save_evidence(forge, "chat", saved(results("green", "g1", suite="Chat quality")))
    assert (nothing.status, nothing.sha) == ("nothing", forge.branch_head(BRANCH))
    assert nothing.describe() == f"no results to save on {BRANCH}"


def test_a_save_that_failed_half_way_finishes_when_run_again(tmp_path: Path) -> None:
    with FakeGitHub(tmp_path) as fake:
        fake.push("main", {"README.md": "hello\n"}, "First commit")
        forge = github_forge(fake.env(), sleep=lambda _seconds: None)
        first = save_evidence(forge, "chat", saved(results("blue", "b1")))
        # the branch update is applied, but its answer is lost, for every retry: the save fails
        fake.fail(status=502, method="PATCH", path=r"/git/refs/heads/", applied=True, times=100, message="Bad Gateway")
        with pytest.raises(ExternalError):
            save_evidence(forge, "chat", saved(results("blue", "b2")))
        fake.faults.clear()
        done = save_evidence(forge, "chat", saved(results("blue", "b2")))
        assert done.status == "unchanged" and done.sha != first.sha, "the first try had landed; nothing to redo"
        assert json.loads(str(fake.show(BRANCH, "blue/quality.json")))["run_id"] == "b2"


def test_the_command_saves_a_results_folder_and_refuses_bad_input_with_exit_2(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "eval_suites" / "quality").mkdir(parents=True)
    (repo / "eval_suites" / "quality" / "cases.yaml").write_text(
        "name: quality\ncases: [{id: a, prompt: hi, expect: [{contains: x}]}]\n"
    )
    (repo / "rollout-plan.yaml").write_text(
        "version: 1\nservice: chat\nmodels:\n  blue: {name: chat-blue, model: m, port: 8001}\n"
        "  green: {name: chat-green, model: m2, port: 8002}\nrouter: {kind: file, config: r.json}\n"
        "stages: [{name: full, weight: 100, soak: 1h}]\ngates: {quality: {suite: eval_suites/quality}}\n"
    )
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "First")
    out = tmp_path / "eval-results"
    for color in ("blue", "green"):
        (out / color).mkdir(parents=True)
        (out / color / "quality.json").write_text(results_to_json(results(color, f"{color}-1")))
    args = ["evidence", "save", "--plan", str(repo / "rollout-plan.yaml"), "--forge", "local"]
    args += ["--results", str(out / "blue"), "--results", str(out / "green"), "--json"]
    done = CliRunner().invoke(cli, args, env={"GITHUB_REPOSITORY": ""})
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    assert (report["branch"], report["status"]) == (BRANCH, "created")
    shown = git(repo, "show", f"{BRANCH}:green/quality.json")
    assert shown == results_to_json(results("green", "green-1"))

    (out / "green" / "quality.json").write_text(
        results_to_json(replace(results("green", "green-2"), target="http://127.0.0.1:1"))
    )
    refused = CliRunner().invoke(cli, args, env={"GITHUB_REPOSITORY": ""})
    assert refused.exit_code == 2, refused.output
    assert "evidence is kept for blue and green only" in refused.output
    assert git(repo, "show", f"{BRANCH}:green/quality.json") == shown, "nothing was written"
    assert load_results(out / "blue" / "quality.json").run_id == "blue-1"
