"""What `rollout validate` points out about a router that is legal but costs requests."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from rollout.plan import Plan, load_plan
from rollout.routers import router_warnings
from tests.support.plans import CHAT_PLAN

GOLDEN = Path(__file__).parent / "golden"


def with_router(**changes: object) -> Plan:
    plan = load_plan(CHAT_PLAN)
    return replace(plan, router=replace(plan.router, **changes))


def test_a_graceful_litellm_reload_is_not_warned_about() -> None:
    assert router_warnings(with_router(reload="systemctl reload litellm")) == ()
    assert router_warnings(with_router(reload="kill -HUP $(cat /run/litellm.pid)")) == ()


@pytest.mark.parametrize(
    "reload", ["systemctl restart litellm", "docker restart litellm", "sudo supervisorctl restart litellm-proxy"]
)
def test_a_litellm_reload_that_restarts_the_proxy_is_warned_about(reload: str) -> None:
    [warning] = router_warnings(with_router(reload=reload))
    assert warning.startswith(f"router.reload {reload!r} looks like a restart: every change of weights would stop")
    assert "systemctl reload litellm" in warning and "restarts: true" in warning


@pytest.mark.parametrize("kind", ["litellm", "nginx"])
def test_a_declared_restart_is_an_explicit_choice_that_is_still_warned_about(kind: str) -> None:
    [warning] = router_warnings(with_router(kind=kind, reload="systemctl restart router", restarts=True))
    assert warning.startswith(f"router.restarts: every change of weights restarts the {kind} router")


def test_a_kserve_color_left_to_a_local_supervisor_is_warned_about() -> None:
    plan = load_plan(GOLDEN / "kserve" / "rollout-plan.yaml")
    [warning] = router_warnings(plan)
    assert warning.startswith("models.green.supervisor is process: KServe serves green from router.config")
    blue_only = replace(plan, green=None)
    assert router_warnings(blue_only) == ()
