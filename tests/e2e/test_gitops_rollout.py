"""The whole GitOps loop over both forges: propose, merge, apply, soak, revert, roll back.

Soak time is simulated with commit dates (merges are committed "at" a time) and `--now`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gitops import (
    GREEN,
    T0,
    Site,
    advance,
    at,
    numbers,
    open_site,
    propose,
    router_green,
    run,
    write_verdict,
)

ROLLBACK_BRANCH = f"rollout/chat/rollback-{GREEN}"


@pytest.fixture(params=["local", "github"])
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    with open_site(request.param, tmp_path, T0) as opened:
        yield opened


@pytest.fixture
def passing(tmp_path: Path) -> Path:
    return write_verdict(tmp_path / "pass.json", "pass")


@pytest.fixture
def failing(tmp_path: Path) -> Path:
    return write_verdict(tmp_path / "fail.json", "fail")


def test_a_full_rollout_takes_four_merged_pull_requests(site: Site, passing: Path) -> None:
    first = propose(site, passing, at(0, 1))
    assert first["decision"]["action"] == "advance" and first["status"] == "opened"
    assert first["pr"]["title"] == f"rollout(chat): 5% -> green {GREEN} [internal]"
    number = first["pr"]["number"]
    assert sorted(site.labels(number)) == ["rollout", "stage:internal"]
    assert "weights: {blue: 95, green: 5}" in (site.branch_file("rollout/chat/internal", "rollout-traffic.yaml") or "")
    record = site.branch_file("rollout/chat/internal", "rollout-records/chat/0001-internal.json")
    assert record is not None and json.loads(record)["verdict"]["outcome"] == "pass"

    again = propose(site, passing, at(0, 2))
    assert again["status"] == "unchanged" and numbers(site.open_pulls()) == [number]

    site.merge(number, at(0, 3))
    assert "this push: advanced" in run(site, "apply").output
    assert router_green(site) == 5
    assert site.deployments() == [("rollout-chat-internal", ["in_progress", "success"])]
    assert any("advanced green" in c for c in site.comments(number))

    waiting = propose(site, passing, at(0, 12))
    assert (waiting["exit"], waiting["decision"]["action"], site.open_pulls()) == (3, "hold", [])

    advance(site, passing, at(1, 4))
    assert router_green(site) == 25
    advance(site, passing, at(3, 6))
    assert router_green(site) == 75
    last = advance(site, passing, at(7, 8))
    assert router_green(site) == 100
    assert [env for env, _ in site.deployments()] == [
        "rollout-chat-internal",
        "rollout-chat-early",
        "production",
        "production",
    ]
    assert all(states == ["in_progress", "success"] for _, states in site.deployments())
    assert last == 4 if site.forge == "local" else last >= 4

    done = propose(site, passing, at(15, 9))
    assert done["decision"]["action"] == "complete" and site.open_pulls() == []
    retire = propose(site, passing, at(21, 10))
    assert retire["decision"]["action"] == "decommission" and retire["status"] == "opened"
    plan = site.branch_file(retire["branch"], "rollout-plan.yaml") or ""
    assert f"name: {GREEN}" in plan and "green:" not in plan and "# The plan for the test rollout." in plan

    site.merge(retire["pr"]["number"], at(21, 11))
    applied = run(site, "apply")
    assert applied.code == 0 and "this push: decommissioned" in applied.output, applied.output
    assert router_green(site) == 0
    final = propose(site, passing, at(22))
    assert (final["exit"], final["decision"]["action"], site.open_pulls()) == (0, "complete", [])


def test_reverting_the_stage_3_pull_request_restores_stage_2(site: Site, passing: Path) -> None:
    advance(site, passing, at(0, 1))
    advance(site, passing, at(1, 2))
    third = advance(site, passing, at(3, 3))
    assert router_green(site) == 75

    site.revert(third, at(4))
    applied = run(site, "apply")
    assert applied.code == 0 and "this push: rolled-back" in applied.output
    assert router_green(site) == 25
    assert site.deployments()[-1] == ("production", ["in_progress", "success"])
    status = run(site, "status", "--json").json()
    assert (status["stage"], status["weights"]["green"]) == ("early", 25)


def test_a_failed_gate_opens_a_rollback_and_the_version_is_never_proposed_again(
    site: Site, passing: Path, failing: Path
) -> None:
    advance(site, passing, at(0, 1))
    pending = propose(site, passing, at(1, 2))
    assert pending["status"] == "opened"

    rolled = propose(site, failing, at(1, 3))
    assert (rolled["exit"], rolled["decision"]["action"], rolled["branch"]) == (1, "rollback", ROLLBACK_BRANCH)
    assert rolled["closed"] == [pending["pr"]["number"]]
    assert any("no longer holds" in c for c in site.comments(pending["pr"]["number"]))
    assert numbers(site.open_pulls()) == [rolled["pr"]["number"]]
    body = site.open_pulls()[0]["body"]
    assert "latency" in body and "rejected" in body

    site.merge(rolled["pr"]["number"], at(1, 4))
    applied = run(site, "apply")
    assert "this push: rolled-back" in applied.output and router_green(site) == 0
    assert f"rejected: [{GREEN}]" in (site.checkout / "rollout-traffic.yaml").read_text()

    for day in (2, 9, 30):
        after = propose(site, passing, at(day))
        assert (after["exit"], after["decision"]["action"]) == (3, "hold"), after
        assert "rejected" in after["decision"]["reason"]
    assert site.open_pulls() == []


def test_manual_rollback_with_auto_merge_applies_on_the_next_apply(site: Site, passing: Path, tmp_path: Path) -> None:
    advance(site, passing, at(0, 1))
    report = tmp_path / "report.md"
    report.write_text("## Gate report\n\nquality: **fail** (-0.08, 95% CI [-0.12, -0.04])\n")
    result = run(
        site,
        "rollback",
        "--reason",
        "on-call saw bad answers",
        "--report",
        str(report),
        "--auto-merge",
        "--json",
        "--now",
        at(0, 5).isoformat(),
    )
    data = result.json()
    assert (result.code, data["status"]) == (0, "merged"), result.output
    site.sync()
    assert "this push: rolled-back" in run(site, "apply").output
    assert router_green(site) == 0
    record = json.loads((site.checkout / "rollout-records/chat/0002-rolled-back.json").read_text())
    assert "on-call saw bad answers" in record["reason"]


@pytest.mark.parametrize("kind", ["local", "github"])
def test_a_plan_that_auto_merges_rollbacks_merges_them_when_a_gate_fails(kind: str, tmp_path: Path) -> None:
    passing = write_verdict(tmp_path / "pass.json", "pass")
    failing = write_verdict(tmp_path / "fail.json", "fail")
    with open_site(kind, tmp_path, T0, rollback="auto-merge") as site:
        advance(site, passing, at(0, 1))
        rolled = propose(site, failing, at(0, 6))
        assert (rolled["exit"], rolled["decision"]["action"], rolled["status"]) == (1, "rollback", "merged")
        site.sync()
        assert "this push: rolled-back" in run(site, "apply").output
        assert router_green(site) == 0 and site.open_pulls() == []
