"""Keep the fake GitHub honest: everything the forge sends and the fake answers must fit GitHub's own
OpenAPI description (`@octokit/openapi`, pinned, installed by scripts/setup), for github.com and for the
oldest GitHub Enterprise Server supported (3.17).

The description is silent on some of what GitHub really sends; those exchanges are listed in SILENT,
each with what GitHub does, and the test fails both on a new gap and on a listed one no longer seen.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rollout.errors import RolloutError
from rollout.forge.github import GithubForge, github_forge
from tests.support.fake_github import (
    BASE_MODIFIED,
    HEAD_MODIFIED,
    LARGE_FILE,
    PROTECTED,
    Exchange,
    FakeGitHub,
)
from tests.support.gitops import T0, GithubSite, advance, at, write_verdict
from tests.support.openapi import SERVERS, VERSION, Description, Finding, description, package_dir

SILENT: dict[tuple[str, str, int], str] = {
    # (method, path template, status) -> what GitHub does that its description does not say
    ("GET", "/repos/{owner}/{repo}", 503): "any endpoint may answer 5xx (502 from its gateway, 503 when busy)",
    ("POST", "/repos/{owner}/{repo}/pulls", 502): "a 502 can come after the pull request was created",
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", 502): "a 502 can come after the comment was made",
    ("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/merge", 502): "a 502 can come after the merge",
    ("POST", "/repos/{owner}/{repo}/deployments", 502): "a 502 can come after the deployment was created",
    ("GET", "/repos/{owner}/{repo}/git/ref/{ref}", 429): "the secondary rate limit answers 429 with Retry-After",
    ("GET", "/repos/{owner}/{repo}/git/ref/{ref}", 403): "rate limits answer 403 on endpoints that document none",
    ("GET", "/repos/{owner}/{repo}/pulls", 200): "a pull request from a deleted fork has `head.repo: null`",
}
# Documented without a body, so not checked: the 422 of a review request (GitHub sends `errors` as bare
# strings there: "Could not resolve to a node with the global id of 'T_...'" for a team it cannot see).


@pytest.fixture(scope="module")
def descriptions() -> list[Description]:
    if not (package_dir() / "package.json").exists():
        pytest.fail(
            f"the npm package @octokit/openapi is not at {package_dir()}: run scripts/setup or set OCTOKIT_OPENAPI"
        )
    return [description(name) for name in SERVERS]


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeGitHub]:
    with FakeGitHub(tmp_path) as server:
        server.push("main", {"README.md": "hello\n", "big.bin": "x" * (LARGE_FILE + 10)}, "First commit")
        yield server


@pytest.fixture
def forge(fake: FakeGitHub) -> GithubForge:
    return github_forge(fake.env(), sleep=lambda seconds: None)


def findings(exchanges: list[Exchange], descriptions: list[Description], prefix: str = "") -> list[Finding]:
    return [f for d in descriptions for e in exchanges for f in d.check(e, prefix=prefix)]


def unexplained(found: list[Finding]) -> list[str]:
    return sorted({str(f) for f in found if (f.method, f.template, f.status) not in SILENT})


def test_the_installed_description_is_the_pinned_release(descriptions: list[Description]) -> None:
    assert [d.version for d in descriptions] == [VERSION] * len(SERVERS)
    installed = json.loads((package_dir() / "package.json").read_text())["version"]
    assert installed == VERSION, "scripts/setup pins @octokit/openapi; update VERSION with it"


def test_a_request_or_answer_off_the_description_is_reported(descriptions: list[Description]) -> None:
    wrong = [
        Exchange("POST", "/repos/acme/models/pulls", {"head": "x", "title": 7}, 201, {"number": 1}, {}),
        Exchange("GET", "/repos/acme/models/git/ref/heads/a/b", None, 200, {"ref": "refs/heads/a/b"}, {}),
        Exchange("PUT", "/repos/acme/models/pulls/1/merge", {"merge_method": "octopus"}, 200, {}, {}),
        Exchange("GET", "/repos/acme/models/no/such/thing", None, 200, {}, {}),
    ]
    for one in descriptions:
        found = [str(f) for f in findings(wrong, [one])]
        assert any(
            "request: title: 7 is not of type 'string'; (body): 'base' is a required property" in f for f in found
        ), found
        assert any("POST /repos/{owner}/{repo}/pulls -> 201: response" in f for f in found), found
        assert any("/git/ref/{ref} -> 200: response: (body): 'node_id' is a required property" in f for f in found)
        assert any("merge -> 200: request: merge_method: 'octopus' is not one of" in f for f in found), found
        assert any("/repos/acme/models/no/such/thing -> 200: path: no such operation" in f for f in found), found


def _attempt(call: Callable[[], object]) -> None:
    """Run a forge call whose failure is the point: only the exchanges matter here."""
    with contextlib.suppress(RolloutError):
        call()


def test_every_exchange_of_the_forge_fits_the_description(
    fake: FakeGitHub, forge: GithubForge, descriptions: list[Description]
) -> None:
    base = forge.branch_head("main")
    assert base is not None and forge.default_branch() == "main"
    sha = forge.write_commit(
        base, {"dir/new.yaml": "a: 1\n", "README.md": None}, "Change\n\nRollout-Proposal: 0123456789abcdef"
    )
    assert forge.read_file("dir/new.yaml", sha) == "a: 1\n" and forge.read_file("missing", sha) is None
    forge.read_file("big.bin", sha)
    forge.commit(sha)
    assert forge.create_branch("rollout/chat/early", sha) and not forge.create_branch("rollout/chat/early", sha)
    forge.move_branch("rollout/chat/early", sha)

    fake.fail(status=502, method="POST", path=r"/pulls$", applied=True, message="Bad Gateway")
    pull, _ = forge.open_pull(
        branch="rollout/chat/early",
        base="main",
        title="t",
        body="b",
        labels=["rollout"],
        reviewers=["alice", "acme/oncall"],
    )
    forge.open_pull(branch="rollout/chat/early", base="main", title="t", body="b", labels=[], reviewers=[])
    fake.teams.clear()
    forge.create_branch("rollout/chat/x", sha)
    _attempt(
        lambda: forge.open_pull(
            branch="rollout/chat/x", base="main", title="t", body="", labels=[], reviewers=["acme/oncall"]
        )
    )
    fake.fork_pull("rollout/chat/rollback-x", {"evil.txt": "x\n"})
    fake.fork_pull("rollout/chat/other", {"evil.txt": "y\n"}, deleted=False)
    fake.seed_pulls(3)
    forge.open_pulls("rollout/")
    forge.update_pull(pull.number, title="t2", body="b2")
    fake.fail(status=502, method="POST", path=r"/comments$", applied=True, message="Bad Gateway")
    forge.comment(pull.number, "hello")

    for status, message in ((405, BASE_MODIFIED), (405, PROTECTED), (409, HEAD_MODIFIED)):
        fake.fail(status=status, times=1, method="PUT", path=r"/merge$", message=message)
        _attempt(lambda: forge.merge_pull(pull.number, title="merge"))
    fake.fail(status=502, method="PUT", path=r"/merge$", applied=True, message="Bad Gateway")
    merged = forge.merge_pull(pull.number, title="merge", sha=sha)
    forge.pulls_for_commit(merged)

    fake.fail(status=502, method="POST", path=r"/deployments$", applied=True, message="Bad Gateway")
    deployment = forge.start_deployment(sha=merged, environment="production", description="advance")
    forge.deployment_status(deployment, "success", environment="production", description="done")
    fake.fail(status=202, method="POST", path=r"/deployments$", message="Auto-merged main into topic on deployment.")
    _attempt(lambda: forge.start_deployment(sha=merged, environment="production", description="again"))

    fake.rate_limit("secondary", wait=1, status=403)
    fake.rate_limit("secondary", wait=1, status=429)
    forge.branch_head("main")
    fake.fail(status=503, method="GET", path=r"/models$")
    forge.default_branch()

    found = findings(fake.exchanges, descriptions)
    assert unexplained(found) == []
    seen = {(f.method, f.template, f.status) for f in found}
    assert sorted(set(SILENT) - seen) == [], "a gap listed in SILENT is no longer seen: remove it"


def test_a_whole_rollout_over_github_enterprise_fits_the_description(
    tmp_path: Path, descriptions: list[Description]
) -> None:
    with FakeGitHub(tmp_path, api_prefix="/api/v3") as fake:
        site = GithubSite(tmp_path, fake, T0)
        passing = write_verdict(tmp_path / "pass.json", "pass")
        advance(site, passing, at(0, 1))
        advance(site, passing, at(1, 3))
        found = findings(fake.exchanges, descriptions, prefix="/api/v3")
    assert len(fake.exchanges) > 20 and unexplained(found) == []
