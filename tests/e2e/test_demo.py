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

pytestmark = [pytest.mark.model, pytest.mark.nginx]


def run_demo(keep: Path, scenario: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rollout", "demo", "--fast", "--scenario", scenario, "--keep", str(keep)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "CI": "true"},
    )


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


def test_good_scenario_reaches_100_percent_and_decommissions_blue(tmp_path: Path) -> None:
    keep = tmp_path / "demo"
    result = run_demo(keep, "good")
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
    assert plan["models"]["blue"]["name"] == "smollm2-135m-v2" and "green" not in plan["models"]

    assert merged_titles(repo) == [
        "Merge pull request #1 from rollout/chat/internal",
        "Merge pull request #2 from rollout/chat/early",
        "Merge pull request #3 from rollout/chat/majority",
        "Merge pull request #4 from rollout/chat/full",
        "Merge pull request #5 from rollout/chat/decommission-smollm2-135m-v2",
    ]
    assert pull_titles(result.stdout)[:4] == [
        "#1 [merged] rollout(chat): 5% -> green smollm2-135m-v2 [internal]",
        "#2 [merged] rollout(chat): 25% -> green smollm2-135m-v2 [early]",
        "#3 [merged] rollout(chat): 75% -> green smollm2-135m-v2 [majority]",
        "#4 [merged] rollout(chat): 100% -> green smollm2-135m-v2 [full]",
    ]
    records = sorted(p.name for p in (repo / "rollout-records" / "chat").glob("*.json"))
    assert records[:4] == ["0001-internal.json", "0002-early.json", "0003-majority.json", "0004-full.json"]
    first = json.loads((repo / "rollout-records" / "chat" / "0001-internal.json").read_text())
    assert first["verdict"]["outcome"] == "pass"
    # the users' traffic of each stage reached both colors and the live gates passed on it
    for record in records[1:4]:
        verdict = json.loads((repo / "rollout-records" / "chat" / record).read_text())["verdict"]
        live = next(g for g in verdict["gates"] if g["gate"] == "live-errors")
        assert live["outcome"] == "pass" and live["details"]["measures"]["errors"]["green"] == 0, live
    assert "verify    all: intended green 25%" in result.stdout
    assert_nothing_left(keep, first_ports(repo))


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
