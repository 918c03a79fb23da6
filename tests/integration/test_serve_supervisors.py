"""`rollout serve` under the systemd and docker supervisors, through stand-ins for their tools, and promotion
under every supervisor.

tests/support/fake_supervisors.py plays systemd-run/systemctl/journalctl and docker: units and
containers known by name, a name taken while its server runs, the real tools' refusals; the servers
are real stub processes on loopback. What is tested is what rollout asks of those tools, and that it
always addresses a server by the name it was started under.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from rollout.errors import ExternalError
from rollout.plan import Plan
from rollout.serving import start, status, stop
from rollout.serving.procfs import process_info
from tests.support.fake_supervisors import install, stop_all, units
from tests.support.net import free_port
from tests.support.serving import serve_cli, stub_command, write_plan

TIMEOUT = 60.0


def alive(pid: int) -> bool:
    info = process_info(pid)
    return info is not None and info.state not in ("Z", "X")


def model(supervisor: str, name: str, port: int) -> dict[str, object]:
    """A color served by the stub: under docker as the vLLM image's command line, else as a command."""
    if supervisor == "docker":
        return {"name": name, "model": "m", "port": port, "engine": "vllm", "supervisor": "docker"}
    return {"name": name, "model": "m", "port": port, "command": stub_command(), "supervisor": supervisor}


@contextmanager
def stand_ins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    install(tmp_path / "bin", tmp_path / "supervised")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    try:
        yield
    finally:
        stop_all(tmp_path / "supervised")


@pytest.fixture(params=["process", "systemd", "docker"])
def supervisor(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with stand_ins(tmp_path, monkeypatch):
        yield str(request.param)


@pytest.fixture(params=["systemd", "docker"])
def unit_supervisor(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with stand_ins(tmp_path, monkeypatch):
        yield str(request.param)


def running(root: Path) -> set[str]:
    """The units and containers whose server runs, by the name rollout gives them (a unit's without `.service`)."""
    return {name.removesuffix(".service") for name, up in units(root / "supervised").items() if up}


def promoted(plan: Plan, supervisor: str, *, name: str) -> Plan:
    """The plan after a decommission and the next PR: green is blue now, and a new green takes blue's port."""
    green = plan.model("green")
    return write_plan(plan.root, model(supervisor, green.name, green.port), model(supervisor, name, plan.blue.port))


def test_start_status_and_stop_address_the_unit(unit_supervisor: str, tmp_path: Path) -> None:
    plan = write_plan(tmp_path, model(unit_supervisor, "stub-blue", free_port()))
    started = start(plan, "blue", timeout=TIMEOUT)
    assert started.action == "started" and started.status.state == "healthy" and started.status.pid
    assert running(tmp_path) == {"rollout-chat-blue"} and started.status.unit == "rollout-chat-blue"
    assert status(plan, "blue").pid == started.status.pid
    assert f"pid {started.status.pid}" in (shown := serve_cli(plan, "status", "blue").output)
    assert "unit rollout-chat-blue" in shown
    assert stop(plan, "blue", force=True).action == "stopped"
    assert running(tmp_path) == set() and not alive(started.status.pid)


def test_a_promoted_green_runs_on_as_blue_while_each_next_green_starts_beside_it(
    supervisor: str, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path, model(supervisor, "stub-v1", free_port()), model(supervisor, "stub-v2", free_port()))
    start(plan, "blue", timeout=TIMEOUT)
    serving = start(plan, "green", timeout=TIMEOUT).status.pid
    assert serving is not None
    for newer in ("stub-v3", "stub-v4"):
        stop(plan, "blue", force=True)
        plan = promoted(plan, supervisor, name=newer)
        seen = status(plan, "blue")
        assert (seen.state, seen.pid, seen.matches_plan) == ("healthy", serving, True)
        blue = start(plan, "blue", timeout=TIMEOUT)
        assert (blue.action, blue.status.pid) == ("already-running", serving)
        green = start(plan, "green", timeout=TIMEOUT)
        assert green.action == "started" and green.status.served == (newer,) and green.status.pid != serving
        assert len(running(tmp_path)) == (0 if supervisor == "process" else 2) and alive(serving)
        blue_now, green_now = status(plan, "blue"), status(plan, "green")
        assert (blue_now.pid, green_now.pid) == (serving, green.status.pid)
        if supervisor != "process":
            assert blue_now.unit in running(tmp_path) and green_now.unit in running(tmp_path)
            assert {blue_now.unit, green_now.unit} == {"rollout-chat-green", "rollout-chat-green-2"}
        serving = green.status.pid
    stop(plan, "green", force=True)
    stop(plan, "blue", force=True)
    assert running(tmp_path) == set()


def test_stopping_green_after_a_promotion_leaves_the_promoted_server_running(supervisor: str, tmp_path: Path) -> None:
    plan = write_plan(tmp_path, model(supervisor, "stub-v1", free_port()), model(supervisor, "stub-v2", free_port()))
    start(plan, "blue", timeout=TIMEOUT)
    serving = start(plan, "green", timeout=TIMEOUT).status.pid
    assert serving is not None
    stop(plan, "blue", force=True)
    plan = promoted(plan, supervisor, name="stub-v3")
    assert stop(plan, "green", force=True).action == "not-running"
    assert alive(serving) and status(plan, "blue").pid == serving
    result = stop(plan, "blue", force=True)
    assert (result.action, result.pid) == ("stopped", serving) and not alive(serving)


def test_a_server_that_exits_at_start_is_reported_with_its_log_from_where_its_supervisor_keeps_it(
    unit_supervisor: str, tmp_path: Path
) -> None:
    crashing = {**model(unit_supervisor, "stub-blue", free_port()), "args": ["--exit", "3"]}
    plan = write_plan(tmp_path, crashing)
    with pytest.raises(ExternalError, match="exited while starting") as caught:
        start(plan, "blue", timeout=TIMEOUT)
    message = str(caught.value)
    assert "cannot load model stub-blue: out of memory" in message
    where = (
        "journalctl --unit=rollout-chat-blue.service"
        if unit_supervisor == "systemd"
        else "docker logs rollout-chat-blue"
    )
    assert f"of its log ({where})" in message
    assert status(plan, "blue").log is None
