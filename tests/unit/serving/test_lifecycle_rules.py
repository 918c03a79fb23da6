"""The lifecycle's rules that need no server: records, plan matching, traffic refusals, bad input."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

import rollout.serving
from rollout.cli import cli
from rollout.errors import EXIT_FAILED, EXIT_INPUT
from rollout.plan import ModelVersion, load_plan
from rollout.serving.launch_records import (
    Launch,
    forget_launch,
    launch_to_dict,
    move_launch,
    read_launch,
    read_recorded,
    write_launch,
)
from rollout.serving.lifecycle import differences, traffic_share
from rollout.serving.spec import free_unit, server_spec, state_dir
from rollout.traffic import Weights
from tests.support.serving import set_traffic, stub_command, write_plan
from tests.unit.serving.conftest import spec_for


def launch_of(version: ModelVersion, argv: tuple[str, ...]) -> Launch:
    return Launch(
        supervisor="process",
        pid=4242,
        start_ticks=987,
        argv=argv,
        name=version.name,
        revision=version.revision,
        host=version.host,
        port=version.port,
        started_at=datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc),
    )


def test_a_launch_record_round_trips_through_the_state_dir(tmp_path: Path, vllm_blue: ModelVersion) -> None:
    spec = dataclasses.replace(spec_for(vllm_blue), state_dir=tmp_path)
    launch = launch_of(vllm_blue, spec.argv)
    write_launch(spec, launch)
    assert spec.pid_file.read_text() == "4242\n"
    assert read_launch(spec) == launch
    forget_launch(spec)
    assert read_launch(spec) is None and not spec.pid_file.exists()


def test_a_bare_pid_file_gives_a_record_without_start_time(tmp_path: Path, vllm_blue: ModelVersion) -> None:
    spec = dataclasses.replace(spec_for(vllm_blue), state_dir=tmp_path)
    spec.pid_file.write_text("31337\n")
    launch = read_launch(spec)
    assert launch is not None and launch.pid == 31337 and launch.start_ticks is None and launch.argv == spec.argv


def test_a_corrupt_record_counts_as_none(tmp_path: Path, vllm_blue: ModelVersion) -> None:
    spec = dataclasses.replace(spec_for(vllm_blue), state_dir=tmp_path)
    spec.launch_file.write_text("{not json")
    assert read_launch(spec) is None


def test_a_color_starts_under_its_own_name_unless_the_other_colors_server_holds_it() -> None:
    assert free_unit("chat", "blue", None) == "rollout-chat-blue"
    assert free_unit("chat", "green", "rollout-chat-blue") == "rollout-chat-green"
    # a promoted green runs on as blue under its old name; the next green takes the other, and back again
    assert free_unit("chat", "green", "rollout-chat-green") == "rollout-chat-green-2"
    assert free_unit("chat", "green", "rollout-chat-green-2") == "rollout-chat-green"


@pytest.mark.parametrize(
    ("supervisor", "unit"), [("systemd", "rollout-chat-green"), ("docker", "rollout-chat-green"), ("process", None)]
)
def test_a_record_from_before_units_were_recorded_is_of_its_colors_unit(
    tmp_path: Path, vllm_blue: ModelVersion, supervisor: str, unit: str | None
) -> None:
    older = {**launch_to_dict(launch_of(vllm_blue, ("vllm",))), "supervisor": supervisor}
    del older["unit"]
    (tmp_path / "green.json").write_text(json.dumps(older))
    recorded = read_recorded(tmp_path, "chat", "green")
    assert recorded is not None and recorded.unit == unit


def test_a_moved_record_keeps_the_unit_it_was_started_as(tmp_path: Path, vllm_blue: ModelVersion) -> None:
    older = {**launch_to_dict(launch_of(vllm_blue, ("vllm",))), "supervisor": "systemd"}
    del older["unit"]
    (tmp_path / "green.json").write_text(json.dumps(older))
    recorded = read_recorded(tmp_path, "chat", "green")
    assert recorded is not None
    move_launch(tmp_path, recorded, "green", "blue")
    moved = read_recorded(tmp_path, "chat", "blue")
    assert moved is not None and moved.unit == "rollout-chat-green" and not (tmp_path / "green.json").exists()


def test_a_matching_server_has_no_differences(vllm_blue: ModelVersion) -> None:
    spec = spec_for(vllm_blue)
    assert differences(launch_of(vllm_blue, spec.argv), spec) == ()


def test_a_new_revision_in_the_plan_is_a_difference(vllm_blue: ModelVersion) -> None:
    spec = spec_for(vllm_blue)
    running = launch_of(dataclasses.replace(vllm_blue, revision="old"), spec.argv)
    assert differences(running, spec) == ("runs revision old, the plan says 0e9e39f",)


def test_changed_args_alone_are_a_difference(vllm_blue: ModelVersion) -> None:
    spec = spec_for(vllm_blue)
    found = differences(launch_of(vllm_blue, ("vllm", "serve", "other-args")), spec)
    assert len(found) == 1 and "other-args" in found[0]


@pytest.mark.parametrize(("green", "blue_share", "green_share"), [(0, 100, 0), (25, 75, 25), (100, 0, 100)])
def test_traffic_share(green: int, blue_share: int, green_share: int) -> None:
    weights = Weights.for_green(green)
    assert (traffic_share(weights, "blue"), traffic_share(weights, "green")) == (blue_share, green_share)


def test_state_dir_defaults(tmp_path: Path) -> None:
    plan = dataclasses.replace(
        write_plan(tmp_path, {"name": "b", "model": "m", "port": 18001, "command": "x"}), state_dir=None
    )
    assert state_dir(plan, {"XDG_STATE_HOME": "/xdg"}) == Path("/xdg/model-rollout/chat")
    assert state_dir(plan, {"HOME": "/home/runner"}) == Path("/home/runner/.local/state/model-rollout/chat")
    assert server_spec(plan, "blue", {"HOME": "/h"}).log_file == Path("/h/.local/state/model-rollout/chat/blue.log")


def serve(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["serve", *args])
    return result.exit_code, result.output


def two_colors(tmp_path: Path) -> Path:
    write_plan(
        tmp_path,
        {"name": "b", "model": "m", "port": 18001, "command": stub_command()},
        {"name": "g", "model": "m", "port": 18002, "command": stub_command()},
    )
    return tmp_path / "rollout-plan.yaml"


def test_stop_refuses_the_color_carrying_traffic(tmp_path: Path) -> None:
    plan_path = two_colors(tmp_path)
    code, output = serve("stop", "blue", "--plan", str(plan_path))
    assert code == EXIT_FAILED
    assert "blue carries 100% of the traffic" in output and "--force" in output
    set_traffic(load_plan(plan_path), 25)
    assert serve("stop", "green", "--plan", str(plan_path))[0] == EXIT_FAILED
    assert serve("stop", "blue", "--plan", str(plan_path))[0] == EXIT_FAILED


def test_stop_of_a_color_without_traffic_that_is_not_running(tmp_path: Path) -> None:
    code, output = serve("stop", "green", "--plan", str(two_colors(tmp_path)), "--json")
    assert code == 0
    assert json.loads(output)["action"] == "not-running"


def test_status_of_a_stopped_color(tmp_path: Path) -> None:
    code, output = serve("status", "blue", "--plan", str(two_colors(tmp_path)), "--json")
    assert code == 0
    body = json.loads(output)
    assert (body["state"], body["pid"], body["port"]) == ("stopped", None, 18001)


def test_a_missing_model_file_is_bad_input_naming_the_plan_line(tmp_path: Path) -> None:
    write_plan(tmp_path, {"name": "b", "model": "weights/missing.gguf", "port": 18001, "command": stub_command()})
    code, output = serve("start", "blue", "--plan", str(tmp_path / "rollout-plan.yaml"), "--timeout", "5")
    assert code == EXIT_INPUT
    assert "rollout-plan.yaml:" in output and "models.blue.model" in output and "missing.gguf" in output
    assert not (tmp_path / "state" / "blue.pid").exists()


def test_docker_needs_the_vllm_engine(tmp_path: Path) -> None:
    write_plan(tmp_path, {"name": "b", "model": "m", "port": 18001, "command": "x", "supervisor": "docker"})
    code, output = serve("start", "blue", "--plan", str(tmp_path / "rollout-plan.yaml"))
    assert code == EXIT_INPUT and "models.blue.supervisor" in output


def test_public_api_is_sorted_and_importable() -> None:
    assert rollout.serving.__all__ == sorted(rollout.serving.__all__)
    assert all(hasattr(rollout.serving, name) for name in rollout.serving.__all__)
