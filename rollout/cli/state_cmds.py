"""validate, status, next: read the plan and the state, and say what they mean."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import click

from rollout.actions.environment_files import write_outputs
from rollout.actions.job_outputs import status_outputs
from rollout.callers import caller_warnings
from rollout.cli.options import echo_json, environ, json_option, open_plan, parse_now, plan_option
from rollout.evals.suite import check_suites
from rollout.gates.inputs import gate_warnings
from rollout.gates.verdict import load_verdict
from rollout.plan import require_suites, suite_gate_paths
from rollout.records import latest_recorded_verdict, traffic_build
from rollout.routers import router_warnings
from rollout.routers.apply import require_router_inputs
from rollout.serving.engines import serving_warnings
from rollout.situation import check_build, decide_next, read_situation_to_decide
from rollout.stages import EXIT_CODES, decision_to_dict
from rollout.traffic import load_traffic


@click.command()
@plan_option
@json_option
def validate(plan_path: Path, as_json: bool) -> None:
    """Check the plan and the traffic file; report every problem with its file and line."""
    plan = open_plan(plan_path)
    state = load_traffic(plan)
    check_build(plan, state, traffic_build(plan, state))
    require_router_inputs(plan, environ())
    require_suites(plan)
    check_suites(suite_gate_paths(plan.gates), env=environ())
    stages = " -> ".join(f"{s.weight}%" for s in plan.stages)
    green = plan.green.name if plan.green else "none"
    warnings = (
        serving_warnings(plan) + router_warnings(plan) + gate_warnings(plan, env=environ()) + caller_warnings(plan)
    )
    if as_json:
        echo_json(
            {
                "valid": True,
                "service": plan.service,
                "stages": [s.name for s in plan.stages],
                "blue": plan.blue.name,
                "green": plan.green.name if plan.green else None,
                "stage": state.stage,
                "warnings": list(warnings),
            }
        )
    else:
        click.echo(
            f"ok: {plan_path}: service {plan.service}, blue {plan.blue.name}, green {green}, "
            f"stages {stages}, router {plan.router.kind}"
        )
        for warning in warnings:
            click.echo(f"warning: {plan_path}: {warning}", err=True)


@click.command()
@plan_option
@json_option
def status(plan_path: Path, as_json: bool) -> None:
    """Where the rollout stands, and what would happen next on the latest recorded evidence."""
    plan = open_plan(plan_path)
    situation = read_situation_to_decide(plan)
    state, started = situation.state, situation.stage_started_at
    verdict = latest_recorded_verdict(plan)
    decision = decide_next(plan, situation, verdict=verdict, now=datetime.now(timezone.utc))
    outputs = status_outputs(plan, state, decision)
    write_outputs(environ(), outputs)
    if as_json:
        echo_json(
            {
                "service": plan.service,
                "stage": state.stage,
                "phase": outputs["phase"],
                "environment": outputs["environment"] or None,
                "green": state.green,
                "weights": {"blue": state.weights.blue, "green": state.weights.green},
                "rejected": list(state.rejected),
                "stage_started_at": started.isoformat() if started else None,
                "blue": plan.blue.name,
                "planned_green": plan.green.name if plan.green else None,
                "next": decision_to_dict(decision),
            }
        )
        return
    click.echo(f"service   {plan.service}")
    click.echo(
        f"stage     {state.stage or 'not started'}" + (f" (since {started:%Y-%m-%d %H:%M %Z})" if started else "")
    )
    click.echo(
        f"traffic   blue {plan.blue.name} {state.weights.blue}% / green {state.green or '-'} {state.weights.green}%"
    )
    if state.rejected:
        click.echo(f"rejected  {', '.join(state.rejected)}")
    click.echo(f"next      {decision.action}: {decision.reason}")
    if verdict is None:
        click.echo("          (no recorded verdict; pass --verdict to `rollout next` for fresh evidence)")


@click.command("next")
@plan_option
@click.option(
    "--verdict",
    "verdict_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Gate verdict for the current green (from `rollout gate --out`).",
)
@click.option("--now", "now_text", metavar="ISO8601", help="Decide as if it were this time (default: now).")
@json_option
def next_cmd(plan_path: Path, verdict_path: Path | None, now_text: str | None, as_json: bool) -> None:
    """Decide the next action: hold, advance, rollback, decommission or complete.

    Exit code: 0 advance/decommission/complete, 1 rollback, 3 hold.
    """
    plan = open_plan(plan_path)
    verdict = load_verdict(verdict_path) if verdict_path else None
    decision = decide_next(plan, read_situation_to_decide(plan), verdict=verdict, now=parse_now(now_text))
    write_outputs(environ(), {"decision": decision.action, "stage": decision.state.stage or ""})
    if as_json:
        echo_json(decision_to_dict(decision))
    else:
        click.echo(f"{decision.action}: {decision.reason}")
    click.get_current_context().exit(EXIT_CODES[decision.action])
