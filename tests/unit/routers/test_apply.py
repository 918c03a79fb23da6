"""apply_traffic on files and shell commands, with an in-process router behind httpx.MockTransport."""

from __future__ import annotations

import json
import os
import random
import re
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import yaml
from click.testing import CliRunner

from rollout.cli import cli
from rollout.errors import ExternalError, InputError
from rollout.plan import Plan, load_plan
from rollout.routers import render_config, restart_command
from rollout.routers._shared import revision_of
from rollout.routers.apply import Step, apply_traffic, carry_out, change_for, describe_change, plan_change
from rollout.routers.split import Expectation
from rollout.traffic import TrafficState, Weights
from tests.support.routers import litellm_plan, write_plan

# `true` stands in for the LiteLLM proxy's Python: its check of every config passes (tests/integration run the real one).
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ROLLOUT_LITELLM_PYTHON": "true"}


def state(stage: str | None, green: int) -> TrafficState:
    return TrafficState(service="chat", stage=stage, green="stub-green", weights=Weights.for_green(green))


def file_plan(tmp_path: Path, *, reload: str | None = None, validate: str | None = None) -> Plan:
    return load_plan(
        write_plan(
            tmp_path,
            kind="file",
            config="flags/chat.json",
            url="http://127.0.0.1:9",
            blue_port=8001,
            green_port=8002,
            reload=reload,
            validate=validate,
        )
    )


def test_file_kind_writes_the_flag_and_checks_what_it_wrote(tmp_path: Path) -> None:
    plan = file_plan(tmp_path)
    result = apply_traffic(plan, state("early", 25), env=ENV)
    assert json.loads(plan.router.config.read_text())["weights"] == {"blue": 75, "green": 25}
    assert (result.change.changed, result.change.verified_by) == (True, "file")
    assert sorted(p.name for p in plan.router.config.parent.iterdir()) == ["chat.json"]


def test_the_planned_change_shows_the_diff_and_changes_nothing(tmp_path: Path) -> None:
    plan = file_plan(tmp_path)
    apply_traffic(plan, state("early", 25), env=ENV)
    before = plan.router.config.read_text()
    change = change_for(plan, state("majority", 75), probes=None, env=ENV)
    assert plan.router.config.read_text() == before
    assert '-    "green": 25' in change.diff and '+    "green": 75' in change.diff
    assert change.changed and change.previous == before


def test_the_plan_names_the_commands_apply_runs_and_apply_runs_exactly_those(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    plan = file_plan(tmp_path, reload=f"echo reload >> {marker}", validate=f"echo validate {{config}} >> {marker}")
    change = change_for(plan, state("early", 25), probes=None, env=ENV)
    candidate = tmp_path / "flags" / ".chat.json.rollout-candidate"
    assert change.validate == (Step(what="router.validate", command=f"echo validate {candidate} >> {marker}"),)
    assert change.reload == Step(what="reload", command=f"echo reload >> {marker}")
    assert (change.probing, change.verified_by) == (None, "file")
    result = carry_out(change, env=ENV)
    assert result.change is change
    assert marker.read_text().splitlines() == [f"validate {candidate}", "reload"]


def test_an_unchanged_config_is_planned_as_verify_only(tmp_path: Path) -> None:
    plan = file_plan(tmp_path, reload="true", validate="true")
    apply_traffic(plan, state("early", 25), env=ENV)
    change = change_for(plan, state("early", 25), probes=None, env=ENV)
    assert (change.changed, change.diff, change.validate, change.reload) == (False, "", (), None)
    assert "already up to date" in describe_change(change)


def test_a_probed_change_plans_the_split_each_audience_must_show(tmp_path: Path) -> None:
    plan = load_plan(
        write_plan(
            tmp_path,
            kind="nginx",
            config="nginx.conf",
            url="http://127.0.0.1:8080/",
            blue_port=8001,
            green_port=8002,
            internal_first=True,
        )
    )
    change = plan_change(plan, state("internal", 5), current=None, probes=40, env=ENV)
    assert change.probing is not None and change.probing.url == "http://127.0.0.1:8080"
    assert change.probing.expected == (
        Expectation(audience="internal", green_percent=5, probes=40),
        Expectation(audience="all", green_percent=0, probes=10),
    )
    assert [step.what for step in change.validate] == ["validate"]
    assert change.reload is not None and "reload" in change.reload.command
    assert plan_change(plan, state("internal", 5), current=None, probes=0, env=ENV).probing is None


def test_an_unchanged_config_is_not_reloaded(tmp_path: Path) -> None:
    marker = tmp_path / "reloads"
    plan = file_plan(tmp_path, reload=f"echo x >> {marker}")
    apply_traffic(plan, state("early", 25), env=ENV)
    second = apply_traffic(plan, state("early", 25), env=ENV)
    assert not second.change.changed
    assert marker.read_text().count("x") == 1


def test_an_unwritable_config_path_is_bad_input_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "flags").write_text("a file where a directory should be")
    plan = file_plan(tmp_path)
    with pytest.raises(InputError, match=r"router\.config"):
        apply_traffic(plan, state("early", 25), env=ENV)
    assert (tmp_path / "flags").read_text() == "a file where a directory should be"


def test_a_failing_reload_restores_the_previous_config(tmp_path: Path) -> None:
    plan = file_plan(tmp_path)
    apply_traffic(plan, state("early", 25), env=ENV)
    before = plan.router.config.read_text()
    failing = file_plan(tmp_path, reload="echo cannot reach the router >&2; exit 3")
    with pytest.raises(ExternalError, match=r"(?s)exit 3.*cannot reach the router.*restored the previous"):
        apply_traffic(failing, state("majority", 75), env=ENV)
    assert plan.router.config.read_text() == before
    assert sorted(p.name for p in plan.router.config.parent.iterdir()) == ["chat.json"]


def test_the_validate_command_sees_the_candidate_and_can_reject_it(tmp_path: Path) -> None:
    plan = file_plan(tmp_path, validate="grep -q '\"green\": 25' {config}")
    apply_traffic(plan, state("early", 25), env=ENV)
    before = plan.router.config.read_text()
    with pytest.raises(ExternalError, match=r"router\.validate"):
        apply_traffic(plan, state("majority", 75), env=ENV)
    assert plan.router.config.read_text() == before
    assert sorted(p.name for p in plan.router.config.parent.iterdir()) == ["chat.json"]


class FakeLiteLLM:
    """Serves whatever config file it was last 'restarted' with, picking colors by its own share."""

    def __init__(self, config: Path, *, share: float | None = None) -> None:
        self.config, self.share, self.rng = config, share, random.Random(1)

    def handle(self, request: httpx.Request) -> httpx.Response:
        deployments = yaml.safe_load(self.config.read_text())["model_list"]
        if request.url.path == "/v1/model/info":
            return httpx.Response(200, json={"data": deployments})
        weights = {d["model_info"]["id"]: d["litellm_params"]["weight"] for d in deployments}
        green = weights.get("green", 0) / sum(weights.values()) if self.share is None else self.share
        color = "green" if self.rng.random() < green else "blue"
        return httpx.Response(200, json={}, headers={"x-litellm-model-id": color})


def test_a_verified_split_is_applied(tmp_path: Path) -> None:
    plan = litellm_plan(tmp_path, tmp_path / "reloads")
    (tmp_path / "litellm.yaml").write_text("model_list: []\n")
    router = FakeLiteLLM(plan.router.config)
    result = apply_traffic(plan, state("early", 25), env=ENV, transport=httpx.MockTransport(router.handle))
    assert result.change.verified_by == "probes"
    [check] = result.checks
    assert check.ok and check.blue + check.green == 200


def test_a_wrong_split_is_undone_and_reloaded(tmp_path: Path) -> None:
    marker = tmp_path / "reloads"
    plan = litellm_plan(tmp_path, marker)
    (tmp_path / "litellm.yaml").write_text("model_list: []\n")
    router = FakeLiteLLM(plan.router.config, share=0.5)
    with pytest.raises(ExternalError, match=r"(?s)intended green 25%.*MISMATCH.*restored the previous.*reloaded"):
        apply_traffic(plan, state("early", 25), env=ENV, transport=httpx.MockTransport(router.handle))
    assert (tmp_path / "litellm.yaml").read_text() == "model_list: []\n"
    assert marker.read_text().count("x") == 2


def test_the_undo_says_the_router_answers_on_the_previous_config(tmp_path: Path) -> None:
    plan = litellm_plan(tmp_path, tmp_path / "reloads")
    before = render_config(plan, state(None, 0))
    (tmp_path / "litellm.yaml").write_text(before)
    router = FakeLiteLLM(plan.router.config, share=0.5)
    with pytest.raises(ExternalError) as info:
        apply_traffic(plan, state("early", 25), env=ENV, transport=httpx.MockTransport(router.handle))
    assert str(info.value).endswith(
        f"restored the previous {plan.router.config} and reloaded it; the router answers on config {revision_of(before)}"
    ), info.value


def test_the_undo_says_when_the_router_does_not_answer_again_and_how_to_start_it(tmp_path: Path) -> None:
    plan = litellm_plan(tmp_path, tmp_path / "reloads")
    before = render_config(plan, state(None, 0))
    (tmp_path / "litellm.yaml").write_text(before)
    router = FakeLiteLLM(plan.router.config, share=0.5)

    def down_once_restored(request: httpx.Request) -> httpx.Response:
        if plan.router.config.read_text() == before:
            raise httpx.ConnectError("Connection refused")
        return router.handle(request)

    with pytest.raises(ExternalError) as info:
        apply_traffic(
            plan, state("early", 25), env=ENV, transport=httpx.MockTransport(down_once_restored), live_timeout=0.2
        )
    message = str(info.value)
    assert (
        f"restored the previous {plan.router.config} and reloaded it, but the router does not answer: the router at "
        f"http://router.test does not serve config {revision_of(before)} after 0s (ConnectError: Connection refused); "
        f"start it again the way it is run (router.reload `echo x >> {tmp_path / 'reloads'}` only reloads a running "
        "router)"
    ) in message, message
    assert info.value.exit_code == 4


@pytest.mark.parametrize(
    ("reload", "restarts", "restart"),
    [
        ("systemctl reload litellm", False, "systemctl restart litellm"),
        ("systemctl --user reload-or-restart litellm.service", False, "systemctl --user restart litellm.service"),
        ("service nginx reload", False, "service nginx restart"),
        ("systemctl restart litellm", True, "systemctl restart litellm"),
        ("kill -HUP $(cat /run/litellm.pid)", False, None),
        ("systemctl reload litellm && echo done", False, None),
    ],
)
def test_the_restart_of_a_router_is_what_the_plan_says(
    tmp_path: Path, reload: str, restarts: bool, restart: str | None
) -> None:
    plan = litellm_plan(tmp_path, tmp_path / "reloads")
    router = replace(plan.router, reload=reload, restarts=restarts)
    assert restart_command(replace(plan, router=router), ENV) == restart


def test_nginx_without_a_reload_of_the_plan_restarts_by_starting_on_its_config(tmp_path: Path) -> None:
    plan = load_plan(
        write_plan(tmp_path, kind="nginx", config="nginx.conf", url="http://127.0.0.1:9", blue_port=1, green_port=2)
    )
    command = restart_command(plan, {**ENV, "ROLLOUT_NGINX_BIN": "/opt/nginx"})
    assert command == ["/opt/nginx", "-e", "stderr", "-p", f"{tmp_path}/", "-c", str(tmp_path / "nginx.conf")]
    assert restart_command(replace(plan, router=replace(plan.router, reload="nginx -s reload")), ENV) is None


def test_the_revision_of_a_rendered_config_is_found_in_it_and_none_in_another(tmp_path: Path) -> None:
    plan = litellm_plan(tmp_path, tmp_path / "reloads")
    text = render_config(plan, state("early", 25))
    assert revision_of(text) == change_for(plan, state("early", 25), probes=None, env=ENV).revision
    assert revision_of(text.replace("weight: 25", "weight: 26")) is None
    assert revision_of("model_list: []  # 0123456789ab\n") is None
    assert revision_of(None) is None


def test_probes_answered_with_errors_are_counted_by_status_with_where_such_errors_come_from(tmp_path: Path) -> None:
    plan = litellm_plan(tmp_path, tmp_path / "reloads")
    (tmp_path / "litellm.yaml").write_text("model_list: []\n")
    router = FakeLiteLLM(plan.router.config)

    def green_keyless(request: httpx.Request) -> httpx.Response:
        response = router.handle(request)
        return httpx.Response(500) if response.headers.get("x-litellm-model-id") == "green" else response

    with pytest.raises(ExternalError) as info:
        apply_traffic(plan, state("early", 25), env=ENV, transport=httpx.MockTransport(green_keyless))
    message = str(info.value)
    assert re.search(
        r"observed 0/\d+ = 0\.0% \(interval .*, \d+ failed or unattributed: HTTP 500 x\d+\) MISMATCH", message
    )
    assert "500 when the proxy has no key to send (the variable router.backend_key_env names" in message


def test_a_router_that_never_serves_the_new_config_is_undone(tmp_path: Path) -> None:
    plan = litellm_plan(tmp_path, tmp_path / "reloads")
    (tmp_path / "litellm.yaml").write_text("model_list: []\n")
    stale = httpx.MockTransport(lambda request: httpx.Response(200, json={"data": []}))
    with pytest.raises(ExternalError, match="does not serve the new config"):
        apply_traffic(plan, state("early", 25), env=ENV, transport=stale, live_timeout=0.2)
    assert (tmp_path / "litellm.yaml").read_text() == "model_list: []\n"


def test_litellm_without_a_reload_command_is_bad_input(tmp_path: Path) -> None:
    plan = load_plan(
        write_plan(
            tmp_path, kind="litellm", config="litellm.yaml", url="http://router.test", blue_port=8001, green_port=8002
        )
    )
    with pytest.raises(InputError, match=r"router\.reload"):
        apply_traffic(plan, state("early", 25), env=ENV)
    assert not plan.router.config.exists()


def test_a_probed_router_without_an_address_is_bad_input(tmp_path: Path) -> None:
    plan = litellm_plan(tmp_path, tmp_path / "reloads")
    plan = replace(plan, router=replace(plan.router, url=None))
    with pytest.raises(InputError, match=r"router\.url"):
        apply_traffic(plan, state("early", 25), env=ENV)
    assert not plan.router.config.exists()
    assert apply_traffic(plan, state("early", 25), env=ENV, probes=0).change.verified_by == "file"


def cli_run(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["apply", "--plan", str(tmp_path / "rollout-plan.yaml"), *args], env=ENV)
    return result.exit_code, result.stdout, result.stderr


def test_cli_dry_run_prints_the_plan_and_json_describes_the_apply(tmp_path: Path) -> None:
    file_plan(tmp_path, reload="true")
    (tmp_path / "rollout-traffic.yaml").write_text(
        "service: chat\nstage: early\ngreen: stub-green\nweights: {blue: 75, green: 25}\nrejected: []\n"
    )
    code, out, _ = cli_run(tmp_path, "--dry-run")
    assert code == 0 and '+    "green": 25' in out
    assert "  reload: true\n" in out and "  verify: the written file\n" in out
    assert not (tmp_path / "flags" / "chat.json").exists()
    code, out, _ = cli_run(tmp_path, "--dry-run", "--json")
    planned = json.loads(out)
    assert code == 0 and (planned["applied"], planned["reload"]) == (False, "true")
    code, out, _ = cli_run(tmp_path, "--json")
    assert code == 0
    done = json.loads(out)
    assert done["applied"] is True
    assert {k: v for k, v in done.items() if k not in ("applied", "seconds", "checks")} == {
        k: v for k, v in planned.items() if k != "applied"
    }


@pytest.mark.parametrize(
    ("traffic", "message"),
    [
        ("service: chat\nstage: early\ngreen: g\nweights: {blue: 70, green: 25}\n", "weights add up to 95"),
        ("service: chat\nstage: canary\ngreen: g\nweights: {blue: 75, green: 25}\n", "'canary' is not a stage"),
    ],
)
def test_cli_bad_traffic_is_exit_2_with_file_and_line(tmp_path: Path, traffic: str, message: str) -> None:
    file_plan(tmp_path)
    (tmp_path / "rollout-traffic.yaml").write_text(traffic)
    code, _, err = cli_run(tmp_path)
    assert code == 2
    assert "rollout-traffic.yaml:" in err and message in err
    assert not (tmp_path / "flags").exists()


def test_cli_router_failure_is_exit_4(tmp_path: Path) -> None:
    file_plan(tmp_path, reload="false")
    code, _, err = cli_run(tmp_path)
    assert code == 4
    assert "reload command `false` failed" in err
