"""apply: make the router serve rollout-traffic.yaml, and prove the split."""

from __future__ import annotations

from pathlib import Path

import click

from rollout.actions.environment_files import append_summary, write_outputs
from rollout.cli.options import echo_json, environ, json_option, open_plan, plan_option
from rollout.forge import FORGE_CHOICES, ForgeChoice, optional_forge
from rollout.gitops.landing import land, landing_markdown, pushed_sha
from rollout.routers.apply import (
    LOCK_WAIT,
    apply_traffic,
    change_for,
    change_to_dict,
    describe_change,
    result_to_dict,
    signals_stop_cleanly,
)
from rollout.traffic import load_traffic


@click.command()
@plan_option
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print what apply would do (the config diff, the commands it would run, the split it would verify) "
    "and change nothing.",
)
@click.option(
    "--probes",
    type=click.IntRange(0, 10_000),
    metavar="N",
    help="Probe requests to verify the split "
    "(default: router.probes in the plan, 200; 0 checks the written file only).",
)
@click.option(
    "--forge",
    "forge_choice",
    type=click.Choice(FORGE_CHOICES),
    default="auto",
    show_default=True,
    help="Where to record the deployment and comment on the PR that caused it (auto: github in Actions, "
    "else this git repository, else nowhere).",
)
@click.option(
    "--lock-wait",
    type=click.FloatRange(min=0),
    default=LOCK_WAIT,
    show_default=True,
    metavar="S",
    help="Seconds to wait while another apply holds the router, before giving up (exit 4).",
)
@json_option
def apply(
    plan_path: Path, dry_run: bool, probes: int | None, forge_choice: ForgeChoice, lock_wait: float, as_json: bool
) -> None:
    """Render the router config from rollout-traffic.yaml, reload the router, and verify the split.

    One apply at a time: a second waits for the first (--lock-wait), then says the router is busy (exit 4).
    On any failure after the swap the previous config is restored and reloaded, and apply says whether the
    router answers on it again, and if not how to restart it (exit 4 either way); so it is on SIGTERM or
    Ctrl-C (exit 143 or 130), and the deployment is marked failed.
    """
    plan = open_plan(plan_path)
    env = environ()
    state = load_traffic(plan)
    if dry_run:
        change = change_for(plan, state, probes=probes, env=env)
        if as_json:
            echo_json(change_to_dict(change))
        else:
            click.echo(describe_change(change), nl=False)
        return
    forge = optional_forge(forge_choice, root=plan.root, env=env)
    with signals_stop_cleanly():
        landing = land(
            plan,
            state,
            forge,
            sha=pushed_sha(plan, env),
            apply=lambda: apply_traffic(plan, state, probes=probes, env=env, lock_wait=lock_wait),
        )
    result, change = landing.result, landing.result.change
    write_outputs(
        env, {"revision": change.revision, "changed": str(change.changed).lower(), "movement": landing.movement}
    )
    append_summary(env, landing_markdown(landing))
    if as_json:
        echo_json(result_to_dict(result))
        return
    click.echo(
        f"applied {change.kind} config {change.config} (revision {change.revision}"
        f"{'' if change.changed else ', unchanged'}): {change.summary}"
    )
    click.echo(f"  this push: {landing.movement}")
    for check in result.checks:
        click.echo(f"  verified {check.describe()}")
    if change.verified_by == "file":
        click.echo("  verified the written file (this router kind is not probed)")
