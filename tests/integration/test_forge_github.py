"""The github forge through ghapi's real HTTP stack against the fake GitHub on loopback.

Waiting is injected: `sleep` records what the forge would have slept, so rate-limit tests take no time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from rollout.errors import CheckFailed, ExternalError, InputError
from rollout.forge.github import GITHUB_POLICY, GithubForge, github_forge
from tests.support.fake_github import (
    ACTIONS_MAY_NOT_OPEN,
    BASE_MODIFIED,
    LARGE_FILE,
    PROTECTED,
    RULESET,
    TOKEN,
    FakeGitHub,
)
from tests.support.net import free_port


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeGitHub]:
    with FakeGitHub(tmp_path) as server:
        server.push("main", {"README.md": "hello\n", "old.txt": "bye\n"}, "First commit")
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def forge(fake: FakeGitHub, sleeps: list[float]) -> GithubForge:
    return github_forge(fake.env(), sleep=sleeps.append)


def test_git_data_branches_and_files(fake: FakeGitHub, forge: GithubForge) -> None:
    assert forge.default_branch() == "main"
    base = forge.branch_head("main")
    assert base is not None and base == fake.head() and forge.branch_head("missing") is None
    sha = forge.write_commit(base, {"dir/new.yaml": "a: 1\n", "old.txt": None}, "Change files\n\nTrailer: x")
    commit = forge.commit(sha)
    assert commit.parents == (base,) and commit.message == "Change files\n\nTrailer: x"
    assert forge.read_file("dir/new.yaml", sha) == "a: 1\n"
    assert forge.read_file("old.txt", sha) is None and forge.read_file("README.md", sha) == "hello\n"
    assert forge.read_file("dir", sha) is None

    assert forge.create_branch("rollout/chat/early", sha) is True
    assert forge.create_branch("rollout/chat/early", base) is False
    assert fake.head("rollout/chat/early") == sha
    forge.move_branch("rollout/chat/early", base)
    assert fake.head("rollout/chat/early") == base


def test_pull_requests_from_open_to_merged(fake: FakeGitHub, forge: GithubForge) -> None:
    base = forge.branch_head("main")
    assert base is not None
    forge.create_branch("rollout/chat/early", forge.write_commit(base, {"t.yaml": "x\n"}, "m"))
    pull, created = forge.open_pull(
        branch="rollout/chat/early",
        base="main",
        title="t",
        body="b",
        labels=["rollout", "stage:early"],
        reviewers=["alice", "acme/oncall"],
    )
    again, created_again = forge.open_pull(
        branch="rollout/chat/early", base="main", title="t", body="b", labels=[], reviewers=[]
    )
    assert (created, created_again, again.number) == (True, False, pull.number)
    stored = fake.pulls[pull.number]
    assert stored["labels"] == ["rollout", "stage:early"]
    assert (stored["reviewers"], stored["teams"]) == (["alice"], ["oncall"])
    assert [p.number for p in forge.open_pulls("rollout/chat/")] == [pull.number]
    assert forge.open_pulls("rollout/other/") == []

    forge.update_pull(pull.number, title="t2", body="b2")
    forge.comment(pull.number, "hello")
    assert (fake.pulls[pull.number]["title"], fake.shown_comments(pull.number)) == ("t2", ["hello"])

    merged = forge.merge_pull(pull.number, title="Merge it")
    assert fake.head() == merged and len(forge.commit(merged).parents) == 2
    found = forge.pulls_for_commit(merged)
    assert [(p.number, p.state, p.merge_sha) for p in found] == [(pull.number, "merged", merged)]
    assert forge.open_pulls("rollout/") == []


def test_closing_comments_first(fake: FakeGitHub, forge: GithubForge) -> None:
    base = forge.branch_head("main")
    assert base is not None
    forge.create_branch("rollout/chat/x", forge.write_commit(base, {"a": "1\n"}, "m"))
    pull, _ = forge.open_pull(branch="rollout/chat/x", base="main", title="t", body="", labels=[], reviewers=[])
    forge.close_pull(pull.number, comment="no longer holds")
    assert fake.pulls[pull.number]["state"] == "closed" and fake.shown_comments(pull.number) == ["no longer holds"]


def test_a_conflicting_merge_is_a_check_failure(fake: FakeGitHub, forge: GithubForge) -> None:
    base = forge.branch_head("main")
    assert base is not None
    forge.create_branch("rollout/chat/x", forge.write_commit(base, {"README.md": "ours\n"}, "m"))
    pull, _ = forge.open_pull(branch="rollout/chat/x", base="main", title="t", body="", labels=[], reviewers=[])
    fake.push("main", {"README.md": "theirs\n"}, "Edit by hand")
    head = fake.head()
    with pytest.raises(CheckFailed, match=r"cannot be merged.*rollout propose"):
        forge.merge_pull(pull.number, title="merge")
    assert fake.head() == head


def test_deployments_and_their_statuses(fake: FakeGitHub, forge: GithubForge) -> None:
    sha = fake.head()
    assert sha is not None
    deployment = forge.start_deployment(sha=sha, environment="production", description="advance")
    forge.deployment_status(deployment, "in_progress", environment="production", description="applying")
    forge.deployment_status(deployment, "success", environment="production", description="x" * 500)
    assert fake.deployments[0]["environment"] == "production" and fake.deployments[0]["sha"] == sha
    states = fake.statuses[deployment]
    assert [s["state"] for s in states] == ["in_progress", "success"] and len(states[1]["description"]) == 140


def test_server_errors_are_retried_with_growing_waits(
    fake: FakeGitHub, forge: GithubForge, sleeps: list[float]
) -> None:
    fake.fail(status=503, times=2)
    assert forge.default_branch() == "main"
    assert sleeps == [1.0, 2.0]


def test_the_primary_rate_limit_waits_until_its_reset(
    fake: FakeGitHub, forge: GithubForge, sleeps: list[float]
) -> None:
    fake.rate_limit("primary", wait=30)
    assert forge.branch_head("main") == fake.head()
    assert len(sleeps) == 1 and 28 <= sleeps[0] <= 32


def test_the_secondary_rate_limit_honours_retry_after(
    fake: FakeGitHub, forge: GithubForge, sleeps: list[float]
) -> None:
    fake.rate_limit("secondary", wait=7)
    assert forge.default_branch() == "main"
    assert sleeps == [7.0]


def test_a_wait_beyond_the_budget_gives_up_at_once(fake: FakeGitHub, sleeps: list[float]) -> None:
    forge = github_forge(fake.env(), sleep=sleeps.append, policy=replace(GITHUB_POLICY, max_wait=60))
    fake.rate_limit("primary", wait=3600)
    with pytest.raises(ExternalError, match="beyond the limit of 60s"):
        forge.default_branch()
    assert sleeps == []


def test_a_server_that_keeps_failing_stops_after_the_attempts(
    fake: FakeGitHub, forge: GithubForge, sleeps: list[float]
) -> None:
    fake.fail(status=500, times=100)
    with pytest.raises(ExternalError, match="after 5 attempts"):
        forge.default_branch()
    assert sleeps == [1.0, 2.0, 4.0, 8.0]


def test_no_server_at_all_is_an_external_error(sleeps: list[float]) -> None:
    env = {
        "GITHUB_REPOSITORY": "acme/models",
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_API_URL": f"http://127.0.0.1:{free_port()}",
    }
    forge = github_forge(env, sleep=sleeps.append, policy=replace(GITHUB_POLICY, retries=1))
    with pytest.raises(ExternalError, match="no answer"):
        forge.default_branch()
    assert sleeps == [1.0]


@pytest.mark.parametrize(
    ("permission", "call", "named"),
    [
        ("contents", lambda f, sha: f.create_branch("b", sha), "contents: write"),
        ("pull-requests", lambda f, sha: f.comment(1, "x"), "pull-requests: write"),
        (
            "deployments",
            lambda f, sha: f.start_deployment(sha=sha, environment="e", description="d"),
            "deployments: write",
        ),
    ],
)
def test_a_missing_permission_is_named(
    fake: FakeGitHub, forge: GithubForge, sleeps: list[float], permission: str, call: object, named: str
) -> None:
    fake.revoke(permission)
    with pytest.raises(ExternalError, match=f"needs the '{named}' permission on acme/models") as raised:
        call(forge, fake.head())  # type: ignore[operator]
    assert TOKEN not in str(raised.value) and sleeps == []


def test_a_rejected_token_is_not_shown(fake: FakeGitHub) -> None:
    forge = github_forge({**fake.env(), "GITHUB_TOKEN": "ghp_secret_value"})
    with pytest.raises(ExternalError, match="401") as raised:
        forge.default_branch()
    assert "ghp_secret_value" not in str(raised.value)


def test_github_enterprise_serves_the_api_under_a_path(tmp_path: Path) -> None:
    with FakeGitHub(tmp_path, api_prefix="/api/v3") as server:
        server.push("main", {"a": "1\n"}, "First")
        assert github_forge(server.env()).branch_head("main") == server.head()


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"GITHUB_TOKEN": "t"}, "GITHUB_REPOSITORY"),
        ({"GITHUB_REPOSITORY": "acme/models"}, "GITHUB_TOKEN"),
        (
            {"GITHUB_REPOSITORY": "acme/models", "GITHUB_TOKEN": "t", "ROLLOUT_GITHUB_MAX_WAIT": "soon"},
            "ROLLOUT_GITHUB_MAX_WAIT",
        ),
    ],
)
def test_missing_settings_are_input_errors(env: dict[str, str], named: str) -> None:
    with pytest.raises(InputError, match=named):
        github_forge(env)


def test_the_token_passed_in_wins_over_the_environment(fake: FakeGitHub) -> None:
    forge = github_forge({**fake.env(), "GITHUB_TOKEN": "stale"}, token=TOKEN)
    assert forge.default_branch() == "main"


def _proposal_branch(forge: GithubForge, branch: str = "rollout/chat/x", files: dict[str, str] | None = None) -> str:
    base = forge.branch_head("main")
    assert base is not None
    sha = forge.write_commit(base, files or {"a": "1\n"}, "m\n\nRollout-Proposal: 0123456789abcdef")
    assert forge.create_branch(branch, sha)
    return sha


def test_one_bad_reviewer_does_not_drop_the_others(fake: FakeGitHub, forge: GithubForge) -> None:
    _proposal_branch(forge)
    fake.teams = {"oncall"}  # the token cannot see acme/ml-oncall, as without `members: read`
    pull, created = forge.open_pull(
        branch="rollout/chat/x",
        base="main",
        title="t",
        body="",
        labels=["rollout"],
        reviewers=["alice", "mallory", "acme/oncall", "acme/ml-oncall"],
    )
    stored = fake.pulls[pull.number]
    assert created and stored["labels"] == ["rollout"]
    assert (stored["reviewers"], stored["teams"]) == (["alice"], ["oncall"])
    [said] = fake.shown_comments(pull.number)
    lines = said.splitlines()
    assert lines[0] == "Could not request reviews from:" and len(lines) == 3
    assert lines[1].startswith("- `mallory`: Reviews may only be requested from collaborators.")
    assert lines[2].startswith("- `acme/ml-oncall`: the token cannot see this team (Validation Failed: Could not")
    assert "Members: read" in lines[2]


def test_each_write_answered_502_after_it_took_effect_happens_once(
    fake: FakeGitHub, forge: GithubForge, sleeps: list[float]
) -> None:
    for method, path in [
        ("POST", r"/git/refs$"),
        ("POST", r"/pulls$"),
        ("POST", r"/labels$"),
        ("POST", r"/requested_reviewers$"),
        ("POST", r"/comments$"),
        ("PUT", r"/merge$"),
        ("POST", r"/deployments$"),
        ("POST", r"/statuses$"),
    ]:
        fake.fail(status=502, method=method, path=path, applied=True, message="Bad Gateway")
    sha = _proposal_branch(forge)
    assert fake.head("rollout/chat/x") == sha
    pull, created = forge.open_pull(
        branch="rollout/chat/x", base="main", title="t", body="b", labels=["rollout"], reviewers=["alice"]
    )
    forge.comment(pull.number, "report")
    merged = forge.merge_pull(pull.number, title="Merge it", sha=sha)
    deployment = forge.start_deployment(sha=merged, environment="production", description="advance")
    forge.deployment_status(deployment, "in_progress", environment="production", description="applying")
    forge.deployment_status(deployment, "success", environment="production", description="applied")

    assert created and list(fake.pulls) == [pull.number]
    stored = fake.pulls[pull.number]
    assert (stored["labels"], stored["reviewers"]) == (["rollout"], ["alice"])
    assert fake.shown_comments(pull.number) == ["report"]
    assert stored["merge_commit_sha"] == merged == fake.head()
    assert [d["id"] for d in fake.deployments] == [deployment]
    assert [s["state"] for s in fake.statuses[deployment]] == ["in_progress", "success"]
    assert all(f.times == 0 for f in fake.faults) and sleeps == [1.0] * 8


def test_a_branch_another_run_created_during_an_ambiguous_failure_is_theirs(
    fake: FakeGitHub, forge: GithubForge
) -> None:
    base = fake.head()
    assert base is not None
    fake.before(method="POST", path=r"/git/refs$", action=lambda: fake.push("rollout/chat/x", {"b": "2\n"}, "Theirs"))
    fake.fail(status=502, method="POST", path=r"/git/refs$", message="Bad Gateway")
    assert forge.create_branch("rollout/chat/x", base) is False
    assert fake.head("rollout/chat/x") not in (base, None)


def test_pull_requests_from_forks_are_foreign(fake: FakeGitHub, forge: GithubForge) -> None:
    _proposal_branch(forge, "rollout/chat/early")
    ours, _ = forge.open_pull(branch="rollout/chat/early", base="main", title="t", body="", labels=[], reviewers=[])
    gone = fake.fork_pull("rollout/chat/rollback-x", {"evil.txt": "x\n"})
    live = fake.fork_pull("rollout/chat/early", {"evil.txt": "y\n"}, deleted=False)
    found = {p.number: p.foreign for p in forge.open_pulls("rollout/chat/")}
    assert found == {ours.number: None, gone: "a deleted fork", live: "mallory/models"}


def test_open_pulls_reads_every_page(fake: FakeGitHub, forge: GithubForge) -> None:
    _proposal_branch(forge)
    pull, _ = forge.open_pull(branch="rollout/chat/x", base="main", title="t", body="", labels=[], reviewers=[])
    fake.seed_pulls(230)
    assert [p.number for p in forge.open_pulls("rollout/")] == [pull.number]
    pages = [target for method, target in fake.requests if method == "GET" and target.endswith("/pulls")]
    assert len(pages) == 3


def test_a_merge_waits_out_a_base_branch_being_modified(
    fake: FakeGitHub, forge: GithubForge, sleeps: list[float]
) -> None:
    sha = _proposal_branch(forge)
    pull, _ = forge.open_pull(branch="rollout/chat/x", base="main", title="t", body="", labels=[], reviewers=[])
    fake.fail(status=405, times=2, method="PUT", path=r"/merge$", message=BASE_MODIFIED)
    assert forge.merge_pull(pull.number, title="m", sha=sha) == fake.head()
    assert sleeps == [1.0, 2.0]


@pytest.mark.parametrize("message", [PROTECTED, RULESET])
def test_a_merge_refused_by_protection_names_what_to_change(
    fake: FakeGitHub, forge: GithubForge, sleeps: list[float], message: str
) -> None:
    sha = _proposal_branch(forge)
    pull, _ = forge.open_pull(branch="rollout/chat/x", base="main", title="t", body="", labels=[], reviewers=[])
    head = fake.head()
    fake.fail(status=405, times=100, method="PUT", path=r"/merge$", message=message)
    with pytest.raises(ExternalError, match=r"protection rules or rulesets .* bypass list \(docs/setup.md\)") as raised:
        forge.merge_pull(pull.number, title="m", sha=sha)
    assert message.splitlines()[0] in str(raised.value) and sleeps == [] and fake.head() == head


def test_a_push_between_the_check_and_the_merge_is_not_merged(fake: FakeGitHub, forge: GithubForge) -> None:
    sha = _proposal_branch(forge)
    pull, _ = forge.open_pull(branch="rollout/chat/x", base="main", title="t", body="", labels=[], reviewers=[])
    head = fake.head()
    fake.before(method="PUT", path=r"/merge$", action=lambda: fake.push("rollout/chat/x", {"x": "1\n"}, "Sneaky"))
    with pytest.raises(CheckFailed, match=r"#1 was not merged: its branch moved .*409: Head branch was modified"):
        forge.merge_pull(pull.number, title="m", sha=sha)
    assert fake.head() == head and fake.pulls[pull.number]["state"] == "open"


def test_a_refused_pull_request_shows_githubs_errors(fake: FakeGitHub, forge: GithubForge) -> None:
    with pytest.raises(
        ExternalError, match=r"from rollout/chat/none \(422: Validation Failed: PullRequest head invalid\)"
    ):
        forge.open_pull(branch="rollout/chat/none", base="main", title="t", body="", labels=[], reviewers=[])


def test_actions_not_allowed_to_open_pull_requests_names_the_setting(fake: FakeGitHub, forge: GithubForge) -> None:
    _proposal_branch(forge)
    fake.fail(status=403, method="POST", path=r"/pulls$", message=ACTIONS_MAY_NOT_OPEN)
    with pytest.raises(
        ExternalError, match=r"Workflow permissions .* allow GitHub Actions to create and approve"
    ) as raised:
        forge.open_pull(branch="rollout/chat/x", base="main", title="t", body="", labels=[], reviewers=[])
    assert "pull-requests: write" not in str(raised.value)


def test_a_file_over_a_megabyte_is_read_from_its_blob(fake: FakeGitHub, forge: GithubForge) -> None:
    text = "weights: {blue: 95, green: 5}\n" * 40_000
    sha = fake.push("main", {"big.yaml": text}, "A big file")
    assert len(text) > LARGE_FILE and forge.read_file("big.yaml", sha) == text


def test_a_deployment_answered_202_says_nothing_was_recorded(fake: FakeGitHub, forge: GithubForge) -> None:
    sha = fake.head()
    assert sha is not None
    fake.fail(status=202, method="POST", path=r"/deployments$", message="Auto-merged main into topic on deployment.")
    with pytest.raises(ExternalError, match=r"recorded no deployment of .* \(202: Auto-merged main"):
        forge.start_deployment(sha=sha, environment="production", description="advance")
    assert fake.deployments == []


def test_the_secondary_rate_limit_as_a_403_is_waited_out(
    fake: FakeGitHub, forge: GithubForge, sleeps: list[float]
) -> None:
    fake.rate_limit("secondary", wait=9, status=403)
    assert forge.default_branch() == "main"
    assert sleeps == [9.0]
