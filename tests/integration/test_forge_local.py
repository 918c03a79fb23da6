"""The local forge on a real git repository: branches and commits without touching the work tree,
pull request records, `git merge --no-ff`, `git revert -m 1`, and deployments."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from rollout.errors import CheckFailed, InputError
from rollout.forge.local import LocalForge
from tests.support.gitops import git

WHEN = datetime(2026, 11, 5, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "traffic.yaml").write_text("green: 0\n")
    (repo / "old.txt").write_text("bye\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "First", date=datetime(2026, 11, 1, tzinfo=timezone.utc))
    return repo


@pytest.fixture
def forge(repo: Path) -> LocalForge:
    return LocalForge(repo, clock=lambda: WHEN)


def proposed(forge: LocalForge, branch: str, files: dict[str, str | None]) -> int:
    base = forge.branch_head("main")
    assert base is not None
    assert forge.create_branch(branch, forge.write_commit(base, files, f"Propose {branch}"))
    pull, created = forge.open_pull(
        branch=branch, base="main", title=f"t {branch}", body="b", labels=["rollout"], reviewers=["alice"]
    )
    assert created
    return pull.number


def test_commits_are_made_without_touching_the_work_tree(repo: Path, forge: LocalForge) -> None:
    base = forge.branch_head("main")
    assert base is not None and forge.default_branch() == "main"
    sha = forge.write_commit(base, {"sub/new.json": "{}\n", "old.txt": None}, "Change\n\nRollout-Proposal: abc")
    assert forge.commit(sha).parents == (base,) and forge.commit(sha).message.endswith("Rollout-Proposal: abc")
    assert forge.read_file("sub/new.json", sha) == "{}\n" and forge.read_file("old.txt", sha) is None
    assert git(repo, "status", "--porcelain") == "" and (repo / "old.txt").exists()
    assert forge.create_branch("rollout/chat/a", sha) and not forge.create_branch("rollout/chat/a", base)
    forge.move_branch("rollout/chat/a", base)
    assert forge.branch_head("rollout/chat/a") == base


def test_a_pull_request_is_a_branch_and_a_record(repo: Path, forge: LocalForge) -> None:
    number = proposed(forge, "rollout/chat/early", {"traffic.yaml": "green: 25\n"})
    again, created = forge.open_pull(
        branch="rollout/chat/early", base="main", title="x", body="", labels=[], reviewers=[]
    )
    assert (again.number, created) == (number, False)
    forge.update_pull(number, title="new title", body="new body")
    forge.comment(number, "first")
    record = json.loads((repo / ".git" / "rollout-prs" / f"{number}.json").read_text())
    assert (record["title"], record["labels"], record["reviewers"], record["comments"]) == (
        "new title",
        ["rollout"],
        ["alice"],
        ["first"],
    )
    assert [p.number for p in forge.open_pulls("rollout/chat/")] == [number]
    forge.close_pull(number, comment="no longer holds")
    assert forge.pull(number).state == "closed" and forge.comments(number) == ["first", "no longer holds"]
    assert forge.open_pulls("rollout/") == []


def test_merge_and_revert_are_what_a_person_would_type(repo: Path, forge: LocalForge) -> None:
    number = proposed(forge, "rollout/chat/early", {"traffic.yaml": "green: 25\n"})
    merge = forge.merge_pull(number, title="Merge #1")
    assert (repo / "traffic.yaml").read_text() == "green: 25\n"
    assert len(forge.commit(merge).parents) == 2
    assert git(repo, "log", "-1", "--format=%cI", merge).strip() == "2026-11-05T12:00:00+00:00"
    assert [p.number for p in forge.pulls_for_commit(merge)] == [number]

    revert = forge.revert_pull(number)
    assert (repo / "traffic.yaml").read_text() == "green: 0\n"
    assert git(repo, "log", "-1", "--format=%s", revert).startswith("Revert")
    assert [p.number for p in forge.pulls_for_commit(revert)] == [number]
    with pytest.raises(CheckFailed, match="merged, not open"):
        forge.merge_pull(number, title="again")


def test_a_merge_at_a_head_that_moved_is_refused(repo: Path, forge: LocalForge) -> None:
    number = proposed(forge, "rollout/chat/early", {"traffic.yaml": "green: 25\n"})
    checked = forge.branch_head("rollout/chat/early")
    assert checked is not None
    forge.move_branch("rollout/chat/early", forge.write_commit(checked, {"x": "1\n"}, "Pushed meanwhile"))
    head = forge.branch_head("main")
    with pytest.raises(CheckFailed, match=r"#1 was not merged: its branch moved after rollout checked it"):
        forge.merge_pull(number, title="Merge", sha=checked)
    assert forge.branch_head("main") == head and forge.pull(number).state == "open"


def test_a_conflicting_merge_leaves_the_default_branch_as_it_was(repo: Path, forge: LocalForge) -> None:
    number = proposed(forge, "rollout/chat/early", {"traffic.yaml": "green: 25\n"})
    (repo / "traffic.yaml").write_text("green: 1\n")
    git(repo, "commit", "-qam", "Hand edit")
    head = forge.branch_head("main")
    with pytest.raises(CheckFailed, match=r"conflict in traffic\.yaml.*rollout propose"):
        forge.merge_pull(number, title="merge")
    assert forge.branch_head("main") == head and git(repo, "status", "--porcelain") == ""
    assert forge.pull(number).state == "open"


def test_deployments_are_recorded_in_the_git_directory(forge: LocalForge) -> None:
    first = forge.start_deployment(sha="abc", environment="production", description="advance")
    forge.deployment_status(first, "in_progress", environment="production", description="applying")
    forge.deployment_status(first, "failure", environment="production", description="router down")
    second = forge.start_deployment(sha="def", environment="staging", description="rollback")
    assert (first, second) == (1, 2)
    assert [[s["state"] for s in d["statuses"]] for d in forge.deployments()] == [["in_progress", "failure"], []]


def test_outside_git_there_is_no_local_forge(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not inside a git repository"):
        LocalForge(tmp_path)


def test_a_detached_head_has_no_default_branch(repo: Path, forge: LocalForge) -> None:
    git(repo, "checkout", "-q", "--detach")
    with pytest.raises(InputError, match="detached"):
        forge.default_branch()
