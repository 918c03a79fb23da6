"""`rollout apply` against a real nginx on loopback, in front of two stub model servers."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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
from tests.support.net import free_port, wait_until
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


@dataclass(frozen=True)
class Killable(Rig):
    nginx: subprocess.Popen[bytes]

    def kill(self) -> None:
        """SIGKILL to nginx's master and workers, the master left unreaped as a crashed one is until its
        supervisor notices: its pid file stays and its pid still takes signals, so `nginx -s reload` succeeds."""
        master = self.nginx.pid
        workers = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        for pid in (master, *map(int, workers)):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Killable]:
    """nginx started on the initial config (all blue) by the test, as an operator would start it once."""
    with stub_model("stub-blue") as blue, stub_model("stub-green") as green:
        plan = nginx_plan(tmp_path, blue_port=blue.port, green_port=green.port, state=TrafficState.initial("chat"))
        assert plan.router.url is not None
        with running_nginx(plan.router.config, plan.router.url) as nginx:
            yield Killable(plan=plan, blue=blue, green=green, nginx=nginx)


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


def test_a_split_that_fails_is_undone_and_the_router_answers_on_the_previous_config(rig: Rig) -> None:
    before = apply_traffic(rig.plan, state(25), env=ENV)
    assert rig.plan.green is not None
    nothing = replace(rig.plan, green=replace(rig.plan.green, port=free_port()))
    with pytest.raises(ExternalError) as info:
        apply_traffic(nothing, state(75), env=ENV, probes=40)
    message = str(info.value)
    assert "HTTP 502" in message and "MISMATCH" in message, message
    assert message.endswith(
        f"restored the previous {rig.plan.router.config} and reloaded it; "
        f"the router answers on config {before.change.revision}"
    ), message
    assert rig.revision_served() == before.change.revision


def test_a_router_that_dies_during_verification_is_reported_down_after_the_undo(rig: Killable) -> None:
    before = apply_traffic(rig.plan, state(25), env=ENV)
    served = len(rig.blue.served) + len(rig.green.served)
    rig.blue.stalling.set()
    rig.green.stalling.set()
    with ThreadPoolExecutor(max_workers=1) as pool:
        applying = pool.submit(apply_traffic, rig.plan, state(75), env=ENV, live_timeout=5)
        wait_until(lambda: len(rig.blue.served) + len(rig.green.served) >= served + 5, timeout=60, what="the probes")
        rig.kill()
        with pytest.raises(ExternalError) as info:
            applying.result()
    message = str(info.value)
    config = rig.plan.router.config
    start = f"{NGINX} -e stderr -p {config.parent}/ -c {config}"
    assert f"restored the previous {config} and reloaded it, but the router does not answer" in message, message
    assert f"does not serve config {before.change.revision} after 5s" in message, message
    assert message.endswith(f"; restart it with `{start}`"), message
    assert info.value.exit_code == 4
    # Started again as the message says, nginx serves the restored config.
    subprocess.run(start, shell=True, check=True)
    try:
        wait_until(lambda: _revision_or_none(rig) == before.change.revision, timeout=10, what="nginx start")
    finally:
        subprocess.run(f"{start} -s stop", shell=True, check=True)


def _revision_or_none(rig: Rig) -> str | None:
    try:
        return rig.revision_served()
    except httpx.HTTPError:
        return None


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
