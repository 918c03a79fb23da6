"""The watch round on live traffic, end to end: real nginx in front of two vLLM-format servers, the CLI's
gate and propose on a git repository with the local forge, and users' requests counted here, independently.

At the 25% stage, a green failing 5% of its requests against a clean blue is rolled back in the first
round, before its soak ends; a green failing 5% like blue does advances. The plan's margin (2.5 points)
is one a few thousand requests can decide: see docs/gates.md for the counts.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import yaml
from click.testing import CliRunner

from rollout.cli import cli
from rollout.plan import Color, Plan, load_plan, serving_args_digest
from rollout.routers import render_config
from rollout.routers.nginx import COLOR_HEADER
from rollout.traffic import load_traffic
from tests.support.gitops import ACTIONS_VARIABLES
from tests.support.net import free_port
from tests.support.routers import running_nginx
from tests.support.vllm_stub import vllm_stub

pytestmark = pytest.mark.nginx

ROUND = 2000
"""Requests per watch round: about 500 reach green at 25%, enough to show 5% against 0% beyond a 2.5-point margin."""
MAX_ROUNDS = 4
CASES = 40

PLAN = """\
version: 1
service: chat
models:
  blue:  {{name: stub-blue, model: stub/blue, port: {blue}}}
  green: {{name: stub-green, model: stub/green, port: {green}}}
router: {{kind: nginx, config: ../router/nginx.conf, url: "http://127.0.0.1:{router}", probes: 0}}
stages:
  - {{name: internal, weight: 5, soak: 1h}}
  - {{name: early, weight: 25, soak: 1h}}
  - {{name: majority, weight: 75, soak: 1h}}
  - {{name: full, weight: 100, soak: 1h}}
gates:
  quality: {{suite: eval_suites/quality, margin: 0.10}}
  live:
    sources: [{{kind: nginx, log: ../router/access.log}}]
    min_requests: 100
    errors: {{margin: 0.025, ceiling: 0.10}}
rollback: {{on_gate_failure: auto-merge}}
state_dir: ../state
"""
EARLY = "service: chat\nstage: early\ngreen: stub-green\nweights: {blue: 75, green: 25}\nrejected: []\n"


@dataclass
class Rig:
    repo: Path
    router: str
    evidence: Path

    def cli(self, *args: str) -> tuple[int, str]:
        env: dict[str, str | None] = {name: None for name in ACTIONS_VARIABLES}
        result = CliRunner().invoke(cli, [args[0], "--plan", str(self.repo / "rollout-plan.yaml"), *args[1:]], env=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.output

    def users(self, count: int) -> Counter[tuple[str, bool]]:
        """`count` chat requests through the router; (color, failed) as the responses say, counted here."""
        body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}

        def some(n: int) -> Counter[tuple[str, bool]]:
            seen: Counter[tuple[str, bool]] = Counter()
            with httpx.Client(timeout=30) as client:
                for _ in range(n):
                    response = client.post(f"{self.router}/v1/chat/completions", json=body)
                    seen[(response.headers[COLOR_HEADER.lower()], response.status_code >= 500)] += 1
            return seen

        with ThreadPoolExecutor(8) as pool:
            return sum(pool.map(some, [count // 8] * 8), Counter())

    def watch_round(self, label: str, *now: str) -> tuple[int, dict[str, object], dict[str, object]]:
        """gate, then propose, as the watch workflow runs them; the live gate's result and propose's answer."""
        out = self.evidence / label
        out.mkdir()
        self.cli(
            "gate",
            "--baseline",
            str(self.evidence / "blue.json"),
            "--candidate",
            str(self.evidence / "green.json"),
            "--out",
            str(out / "verdict.json"),
            "--report",
            str(out / "report.md"),
            *now,
        )
        verdict = json.loads((out / "verdict.json").read_text())
        live = next(g for g in verdict["gates"] if g["gate"] == "live-errors")
        code, output = self.cli(
            "propose",
            "--verdict",
            str(out / "verdict.json"),
            "--report",
            str(out / "report.md"),
            "--forge",
            "local",
            "--json",
            *now,
        )
        return code, live, json.loads(output)


def results(plan: Plan, color: Color) -> str:
    """A passing run of the suite, for the version the plan serves as `color` (name and serving arguments)."""
    cases = [{"id": f"case-{i}", "scores": [1.0], "latency_ms": [10.0], "errors": []} for i in range(CASES)]
    version = plan.model(color)
    return json.dumps(
        {
            "schema": "rollout.eval-results/v1",
            "serving_digest": serving_args_digest(version),
            "suite": "quality",
            "target": color,
            "model": version.name,
            "run_id": color,
            "started_at": "2026-12-01T10:00:00Z",
            "finished_at": "2026-12-01T10:01:00Z",
            "cases": cases,
        }
    )


def git(repo: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@x",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@x",
    }
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


@pytest.fixture
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    blue_fails, green_fails = request.param
    with ExitStack() as stack:
        blue = stack.enter_context(vllm_stub("stub-blue", fail_every=blue_fails))
        green = stack.enter_context(vllm_stub("stub-green", fail_every=green_fails))
        repo, router = tmp_path / "repo", free_port()
        (repo / "eval_suites" / "quality").mkdir(parents=True)
        (repo / "eval_suites" / "quality" / "q.yaml").write_text(
            "name: quality\ncases:\n  - {id: case-0, prompt: hi, expect: [{contains: hi}]}\n"
        )
        (repo / "rollout-plan.yaml").write_text(PLAN.format(blue=blue.port, green=green.port, router=router))
        (repo / "rollout-traffic.yaml").write_text(EARLY)
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "rollout(chat): 25% -> green stub-green [early]")
        plan = load_plan(repo / "rollout-plan.yaml")
        plan.router.config.parent.mkdir()
        plan.router.config.write_text(render_config(plan, load_traffic(plan)))
        evidence = tmp_path / "evidence"
        evidence.mkdir()
        (evidence / "blue.json").write_text(results(plan, "blue"))
        (evidence / "green.json").write_text(results(plan, "green"))
        stack.enter_context(running_nginx(plan.router.config, f"http://127.0.0.1:{router}"))
        yield Rig(repo=repo, router=f"http://127.0.0.1:{router}", evidence=evidence)


def assert_figures_match(live: dict[str, object], sent: Counter[tuple[str, bool]]) -> None:
    measures = live["details"]["measures"]  # type: ignore[index]
    for color in ("blue", "green"):
        assert measures["requests"][color] == sent[(color, False)] + sent[(color, True)]
        assert measures["errors"][color] == sent[(color, True)]


@pytest.mark.parametrize("rig", [(0, 20)], indirect=True)
def test_a_green_failing_5_percent_against_a_clean_blue_is_rolled_back_in_the_first_round(rig: Rig) -> None:
    sent = rig.users(ROUND)
    code, live, proposed = rig.watch_round("round-1")
    assert_figures_match(live, sent)
    assert sent[("green", True)] > 0 and sent[("blue", True)] == 0
    assert live["outcome"] == "fail", live["reason"]
    assert code == 1 and proposed["decision"]["action"] == "rollback", proposed
    traffic = yaml.safe_load((rig.repo / "rollout-traffic.yaml").read_text())
    assert traffic["weights"] == {"blue": 100, "green": 0} and traffic["rejected"] == ["stub-green"]
    record = json.loads(next((rig.repo / "rollout-records" / "chat").glob("*.json")).read_text())
    recorded = next(g for g in record["verdict"]["gates"] if g["gate"] == "live-errors")
    assert recorded["details"]["window"]["seconds"] > 0
    assert recorded["details"]["sources"][0]["source"] == "nginx access.log"


@pytest.mark.parametrize("rig", [(20, 20)], indirect=True)
def test_a_green_failing_5_percent_like_blue_advances_once_the_evidence_decides(rig: Rig) -> None:
    total: Counter[tuple[str, bool]] = Counter()
    # every round looks as if the stage's hour-long soak were over, so the evidence alone decides
    later = ("--now", (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat())
    for round_number in range(1, MAX_ROUNDS + 1):
        total += rig.users(ROUND)
        code, live, proposed = rig.watch_round(f"round-{round_number}", *later)
        assert_figures_match(live, total)
        assert live["outcome"] != "fail", live["reason"]
        if live["outcome"] == "pass":
            break
        assert code == 3 and proposed["decision"]["action"] == "hold"
    assert live["outcome"] == "pass", live["reason"]
    assert code == 0 and proposed["decision"]["action"] == "advance", proposed
    assert proposed["decision"]["weights"] == {"blue": 25, "green": 75}


@pytest.mark.parametrize("rig", [(0, 20)], indirect=True)
@pytest.mark.parametrize("offline", ["older-build", "no-serving-digest"])
def test_offline_results_for_another_build_do_not_keep_a_green_failing_its_users(rig: Rig, offline: str) -> None:
    green = json.loads((rig.evidence / "green.json").read_text())
    if offline == "older-build":
        green["serving_digest"] = "0123456789abcdef"
    else:
        del green["serving_digest"]
    (rig.evidence / "green.json").write_text(json.dumps(green))
    sent = rig.users(ROUND)
    code, live, proposed = rig.watch_round("round-1")
    assert_figures_match(live, sent)
    assert live["outcome"] == "fail", live["reason"]
    assert code == 1 and proposed["decision"]["action"] == "rollback", proposed
    reason = proposed["decision"]["reason"]
    assert "live-errors" in reason and "on this stage's traffic" in reason
    traffic = yaml.safe_load((rig.repo / "rollout-traffic.yaml").read_text())
    assert traffic["weights"] == {"blue": 100, "green": 0} and traffic["rejected"] == ["stub-green"]
