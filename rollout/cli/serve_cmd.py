"""rollout serve start|stop|status blue|green: run the plan's model servers on this machine."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from rollout.cli.options import echo_json, environ, json_option, open_plan, plan_option
from rollout.plan import COLORS, Color
from rollout.serving import ServerStatus, StartResult, StopResult, cluster, start, status, stop
from rollout.serving.cluster import ClusterStart, ClusterStatus
from rollout.serving.lifecycle import DEFAULT_START_TIMEOUT

R = TypeVar("R", ServerStatus, StartResult, StopResult, ClusterStart, ClusterStatus)

color_argument = click.argument("color", type=click.Choice(COLORS))


@click.group()
def serve() -> None:
    """Start, stop and inspect the blue and green model servers."""


@serve.command("start")
@plan_option
@color_argument
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=DEFAULT_START_TIMEOUT,
    show_default=True,
    metavar="S",
    help="Seconds to wait for /health and /v1/models before giving up.",
)
@json_option
def start_cmd(plan_path: Path, color: Color, timeout: float, as_json: bool) -> None:
    """Start COLOR and wait until it serves its model; a no-op when it already does.

    Green starts only beside a healthy blue. Exit code 4 (with the server's last log lines) when it
    exits or stays unhealthy; 1 when its port is taken or it would start at the wrong time.
    """
    plan = open_plan(plan_path)
    if plan.model(color).supervisor == "kubernetes":
        placed = cluster.start(plan, color, env=environ(), timeout=timeout)
        _emit(placed, as_json, lambda r: click.echo(r.describe()))
        return
    result = start(
        plan,
        color,
        timeout=timeout,
        env=environ(),
        progress=lambda message: click.echo(message, err=True),
    )
    _emit(result, as_json, _echo_start)


@serve.command("stop")
@plan_option
@color_argument
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    metavar="S",
    help="Seconds to let in-flight requests finish before terminating (default: the server's drain time).",
)
@click.option("--force", is_flag=True, help="Stop it even though it carries traffic.")
@json_option
def stop_cmd(plan_path: Path, color: Color, timeout: float | None, force: bool, as_json: bool) -> None:
    """Drain, terminate, then kill COLOR. Refuses (exit 1) while COLOR carries traffic, unless --force."""
    plan = open_plan(plan_path)
    if plan.model(color).supervisor == "kubernetes":
        # The repository is the cluster's source: a color's objects go when they are removed from it.
        click.echo(f"{color} runs in the cluster: its objects stay until they are removed from the repository")
        return
    result = stop(plan, color, force=force, drain=timeout, env=environ())
    _emit(result, as_json, _echo_stop)


@serve.command("status")
@plan_option
@color_argument
@json_option
def status_cmd(plan_path: Path, color: Color, as_json: bool) -> None:
    """Pid, port, health, served model, uptime, and whether COLOR runs what the plan says."""
    plan = open_plan(plan_path)
    if plan.model(color).supervisor == "kubernetes":
        seen = cluster.status(plan, color, env=environ())
        _emit(seen, as_json, lambda r: click.echo(r.describe()))
        return
    result = status(plan, color, env=environ())
    _emit(result, as_json, _echo_status)


def _emit(result: R, as_json: bool, as_text: Callable[[R], None]) -> None:
    if as_json:
        echo_json(dataclasses.asdict(result))
    else:
        as_text(result)


def _echo_start(result: StartResult) -> None:
    verb = "started" if result.action == "started" else "already running"
    click.echo(
        f"{result.status.color} {verb}: {result.status.name} at {result.status.url} "
        f"(waited {result.waited_seconds:.0f}s)"
    )
    _echo_status(result.status)


def _echo_stop(result: StopResult) -> None:
    for note in result.notes:
        click.echo(f"note: {note}")
    if result.action == "not-running":
        click.echo(f"{result.color} was not running")
    else:
        click.echo(f"{result.color} stopped (pid {result.pid}, {result.how})")


def _echo_status(result: ServerStatus) -> None:
    click.echo(f"{result.color:<6} {result.name}  {result.state}  port {result.port}  supervisor {result.supervisor}")
    if result.pid is not None:
        where = f"unit {result.unit}" if result.unit else f"log {result.log}"
        click.echo(f"       pid {result.pid}, up {_duration(result.uptime_seconds or 0)}, {where}")
        served = ", ".join(result.served) or "nothing"
        click.echo(f"       serves {served}" + (f" (vLLM {result.version})" if result.version else ""))
        click.echo(
            "       matches the plan"
            if result.matches_plan
            else "       differs from the plan: " + "; ".join(result.differences)
        )
    for note in result.notes:
        click.echo(f"       note: {note}")


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"
