"""In GitHub Actions, propose, rollback and apply also write step outputs, a step summary and annotations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gitops import GREEN, T0, Site, at, open_site, run, write_verdict


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with open_site("github", tmp_path, T0) as opened:
        yield opened


@pytest.fixture
def actions(tmp_path: Path) -> dict[str, str]:
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }


def outputs(actions: dict[str, str]) -> dict[str, str]:
    lines = Path(actions["GITHUB_OUTPUT"]).read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


def test_propose_writes_outputs_summary_and_a_notice(site: Site, actions: dict[str, str], tmp_path: Path) -> None:
    verdict = write_verdict(tmp_path / "pass.json", "pass")
    result = run(site, "propose", "--verdict", str(verdict), "--now", at(0, 1).isoformat(), extra_env=actions)
    assert result.code == 0, result.output
    out = outputs(actions)
    assert (out["decision"], out["pr-number"], out["verdict"], out["status"]) == ("advance", "1", "pass", "opened")
    assert out["pr-url"].endswith("/acme/models/pull/1")
    summary = Path(actions["GITHUB_STEP_SUMMARY"]).read_text()
    assert summary.startswith("### rollout propose: advance") and "[#1](" in summary
    assert "::notice title=rollout propose::advance: green" in result.output


def test_a_hold_has_no_pull_request_in_its_outputs(site: Site, actions: dict[str, str]) -> None:
    result = run(site, "propose", "--now", at(0, 1).isoformat(), extra_env=actions)
    assert result.code == 3
    out = outputs(actions)
    assert (out["decision"], out["pr-number"], out["pr-url"], out["verdict"]) == ("hold", "", "", "")


def test_rollback_warns(site: Site, actions: dict[str, str]) -> None:
    result = run(site, "rollback", "--reason", "bad answers", "--now", at(0, 1).isoformat(), extra_env=actions)
    assert result.code == 0, result.output
    assert outputs(actions)["decision"] == "rollback"
    assert f"::warning title=rollout rollback::rollback: green {GREEN}: bad answers" in result.output


def test_apply_reports_how_the_push_moved_traffic(site: Site, actions: dict[str, str], tmp_path: Path) -> None:
    verdict = write_verdict(tmp_path / "pass.json", "pass")
    run(site, "propose", "--verdict", str(verdict), "--now", at(0, 1).isoformat())
    site.merge(1, at(0, 2))
    result = run(site, "apply", extra_env=actions)
    assert result.code == 0, result.output
    assert outputs(actions)["movement"] == "advanced"
    summary = Path(actions["GITHUB_STEP_SUMMARY"]).read_text()
    assert summary.startswith("### rollout apply: advanced") and "Commented on #1" in summary
    assert "Deployment 1 to `rollout-chat-internal`: success" in summary
