"""`rollout serve` against real processes on loopback, with a stub server: the harness's faults.

The stub (tests/fixtures/serving/stub_server.py) answers like an OpenAI-compatible server in a
fraction of a second, so these tests are about starting, watching and stopping, not about a model.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from rollout.errors import EXIT_EXTERNAL, EXIT_FAILED, CheckFailed, ExternalError
from rollout.plan import Plan
from rollout.serving import start, status, stop
from rollout.serving.launch_records import Launch, read_launch, write_launch
from rollout.serving.ports import port_in_use
from rollout.serving.procfs import process_info
from rollout.serving.spec import server_spec
from rollout.serving.supervisors import process
from tests.support.serving import blue_and_green, serve_cli, stub_command, write_plan

TIMEOUT = 60.0


def alive(pid: int) -> bool:
    info = process_info(pid)
    return info is not None and info.state not in ("Z", "X")


@pytest.fixture
def plan(tmp_path: Path) -> Iterator[Plan]:
    with blue_and_green(tmp_path, stub_command(), prefix="stub") as made:
        yield made


def serve(plan: Plan, *args: str) -> tuple[int, str]:
    result = serve_cli(plan, *args)
    return result.exit_code, result.output


def test_start_is_idempotent_and_stop_leaves_nothing(plan: Plan) -> None:
    first = start(plan, "blue", timeout=TIMEOUT)
    again = start(plan, "blue", timeout=TIMEOUT)
    assert (first.action, again.action) == ("started", "already-running")
    assert first.status.pid == again.status.pid and first.status.pid is not None
    assert first.status.state == "healthy" and first.status.served == ("stub-blue",) and first.status.matches_plan
    pid = first.status.pid
    result = stop(plan, "blue", force=True)
    assert (result.action, result.pid) == ("stopped", pid)
    assert not alive(pid)
    assert not port_in_use("127.0.0.1", plan.blue.port)
    assert status(plan, "blue").state == "stopped"


def test_green_waits_for_a_blue_that_is_still_starting(plan: Plan) -> None:
    slow = dataclasses.replace(plan, blue=dataclasses.replace(plan.blue, command=stub_command("--delay", "2")))
    spec = server_spec(slow, "blue", os.environ)
    write_launch(
        spec, process.launch(spec, os.environ, unit="rollout-chat-blue")
    )  # as if a start was interrupted mid-way
    said: list[str] = []
    result = start(slow, "green", timeout=TIMEOUT, progress=said.append)
    assert result.status.state == "healthy"
    assert any("waiting for blue to finish starting" in line for line in said)
    assert status(slow, "blue").state == "healthy"


def test_green_is_refused_without_a_healthy_blue(plan: Plan) -> None:
    code, output = serve(plan, "start", "green", "--timeout", "10")
    assert code == EXIT_FAILED
    assert "green starts only beside a healthy blue" in output
    assert status(plan, "green").state == "stopped"


def test_a_taken_port_is_named_with_its_holder(plan: Plan) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", plan.blue.port))
        holder.listen()
        code, output = serve(plan, "start", "blue", "--timeout", "10")
    assert code == EXIT_FAILED
    assert f"port {plan.blue.port}" in output and f"pid {os.getpid()}" in output
    assert read_launch(server_spec(plan, "blue", os.environ)) is None


def test_a_crash_during_start_reports_the_log_tail(plan: Plan) -> None:
    crashing = dataclasses.replace(plan.blue, command=stub_command("--exit", "1"))
    with pytest.raises(ExternalError, match="exited while starting") as caught:
        start(dataclasses.replace(plan, blue=crashing), "blue", timeout=TIMEOUT)
    assert caught.value.exit_code == EXIT_EXTERNAL
    assert "cannot load model stub-blue: out of memory" in str(caught.value)
    assert read_launch(server_spec(plan, "blue", os.environ)) is None


def test_a_server_that_never_becomes_healthy_is_stopped_after_the_timeout(plan: Plan) -> None:
    sick = write_plan(
        plan.root,
        {"name": "stub-blue", "model": "m", "port": plan.blue.port, "command": stub_command("--health", "503")},
    )
    code, output = serve(sick, "start", "blue", "--timeout", "3")
    assert code == EXIT_EXTERNAL
    assert "did not become healthy within 3s" in output and "/health answered 503" in output
    assert "stopped it" in output and '"GET /health HTTP/1.1" 503' in output
    assert not port_in_use("127.0.0.1", plan.blue.port)
    assert read_launch(server_spec(plan, "blue", os.environ)) is None


def test_a_stale_pid_file_is_cleaned_up_not_trusted(plan: Plan) -> None:
    spec = server_spec(plan, "blue", os.environ)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    spec.state_dir.mkdir(parents=True, exist_ok=True)
    spec.pid_file.write_text(f"{gone.pid}\n")
    seen = status(plan, "blue")
    assert seen.state == "stopped"
    assert any("stale pid file" in note for note in seen.notes)
    assert not spec.pid_file.exists()
    assert start(plan, "blue", timeout=TIMEOUT).action == "started"


def test_a_pid_now_owned_by_another_program_is_never_signalled(plan: Plan) -> None:
    spec = server_spec(plan, "blue", os.environ)
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        info = process_info(stranger.pid)
        assert info is not None
        write_launch(
            spec,
            Launch(
                supervisor="process",
                pid=stranger.pid,
                start_ticks=info.start_ticks - 1,
                argv=spec.argv,
                name=plan.blue.name,
                revision=None,
                host=plan.blue.host,
                port=plan.blue.port,
                started_at=plan_time(),
            ),
        )
        result = serve_cli(plan, "stop", "blue", "--force", "--json")
        assert result.exit_code == 0
        body = json.loads(result.stdout)
        assert body["action"] == "not-running"
        assert any("belongs to another program" in note for note in body["notes"])
        assert stranger.poll() is None
        assert not spec.pid_file.exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_a_server_running_another_revision_is_not_replaced(plan: Plan) -> None:
    start(plan, "blue", timeout=TIMEOUT)
    moved = dataclasses.replace(plan, blue=dataclasses.replace(plan.blue, revision="newer"))
    with pytest.raises(CheckFailed, match="not as the plan says: runs revision"):
        start(moved, "blue", timeout=TIMEOUT)
    seen = status(moved, "blue")
    assert seen.state == "healthy" and seen.matches_plan is False


def plan_time() -> datetime:
    return datetime.now(timezone.utc)


def test_a_server_program_that_does_not_exist_is_named(plan: Plan) -> None:
    missing = dataclasses.replace(plan.blue, command="/nonexistent/bin/vllm serve {model} --port {port}")
    with pytest.raises(ExternalError, match="cannot run /nonexistent/bin/vllm"):
        start(dataclasses.replace(plan, blue=missing), "blue", timeout=TIMEOUT)
    assert read_launch(server_spec(plan, "blue", os.environ)) is None


def promoted(plan: Plan, *, name: str) -> Plan:
    """The plan after a decommission and the next PR: green is blue now, and a new green takes blue's port."""
    green = plan.model("green")
    keep = {"model": green.model, "command": green.command}
    return write_plan(
        plan.root,
        {"name": green.name, "port": green.port, **keep},
        {"name": name, "port": plan.blue.port, **keep},
    )


def test_a_promoted_green_is_found_running_as_blue_and_the_next_green_starts_on_the_freed_port(plan: Plan) -> None:
    start(plan, "blue", timeout=TIMEOUT)
    serving = start(plan, "green", timeout=TIMEOUT).status.pid
    stop(plan, "blue", force=True)
    after = promoted(plan, name="stub-v3")
    blue = start(after, "blue", timeout=TIMEOUT)
    assert (blue.action, blue.status.pid, blue.status.matches_plan) == ("already-running", serving, True)
    green = start(after, "green", timeout=TIMEOUT)
    assert green.action == "started" and green.status.served == ("stub-v3",) and green.status.port == plan.blue.port
    launch = read_launch(server_spec(after, "blue", os.environ))
    assert launch is not None and (launch.pid, launch.name) == (serving, "stub-green")
    assert status(after, "blue").log == server_spec(after, "blue", os.environ).log_file
    assert stop(after, "blue", force=True).pid == serving and not alive(serving)


def test_a_record_of_another_version_is_reported_at_once_never_waited_on(plan: Plan) -> None:
    start(plan, "blue", timeout=TIMEOUT)
    start(plan, "green", timeout=TIMEOUT)
    stop(plan, "blue", force=True)
    renamed = write_plan(
        plan.root,
        {"name": plan.blue.name, "port": plan.blue.port, "model": "m", "command": plan.blue.command},
        {"name": "stub-v3", "port": plan.model("green").port, "model": "m", "command": plan.blue.command},
    )
    with pytest.raises(CheckFailed) as refused:
        start(renamed, "blue", timeout=TIMEOUT)
    message = str(refused.value)
    assert "records a green server that is not the plan's green: it serves 'stub-green', the plan names 'stub-v3'" in (
        message
    )
    assert "rollout serve stop green --force" in message
    assert stop(renamed, "green", force=True).action == "stopped"
    assert start(renamed, "blue", timeout=TIMEOUT).action == "started"
