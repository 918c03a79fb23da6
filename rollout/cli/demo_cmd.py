"""rollout demo: the whole lifecycle on this machine."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from rollout.cli.options import environ
from rollout.demo.run import DemoOptions, Timeline, run_demo
from rollout.demo.workspace import Scenario


@click.command()
@click.option(
    "--scenario",
    type=click.Choice(["good", "regression", "live-errors"]),
    default="good",
    show_default=True,
    help="good: green is as good as blue and reaches 100%; regression: green is worse and is rolled back; "
    "live-errors: green passes its evals but fails 5% of users' requests, and is rolled back mid-rollout "
    "(needs nginx).",
)
@click.option("--fast", is_flag=True, help="Soak each stage for seconds instead of minutes.")
@click.option(
    "--keep",
    type=click.Path(path_type=Path, file_okay=False),
    help="Build the demo in this (new or empty) directory and leave it there to inspect.",
)
@click.option(
    "--rollouts",
    type=click.IntRange(1, 10),
    metavar="N",
    default=1,
    show_default=True,
    help="Roll out again after each decommission: the promoted green is blue, a new green takes the freed port.",
)
@click.option(
    "--cases",
    type=click.IntRange(1),
    metavar="N",
    help="Run only the first N cases of each suite, with the quality margin widened to what N cases can resolve.",
)
def demo(scenario: Scenario, fast: bool, keep: Path | None, rollouts: int, cases: int | None) -> None:
    """Roll a new model version out on this machine: two real SmolLM2 servers, a real router, git as the state.

    Exit code: 0 the scenario ended as it should, 1 it did not, 3 it held on inconclusive evidence.
    """
    env = environ()
    show_progress = sys.stderr.isatty() and env.get("CI", "").lower() not in ("true", "1")
    timeline = Timeline(click.echo)
    result = run_demo(
        DemoOptions(
            scenario=scenario,
            fast=fast,
            keep=keep,
            env=env,
            show_progress=show_progress,
            rollouts=rollouts,
            cases=cases,
        ),
        timeline,
    )
    state = result.state
    click.echo("")
    click.echo(
        f"{result.ended} in {result.seconds:.0f}s: blue {state.weights.blue}% / green {state.weights.green}%"
        + (f"; rejected: {', '.join(state.rejected)}" if state.rejected else "")
    )
    click.echo("pull requests:")
    for line in result.pulls:
        click.echo(f"  {line}")
    if result.kept:
        repo = result.workdir / "repo"
        click.echo(
            f"inspect: cd {repo} && git log --graph --oneline && ls rollout-records/chat "
            f"&& cat rollout-traffic.yaml  (evidence: {result.workdir / 'evidence'})"
        )
    else:
        click.echo("(pass --keep DIR to keep the repository, records and verdicts)")
