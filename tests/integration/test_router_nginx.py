"""`rollout apply` against a real nginx on loopback, in front of two stub model servers."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from rollout.errors import ExternalError
from rollout.plan import Plan, load_plan
from rollout.routers import render_config
from rollout.routers.apply import apply_traffic
from rollout.routers.nginx import REVISION_HEADER
from rollout.traffic import TrafficState
from tests.support.net import free_port
from tests.support.routers import NGINX, Stub, nginx_plan, running_nginx, steady_load, stub_model, write_plan
from tests.support.routers import stage_state as state

pytestmark = pytest.mark.nginx

ENV = dict(os.environ)
GOLDEN = Path(__file__).parents[1] / "unit" / "routers" / "golden" / "nginx"


@dataclass(frozen=True)
class Rig:
    plan: Plan
    blue: Stub
    green: Stub

    def revision_served(self) -> str | None:
        assert self.plan.router.url is not None
        revision: str | None = httpx.get(self.plan.router.url + "/v1/models", timeout=5).headers.get(REVISION_HEADER)
        return revision


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """nginx started on the initial config (all blue) by the test, as an operator would start it once."""
    with stub_model("stub-blue") as blue, stub_model("stub-green") as green:
        plan = nginx_plan(tmp_path, blue_port=blue.port, green_port=green.port, state=TrafficState.initial("chat"))
        assert plan.router.url is not None
        with running_nginx(plan.router.config, plan.router.url):
            yield Rig(plan=plan, blue=blue, green=green)


def test_each_weight_step_is_observed_within_its_interval(rig: Rig) -> None:
    for green in (0, 5, 25, 75, 100):
        blue_before, green_before = len(rig.blue.served), len(rig.green.served)
        result = apply_traffic(rig.plan, state(green), env=ENV)
        [check] = result.checks
        assert check.ok, check.describe()
        assert (check.blue, check.green) != (0, 0)
        # The header is nginx's claim; the stubs' own logs must agree with it.
        assert len(rig.green.served) - green_before == check.green
        assert len(rig.blue.served) - blue_before == check.blue
        assert rig.revision_served() == result.change.revision


def test_internal_stage_splits_marked_requests_and_keeps_green_from_the_rest(tmp_path: Path) -> None:
    with stub_model("stub-blue") as blue, stub_model("stub-green") as green:
        plan = load_plan(
            write_plan(
                tmp_path,
                kind="nginx",
                config="nginx.conf",
                internal_first=True,
                url=f"http://127.0.0.1:{free_port()}",
                blue_port=blue.port,
                green_port=green.port,
            )
        )
        plan.router.config.write_text(render_config(plan, TrafficState.initial("chat")))
        assert plan.router.url is not None
        with running_nginx(plan.router.config, plan.router.url):
            result = apply_traffic(plan, state(5), env=ENV)
    internal, everyone = result.checks
    assert (internal.audience, internal.ok, everyone.audience, everyone.green) == ("internal", True, "all", 0)


def test_a_reload_under_steady_load_loses_no_request(rig: Rig) -> None:
    with steady_load(rig.plan.router.url or "", clients=20, max_seconds=30) as stats:
        for green in (25, 75, 5, 100, 25, 0):
            apply_traffic(rig.plan, state(green), env=ENV, probes=50)
    assert stats.failures == []
    assert stats.colors["blue"] > 0 and stats.colors["green"] > 0


def test_a_broken_config_is_rejected_and_the_old_one_keeps_serving(rig: Rig) -> None:
    before = apply_traffic(rig.plan, state(25), env=ENV)
    text = rig.plan.router.config.read_text()
    assert rig.plan.green is not None
    unresolvable = replace(rig.plan, green=replace(rig.plan.green, host="no-such-host.invalid"))
    with pytest.raises(ExternalError, match="nginx"):
        apply_traffic(unresolvable, state(75), env=ENV)
    assert rig.plan.router.config.read_text() == text
    assert sorted(p.name for p in rig.plan.router.config.parent.glob(".*")) == []
    again = apply_traffic(rig.plan, state(25), env=ENV)
    assert (again.change.changed, again.checks[0].ok, rig.revision_served()) == (False, True, before.change.revision)


def test_a_config_nginx_accepts_but_cannot_serve_is_undone(rig: Rig) -> None:
    before = apply_traffic(rig.plan, state(25), env=ENV)
    with socket_in_use() as busy:
        moved = replace(rig.plan, router=replace(rig.plan.router, url=f"http://127.0.0.1:{busy}"))
        with pytest.raises(ExternalError, match=r"(?s)does not serve the new config.*restored the previous.*reloaded"):
            apply_traffic(moved, state(75), env=ENV, live_timeout=3)
    assert rig.revision_served() == before.change.revision
    assert apply_traffic(rig.plan, state(25), env=ENV).checks[0].ok


def test_a_failing_reload_command_leaves_the_router_untouched(rig: Rig) -> None:
    before = apply_traffic(rig.plan, state(25), env=ENV)
    text = rig.plan.router.config.read_text()
    failing = replace(rig.plan, router=replace(rig.plan.router, reload="echo no permission >&2; exit 1"))
    with pytest.raises(ExternalError, match="no permission"):
        apply_traffic(failing, state(75), env=ENV)
    assert rig.plan.router.config.read_text() == text
    assert rig.revision_served() == before.change.revision


def test_a_revert_to_a_lower_weight_takes_effect_on_the_next_reload(rig: Rig) -> None:
    apply_traffic(rig.plan, state(75), env=ENV)
    reverted = apply_traffic(rig.plan, state(25), env=ENV)
    [check] = reverted.checks
    assert check.ok and check.intended == 25
    assert rig.revision_served() == reverted.change.revision


@pytest.mark.parametrize("case", sorted(p.name for p in GOLDEN.iterdir() if p.is_dir()))
def test_golden_nginx_configs_pass_nginx_t(case: str, tmp_path: Path) -> None:
    config = tmp_path / "nginx.conf"
    config.write_text((GOLDEN / case / "expected.conf").read_text())
    done = subprocess.run(
        [NGINX, "-q", "-t", "-e", "stderr", "-p", f"{tmp_path}/", "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


class socket_in_use:
    """A port some other process already listens on, so nginx's new config cannot bind it."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        return int(self.sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
