"""`rollout demo --fast`, both scenarios, end to end: real SmolLM2 servers, nginx, git and the local forge."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from rollout.demo.load import CONCURRENCY
from rollout.demo.workspace import LIVE_REQUESTS, STAGES
from rollout.evals.suite import load_suite
from rollout.plan import COLORS
from rollout.scaffold import TEMPLATES

pytestmark = [pytest.mark.model, pytest.mark.nginx]


ANSWER_DEADLINE = 120
"""The demo's deadline for one answer (rollout/demo/run.py); a start has 180 s."""


def work_bound(*, cases: int, rollouts: int = 1) -> float:
    """What a demo may take by what it does, not by a clock tuned on a quiet machine: every eval round
    (deploy, then one per stage; the watch rounds reuse the deploy's results, but the bound does not count
    on it) asks both colors every case of both suites, each answer within its
    deadline, the users' requests through the router while each stage soaks, each within its timeout, plus
    the servers' starts. Far above a run's real time: it only stops a hung demo."""
    rounds = len(STAGES) + 1
    answers = rounds * 2 * cases * len(COLORS) * ANSWER_DEADLINE
    users = len(STAGES) * LIVE_REQUESTS / CONCURRENCY * ANSWER_DEADLINE
    return rollouts * (answers + users + len(COLORS) * 180)


def suite_cases() -> int:
    """The cases of the larger of the demo's two suites (the template's quality and safety)."""
    return max(len(load_suite(TEMPLATES / "eval_suites" / name, env={}).cases) for name in ("quality", "safety"))


def run_demo(keep: Path, scenario: str, *extra: str, bound: float | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rollout", "demo", "--fast", "--scenario", scenario, "--keep", str(keep), *extra],
        capture_output=True,
        text=True,
        timeout=bound or work_bound(cases=suite_cases()),
        env={**os.environ, "CI": "true"},
    )


def git_show(repo: Path, ref: str, path: str) -> dict[str, object]:
    shown = subprocess.run(["git", "show", f"{ref}:{path}"], cwd=repo, capture_output=True, text=True, check=True)
    data: dict[str, object] = json.loads(shown.stdout)
    return data


def merged_titles(repo: Path) -> list[str]:
    log = subprocess.run(
        ["git", "log", "--merges", "--reverse", "--format=%s"], cwd=repo, capture_output=True, text=True, check=True
    )
    return log.stdout.splitlines()


def pull_titles(output: str) -> list[str]:
    lines = output.split("pull requests:\n", 1)[1].splitlines()
    return [line.strip() for line in lines if line.startswith("  #")]


def assert_nothing_left(workdir: Path, ports: list[int]) -> None:
    for port in ports:
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"something still listens on {port}"
    leftovers = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(workdir) in cmdline or any(f"--port {port}" in cmdline for port in ports):
                leftovers.append(cmdline)
    assert not leftovers, leftovers
    assert not list((workdir / "state").glob("*.pid")), "pid files left behind"


CASES = 8
"""The first cases of each suite the two-rollout test runs: the demo widens its quality margin to what they
resolve, so the test is as long as its work (twice five rounds of 8 cases per suite), not the whole suites'."""


def test_good_scenario_twice_takes_v1_to_v3_through_two_whole_rollouts(tmp_path: Path) -> None:
    keep = tmp_path / "demo"
    cases = ("--cases", str(CASES))
    result = run_demo(keep, "good", "--rollouts", "2", *cases, bound=work_bound(cases=CASES, rollouts=2))
    assert result.returncode == 0, result.stdout + result.stderr
    repo = keep / "repo"
    traffic = yaml.safe_load((repo / "rollout-traffic.yaml").read_text())
    assert traffic == {
        "service": "chat",
        "stage": None,
        "green": None,
        "weights": {"blue": 100, "green": 0},
        "rejected": [],
    }
    plan = yaml.safe_load((repo / "rollout-plan.yaml").read_text())
    assert plan["models"]["blue"]["name"] == "smollm2-135m-v3" and "green" not in plan["models"]
    ports = first_ports(repo)
    assert plan["models"]["blue"]["port"] == ports[0], "v3 took the port v1 freed"

    stages = ("internal", "early", "majority", "full")
    rollout = [f"rollout/chat/{stage}" for stage in stages]
    merged = [title.split(" from ", 1)[1] for title in merged_titles(repo)]
    assert merged == [
        *rollout,
        "rollout/chat/decommission-smollm2-135m-v2",
        *rollout,
        "rollout/chat/decommission-smollm2-135m-v3",
    ]
    titles = pull_titles(result.stdout)
    for version, first in (("v2", 1), ("v3", 6)):
        assert [t.split(" ", 1)[1] for t in titles[first - 1 : first + 3]] == [
            f"[merged] rollout(chat): {weight}% -> green smollm2-135m-{version} [{stage}]"
            for weight, stage in zip((5, 25, 75, 100), stages, strict=True)
        ]
    records = sorted((repo / "rollout-records" / "chat").glob("*.json"))
    staged = [path for path in records if path.stem.split("-", 1)[1] in stages]
    assert [path.stem.split("-", 1)[1] for path in staged] == [*stages, *stages]
    second = json.loads(staged[4].read_text())
    assert (second["verdict"]["outcome"], second["verdict"]["candidate"]["model"]) == ("pass", "smollm2-135m-v3")
    # each deploy asks both colors afresh (a new green; after the first rollout a new blue too); every watch
    # round after it reuses those results, nothing in them having changed, and the record says so
    for record, fresh in zip(staged, (True, False, False, False) * 2, strict=True):
        provenance = json.loads(record.read_text())["verdict"].get("provenance", [])
        reused = {(p["suite"], p["color"]) for p in provenance if p["reused_from"]}
        assert reused == (set() if fresh else {(s, c) for s in ("quality", "safety") for c in COLORS}), record
    assert "(same revision, serving args and suite)" in result.stdout
    assert git_show(repo, "rollout-evidence/chat", "green/quality.json")["model"] == "smollm2-135m-v3"
    assert "serve     blue smollm2-135m-v2 already-running" in result.stdout
    # the users' traffic of each stage after the first reached both colors and the live gates passed on it
    for record in [*staged[1:4], *staged[5:8]]:
        verdict = json.loads(record.read_text())["verdict"]
        live = next(g for g in verdict["gates"] if g["gate"] == "live-errors")
        assert live["outcome"] == "pass" and live["details"]["measures"]["errors"]["green"] == 0, live
    assert "verify    all: intended green 25%" in result.stdout
    assert_nothing_left(keep, ports)


def test_regression_is_rolled_back_and_green_rejected(tmp_path: Path) -> None:
    keep = tmp_path / "demo"
    result = run_demo(keep, "regression")
    assert result.returncode == 0, result.stdout + result.stderr
    repo = keep / "repo"
    traffic = yaml.safe_load((repo / "rollout-traffic.yaml").read_text())
    assert traffic["weights"] == {"blue": 100, "green": 0}
    assert traffic["stage"] == "rolled-back"
    assert traffic["rejected"] == ["smollm2-135m-v2-rc1"]
    assert "gate      FAIL (deploy" in result.stdout
    assert "quality fail: green - blue mean score" in result.stdout
    assert pull_titles(result.stdout) == ["#1 [merged] rollout(chat): roll back green smollm2-135m-v2-rc1 (0% -> 0%)"]
    assert len(merged_titles(repo)) == 1
    record = json.loads(next((repo / "rollout-records" / "chat").glob("*.json")).read_text())
    assert record["verdict"]["outcome"] == "fail"
    assert_nothing_left(keep, first_ports(repo))


TRAFFIC = re.compile(r"(blue|green|unknown) (\d+) \((\d+) failed\)")


def user_traffic(output: str) -> dict[str, dict[str, dict[str, int]]]:
    """What the demo's users sent in each stage, as its load counted the router's answers: stage -> sent/failed."""
    stages: dict[str, dict[str, dict[str, int]]] = {}
    stage = None
    for line in output.splitlines():
        soak = re.search(r"\] soak\s+(\S+) soaks", line)
        if soak:
            stage = soak.group(1)
        elif "] traffic " in line and stage is not None:
            counted = stages.setdefault(stage, {"sent": {}, "failed": {}})
            for color, sent, failed in TRAFFIC.findall(line):
                counted["sent"][color] = counted["sent"].get(color, 0) + int(sent)
                counted["failed"][color] = counted["failed"].get(color, 0) + int(failed)
    return stages


def test_a_green_failing_users_requests_is_rolled_back_at_25_percent(tmp_path: Path) -> None:
    keep = tmp_path / "demo"
    result = run_demo(keep, "live-errors")
    assert result.returncode == 0, result.stdout + result.stderr
    repo = keep / "repo"
    traffic = yaml.safe_load((repo / "rollout-traffic.yaml").read_text())
    assert traffic["weights"] == {"blue": 100, "green": 0} and traffic["rejected"] == ["smollm2-135m-v2-rc2"]
    assert pull_titles(result.stdout) == [
        "#1 [merged] rollout(chat): 5% -> green smollm2-135m-v2-rc2 [internal]",
        "#2 [merged] rollout(chat): 25% -> green smollm2-135m-v2-rc2 [early]",
        "#3 [merged] rollout(chat): roll back green smollm2-135m-v2-rc2 (25% -> 0%)",
    ]
    sent = user_traffic(result.stdout)
    # one watch round at 25%: the first look at the stage's traffic rolls green back
    assert result.stdout.count("soak      early soaks") == 1
    rollback = json.loads((repo / "rollout-records" / "chat" / "0003-rolled-back.json").read_text())
    live = next(g for g in rollback["verdict"]["gates"] if g["gate"] == "live-errors")
    assert live["outcome"] == "fail" and "ceiling" in live["reason"]
    measures = live["details"]["measures"]
    early = sent["early"]
    assert measures["requests"] == {"blue": early["sent"]["blue"], "green": early["sent"]["green"]}
    assert measures["errors"] == {"blue": early["failed"]["blue"], "green": early["failed"]["green"]}
    assert early["failed"]["blue"] == 0 and early["failed"]["green"] > 0
    assert_nothing_left(keep, first_ports(repo))


def first_ports(repo: Path) -> list[int]:
    """The model and router ports of the plan the demo started with (decommissioning rewrites the plan)."""
    first = subprocess.run(
        ["git", "rev-list", "--max-parents=0", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    plan = yaml.safe_load(
        subprocess.run(
            ["git", "show", f"{first}:rollout-plan.yaml"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout
    )
    ports = [model["port"] for model in plan["models"].values()]
    if plan["router"]["kind"] == "nginx":
        ports.append(int(plan["router"]["url"].rsplit(":", 1)[1]))
    return ports


def test_ctrl_c_stops_everything_the_demo_started(tmp_path: Path) -> None:
    keep = tmp_path / "demo"
    command = [sys.executable, "-m", "rollout", "demo", "--fast", "--keep", str(keep)]
    demo = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "CI": "true"}
    )
    assert demo.stdout is not None
    seen = []
    for line in demo.stdout:
        seen.append(line)
        if "router " in line:  # both servers and nginx are up; the first eval round is starting
            break
    time.sleep(2)
    demo.send_signal(signal.SIGINT)
    rest, _ = demo.communicate(timeout=60)
    assert demo.returncode != 0, "".join(seen) + rest
    assert "Aborted" in rest
    assert_nothing_left(keep, first_ports(keep / "repo"))
