"""Two applies at once, and an apply stopped by SIGTERM: one apply holds the router at a time, and a stopped
one undoes its change and marks its deployment, as any failed apply does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from rollout.cli import cli
from rollout.errors import Stopped
from rollout.forge import DeploymentState
from rollout.forge.local import LocalForge
from rollout.gitops.landing import land
from rollout.plan import load_plan
from rollout.routers import render_config
from rollout.routers.apply import apply_traffic, router_lock
from rollout.traffic import TrafficState, load_traffic
from tests.support.net import free_port, wait_until
from tests.support.routers import Stub, running_nginx, stage_state, stub_model, write_plan

REPO = Path(__file__).resolve().parents[2]
ROUNDS = 6


def git(root: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env=env)


def write_traffic(root: Path, green: int) -> None:
    state = stage_state(green)
    data = {"service": "chat", "stage": state.stage, "green": state.green}
    data |= {"weights": {"blue": state.weights.blue, "green": state.weights.green}, "rejected": []}
    (root / "rollout-traffic.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def rollout(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "rollout", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


@pytest.fixture
def file_plan(tmp_path: Path) -> Path:
    plan = write_plan(
        tmp_path, kind="file", config="flags/flag.json", url="http://127.0.0.1:9", blue_port=8001, green_port=8002
    )
    write_traffic(tmp_path, 25)
    return plan


def test_a_second_apply_waits_for_the_first_then_says_busy(file_plan: Path) -> None:
    plan = load_plan(file_plan)
    config = plan.router.config
    with router_lock(plan, wait=0):
        result = CliRunner().invoke(cli, ["apply", "--plan", str(file_plan), "--forge", "auto", "--lock-wait", "0.3"])
        assert result.exit_code == 4, result.output
        assert f"the router is busy: another rollout apply is changing {config.parent}" in result.stderr
        assert not config.exists()
    result = CliRunner().invoke(cli, ["apply", "--plan", str(file_plan), "--lock-wait", "0.3"])
    assert result.exit_code == 0, result.output


def test_two_applies_at_once_both_end_cleanly(file_plan: Path) -> None:
    for round_ in range(ROUNDS):
        write_traffic(file_plan.parent, (5, 25, 75)[round_ % 3])
        both = [rollout("apply", "--plan", str(file_plan), "--lock-wait", "60") for _ in range(2)]
        for process in both:
            _, stderr = process.communicate(timeout=120)
            assert process.returncode == 0, stderr
            assert "Traceback" not in stderr
    leftovers = sorted(p.name for p in (file_plan.parent / "flags").iterdir())
    assert leftovers == ["flag.json"]


@pytest.fixture
def nginx_repo(tmp_path: Path) -> Iterator[tuple[Path, Stub, Stub]]:
    """A git repository whose last commit moves 25% to green, nginx serving its parent's config (all blue)."""
    with stub_model("stub-blue") as blue, stub_model("stub-green") as green:
        url = f"http://127.0.0.1:{free_port()}"
        plan_path = write_plan(
            tmp_path, kind="nginx", config="nginx/nginx.conf", url=url, blue_port=blue.port, green_port=green.port
        )
        plan = load_plan(plan_path)
        plan.router.config.parent.mkdir()
        plan.router.config.write_text(render_config(plan, TrafficState.initial("chat")))
        (tmp_path / ".gitignore").write_text("nginx/\n")
        git(tmp_path, "init", "-q", "-b", "main")
        git(tmp_path, "add", "-A")
        git(tmp_path, "commit", "-qm", "plan")
        write_traffic(tmp_path, 25)
        git(tmp_path, "add", "-A")
        git(tmp_path, "commit", "-qm", "25% to green")
        with running_nginx(plan.router.config, url):
            yield plan_path, blue, green


def test_sigterm_during_the_probes_restores_the_config_and_marks_the_deployment(
    nginx_repo: tuple[Path, Stub, Stub],
) -> None:
    plan_path, blue, green = nginx_repo
    config = load_plan(plan_path).router.config
    before = config.read_text()
    blue.stalling.set()
    green.stalling.set()
    process = rollout("apply", "--plan", str(plan_path), "--forge", "local")
    try:
        wait_until(lambda: len(green.served) + len(blue.served) >= 5, timeout=60, what="the probes")
        assert config.read_text() != before  # the new config is in place, and being proved
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "stopped by SIGTERM" in stderr and f"restored the previous {config}" in stderr, stderr
    assert "Traceback" not in stderr
    assert config.read_text() == before
    assert list(config.parent.glob(".nginx.conf.*")) == []
    (deployment,) = LocalForge(plan_path.parent).deployments()
    assert [s["state"] for s in deployment["statuses"]] == ["in_progress", "failure"]
    assert "stopped by SIGTERM" in deployment["statuses"][-1]["description"]


class StoppedWhileMarking(LocalForge):
    """The local forge, stopped by SIGTERM the first time it records a deployment status of `state`."""

    def __init__(self, root: Path, state: DeploymentState) -> None:
        super().__init__(root)
        self.state = state
        self.stopped = False

    def deployment_status(self, deployment: int, state: DeploymentState, *, environment: str, description: str) -> None:
        if state == self.state and not self.stopped:
            self.stopped = True
            raise Stopped(signal.SIGTERM, "SIGTERM")
        super().deployment_status(deployment, state, environment=environment, description=description)


def staged_file_plan(file_plan: Path) -> tuple[Path, TrafficState]:
    """The file router's repository with 25% to green committed, and its config not yet applied."""
    root = file_plan.parent
    write_traffic(root, 0)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "plan")
    write_traffic(root, 25)
    git(root, "commit", "-qam", "25% to green")
    return root, load_traffic(load_plan(file_plan))


def test_a_signal_after_the_change_is_proved_still_marks_the_deployment(file_plan: Path) -> None:
    root, state = staged_file_plan(file_plan)
    plan = load_plan(file_plan)
    forge = StoppedWhileMarking(root, "success")
    with pytest.raises(Stopped):
        land(plan, state, forge, sha="HEAD", apply=lambda: apply_traffic(plan, state, env=dict(os.environ)))
    (deployment,) = forge.deployments()
    assert [s["state"] for s in deployment["statuses"]] == ["in_progress", "success"]


def test_a_signal_before_the_router_is_touched_marks_the_deployment_failed(file_plan: Path) -> None:
    root, state = staged_file_plan(file_plan)
    plan = load_plan(file_plan)
    forge = StoppedWhileMarking(root, "in_progress")
    with pytest.raises(Stopped):
        land(plan, state, forge, sha="HEAD", apply=lambda: pytest.fail("the router was changed after the signal"))
    assert not plan.router.config.exists()
    (deployment,) = forge.deployments()
    assert [(s["state"], s["description"]) for s in deployment["statuses"]] == [("failure", "stopped by SIGTERM")]
