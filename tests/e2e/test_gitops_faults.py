"""The GitOps loop when things go wrong: races, GitHub failing, missing permissions, conflicts, bad edits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from rollout.errors import CheckFailed
from tests.support.fake_github import PROTECTED, FakeGitHub
from tests.support.gitops import (
    ACTIONS_VARIABLES,
    GREEN,
    T0,
    GithubSite,
    Site,
    advance,
    at,
    git,
    numbers,
    open_site,
    propose,
    router_green,
    run,
    write_verdict,
)

TRAFFIC = "rollout-traffic.yaml"


@pytest.fixture(params=["local", "github"])
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    with open_site(request.param, tmp_path, T0) as opened:
        yield opened


@pytest.fixture
def github(tmp_path: Path) -> Iterator[GithubSite]:
    with FakeGitHub(tmp_path) as fake:
        yield GithubSite(tmp_path, fake, T0)


@pytest.fixture
def passing(tmp_path: Path) -> Path:
    return write_verdict(tmp_path / "pass.json", "pass")


def test_two_propose_runs_at_once_open_one_pull_request(site: Site, passing: Path) -> None:
    if isinstance(site, GithubSite):
        # both runs are likely to find no branch yet, so both try to create it
        site.fake.delay(method="GET", path=r"/git/ref/heads/rollout/", seconds=1.0)
    env = {k: v for k, v in os.environ.items() if k not in ACTIONS_VARIABLES} | site.env()
    command = [
        sys.executable,
        "-m",
        "rollout",
        "propose",
        "--plan",
        str(site.checkout / "rollout-plan.yaml"),
        "--forge",
        site.forge,
        "--verdict",
        str(passing),
        "--now",
        at(0, 1).isoformat(),
        "--json",
    ]
    runs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    results = [(p.wait(timeout=120), *p.communicate()) for p in runs]
    assert [code for code, _, _ in results] == [0, 0], results
    statuses = sorted(json.loads(out)["status"] for _, out, _ in results)
    assert statuses in (["busy", "opened"], ["opened", "unchanged"]), statuses
    assert len(site.open_pulls()) == 1


def test_github_down_exits_4_after_bounded_retries_and_writes_nothing(github: GithubSite, passing: Path) -> None:
    github.fake.fail(status=502, times=1000, message="Bad Gateway")
    result = run(github, "propose", "--verdict", str(passing), "--now", at(0, 1).isoformat())
    assert result.code == 4, result.output
    assert "GitHub did not read the repository after 3 attempts" in result.output
    assert len(github.fake.requests) == 3
    assert github.fake.branches() == ["main"] and github.fake.pulls == {}


def test_github_failing_mid_way_says_what_exists_and_a_rerun_finishes(github: GithubSite, passing: Path) -> None:
    github.fake.fail(status=500, times=1000, method="POST", path=r"/pulls$")
    first = run(github, "propose", "--verdict", str(passing), "--now", at(0, 1).isoformat())
    assert first.code == 4 and "branch rollout/chat/internal holds the proposal" in first.output
    github.fake.faults.clear()
    second = run(github, "propose", "--verdict", str(passing), "--now", at(0, 2).isoformat(), "--json")
    assert (second.code, second.json()["status"]) == (0, "opened")
    assert len(github.open_pulls()) == 1


@pytest.mark.parametrize(
    ("permission", "named"), [("contents", "contents: write"), ("pull-requests", "pull-requests: write")]
)
def test_a_token_without_permission_is_named(github: GithubSite, passing: Path, permission: str, named: str) -> None:
    github.fake.revoke(permission)
    result = run(github, "propose", "--verdict", str(passing), "--now", at(0, 1).isoformat())
    assert result.code == 4
    assert f"the token needs the '{named}' permission on acme/models" in result.output
    assert "ghs_fake_token" not in result.output
    assert github.fake.pulls == {}


def test_apply_without_deployments_permission_changes_no_traffic(github: GithubSite, passing: Path) -> None:
    data = propose(github, passing, at(0, 1))
    github.merge(data["pr"]["number"], at(0, 2))
    github.fake.revoke("deployments")
    result = run(github, "apply")
    assert result.code == 4 and "'deployments: write'" in result.output
    assert not github.router.exists()


def test_a_bad_token_is_rejected_without_showing_it(github: GithubSite, passing: Path) -> None:
    result = run(github, "propose", "--verdict", str(passing), extra_env={"GITHUB_TOKEN": "ghp_wrong_secret"})
    assert result.code == 4 and "401" in result.output and "ghp_wrong_secret" not in result.output


def test_a_merge_conflict_on_the_traffic_file_is_fixed_by_proposing_again(site: Site, passing: Path) -> None:
    advance(site, passing, at(0, 1))
    pending = propose(site, passing, at(1, 3))
    before = (site.checkout / TRAFFIC).read_text()
    edited = before.replace("weights: {blue: 95, green: 5}", "weights: {green: 5, blue: 95}")
    assert edited != before
    site.push("main", {TRAFFIC: edited}, "Reorder the weights by hand", at(1, 4))

    with pytest.raises(CheckFailed, match=rf"#{pending['pr']['number']} cannot be merged"):
        site.api().merge_pull(pending["pr"]["number"], title="merge")
    site.sync()
    assert (site.checkout / TRAFFIC).read_text() == edited

    rebuilt = propose(site, passing, at(3, 5))
    assert (rebuilt["status"], rebuilt["pr"]["number"]) == ("updated", pending["pr"]["number"])
    site.merge(pending["pr"]["number"], at(3, 6))
    assert "this push: advanced" in run(site, "apply").output
    assert router_green(site) == 25


def test_a_traffic_file_edited_into_an_invalid_state_is_refused(site: Site, passing: Path) -> None:
    advance(site, passing, at(0, 1))
    config = site.router.read_bytes()
    deployments = site.deployments()
    bad = (site.checkout / TRAFFIC).read_text().replace("green: 5}", "green: 50}")
    site.push("main", {TRAFFIC: bad}, "Give green more by hand", at(0, 5))

    result = run(site, "apply")
    assert result.code == 2
    assert "rollout-traffic.yaml:5: weights: weights add up to 145, not 100" in result.output
    assert site.router.read_bytes() == config
    assert site.deployments() == deployments


def test_a_branch_someone_else_pushed_to_is_left_alone(site: Site, passing: Path) -> None:
    first = propose(site, passing, at(0, 1))
    branch = first["branch"]
    site.push(branch, {"NOTES.md": "my own change\n"}, "A hand-made commit", at(0, 2))
    again = propose(site, passing, at(0, 3), "--json")
    assert again["status"] == "foreign" and "rollout did not make" in again["notes"][0]
    assert site.branch_file(branch, "NOTES.md") == "my own change\n"
    assert numbers(site.open_pulls()) == [first["pr"]["number"]]


def test_a_dry_run_changes_nothing(site: Site, passing: Path) -> None:
    result = propose(site, passing, at(0, 1), "--dry-run")
    assert result["status"] == "would-open" and site.open_pulls() == []
    assert site.branch_file("rollout/chat/internal", TRAFFIC) is None


def test_a_newer_decision_rebuilds_the_open_pull_request_in_place(site: Site, passing: Path, tmp_path: Path) -> None:
    first = propose(site, passing, at(0, 1))
    site.push("main", {"README.md": "hello\n"}, "Unrelated change", at(0, 2))
    later = propose(site, passing, at(0, 3) + timedelta(minutes=1))
    assert (later["status"], later["pr"]["number"]) == ("updated", first["pr"]["number"])
    assert site.branch_file(first["branch"], "README.md") == "hello\n"
    assert any("newer decision" in c for c in site.comments(first["pr"]["number"]))
    assert len(site.open_pulls()) == 1


def test_a_stale_or_uncommitted_traffic_file_proposes_nothing(site: Site, passing: Path) -> None:
    advance(site, passing, at(0, 1))
    traffic = site.checkout / TRAFFIC
    newer = traffic.read_text().replace("weights: {blue: 95, green: 5}", "weights: {green: 5, blue: 95}")
    if isinstance(site, GithubSite):
        site.fake.push("main", {TRAFFIC: newer}, "Edited on GitHub after the checkout")
    else:
        traffic.write_text(newer)
    result = run(site, "propose", "--verdict", str(passing), "--now", at(5).isoformat())
    assert result.code == 1 and "rollout-traffic.yaml in this checkout differs from the one on main" in result.output
    assert site.open_pulls() == []


def test_a_shallow_checkout_is_refused_before_anything_happens(
    github: GithubSite, passing: Path, tmp_path: Path
) -> None:
    data = propose(github, passing, at(0, 1))
    github.merge(data["pr"]["number"], at(0, 2))
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{github.fake.bare}", str(shallow))
    github.checkout = shallow
    proposed = run(github, "propose", "--verdict", str(passing), "--now", at(3).isoformat())
    assert proposed.code == 2 and "fetch-depth: 0" in proposed.output
    applied = run(github, "apply")
    assert applied.code == 2 and "cannot tell what this push changed" in applied.output
    assert not github.router.exists() and github.fake.deployments == []


def test_every_write_answered_502_after_it_took_effect_still_happens_once(github: GithubSite, passing: Path) -> None:
    github.fake.ambiguous_writes = True
    opened = propose(github, passing, at(0, 1))
    assert (opened["exit"], opened["status"]) == (0, "opened"), opened
    number = opened["pr"]["number"]
    stored = github.fake.pulls[number]
    assert list(github.fake.pulls) == [number]
    assert (stored["labels"], stored["reviewers"], stored["teams"]) == (
        ["rollout", "stage:internal"],
        ["alice"],
        ["ml-oncall"],
    )
    assert github.comments(number) == []

    github.merge(number, at(0, 2))
    applied = run(github, "apply")
    assert applied.code == 0 and "this push: advanced" in applied.output, applied.output
    [report] = github.comments(number)
    assert report.startswith(f"Applied `{github.fake.head()[:12]}` to `rollout-chat-internal`")  # type: ignore[index]
    assert github.deployments() == [("rollout-chat-internal", ["in_progress", "success"])]

    rolled = run(github, "rollback", "--reason", "bad answers", "--auto-merge", "--json", "--now", at(0, 5).isoformat())
    assert (rolled.code, rolled.json()["status"]) == (0, "merged"), rolled.output
    github.sync()
    assert "this push: rolled-back" in run(github, "apply").output
    assert len(github.fake.pulls) == 2 and github.open_pulls() == [] and router_green(github) == 0
    assert [len(github.comments(n)) for n in github.fake.pulls] == [1, 1]
    assert github.deployments() == [
        ("rollout-chat-internal", ["in_progress", "success"]),
        ("rollout-chat-internal", ["in_progress", "success"]),
    ]
    answered = [(e.method, e.target.split("?")[0].split("/")[-1]) for e in github.fake.exchanges if e.status == 502]
    assert len(answered) == len(github.fake.written) and ("PUT", "merge") in answered, answered


def test_a_pull_request_from_a_deleted_fork_on_our_branch_name_is_never_touched(
    github: GithubSite, passing: Path
) -> None:
    github.fake.now = at(0, 1)
    fork = github.fake.fork_pull("rollout/chat/internal", {"rollout-traffic.yaml": "weights: {blue: 0, green: 100}\n"})
    data = propose(github, passing, at(0, 1))
    assert (data["exit"], data["status"], data["branch"]) == (0, "opened", "rollout/chat/internal-2"), data
    assert any(f"left #{fork} alone: its head is in a deleted fork" in note for note in data["notes"])
    again = propose(github, passing, at(0, 2))
    assert (again["status"], again["pr"]["number"]) == ("unchanged", data["pr"]["number"])
    stored = github.fake.pulls[fork]
    assert stored["state"] == "open" and stored["title"] == "Change from mallory" and github.comments(fork) == []


def test_an_auto_merged_rollback_never_merges_a_forks_pull_request(tmp_path: Path, passing: Path) -> None:
    failing = write_verdict(tmp_path / "fail.json", "fail")
    with FakeGitHub(tmp_path) as fake:
        site = GithubSite(tmp_path, fake, T0, rollback="auto-merge")
        advance(site, passing, at(0, 1))
        fork = fake.fork_pull(f"rollout/chat/rollback-{GREEN}", {"evil.txt": "x\n"})
        rolled = propose(site, failing, at(0, 6))
        assert (rolled["exit"], rolled["status"]) == (1, "merged"), rolled
        assert rolled["branch"] == f"rollout/chat/rollback-{GREEN}-2"
        assert fake.pulls[fork]["state"] == "open" and fake.show("main", "evil.txt") is None
        assert site.comments(fork) == []


@pytest.mark.parametrize(
    ("refusal", "code", "said"),
    [
        ("protected", 4, "protection rules or rulesets ask for more than rollout gives; to let rollout merge"),
        ("pushed", 1, "was not merged: its branch moved after rollout checked it (409: Head branch was modified"),
    ],
)
def test_an_auto_merge_github_refuses_says_why_and_leaves_the_rollback_open(
    tmp_path: Path, passing: Path, refusal: str, code: int, said: str
) -> None:
    with FakeGitHub(tmp_path) as fake:
        site = GithubSite(tmp_path, fake, T0)
        advance(site, passing, at(0, 1))
        if refusal == "protected":
            fake.fail(status=405, times=100, method="PUT", path=r"/merge$", message=PROTECTED)
        else:
            branch = f"rollout/chat/rollback-{GREEN}"
            fake.before(method="PUT", path=r"/merge$", action=lambda: fake.push(branch, {"x": "1\n"}, "Pushed"))
        head = fake.head()
        result = run(site, "rollback", "--reason", "bad answers", "--auto-merge", "--now", at(0, 5).isoformat())
        assert result.code == code and said in result.output, result.output
        assert fake.head() == head and [p["branch"] for p in site.open_pulls()] == [f"rollout/chat/rollback-{GREEN}"]
