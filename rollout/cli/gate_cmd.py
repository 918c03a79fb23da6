"""rollout gate: compare blue's and green's eval results and write the verdict."""

from __future__ import annotations

from pathlib import Path

import click

from rollout.actions.environment_files import append_summary, write_outputs
from rollout.cli.options import environ, json_option, open_plan, parse_now, plan_option, save_output
from rollout.cli.output import echo_json_text
from rollout.errors import CheckFailed, Inconclusive
from rollout.gates.inputs import gate_files
from rollout.gates.report import render_report
from rollout.gates.verdict import server_skew, verdict_to_json
from rollout.situation import read_live_window

# Existence is checked with the files (gates.inputs.results_files), so that --allow-missing can tolerate it.
RESULTS = click.Path(path_type=Path)


@click.command()
@plan_option
@click.option(
    "--baseline",
    "baselines",
    type=RESULTS,
    multiple=True,
    required=True,
    help="Blue's results: a file, or a folder of *.json files. Repeat for more suites.",
)
@click.option(
    "--candidate",
    "candidates",
    type=RESULTS,
    multiple=True,
    required=True,
    help="Green's results, the same suites as --baseline.",
)
@click.option("--out", "out_path", type=click.Path(path_type=Path, dir_okay=False), help="Write the verdict JSON here.")
@click.option(
    "--report", "report_path", type=click.Path(path_type=Path, dir_okay=False), help="Write the Markdown report here."
)
@click.option(
    "--allow-missing",
    is_flag=True,
    help="Some eval jobs may not have finished: a path that is not there, or a suite the plan gates without "
    "results on a color, leaves the gates needing it inconclusive; the others decide as usual.",
)
@click.option("--now", "now_text", metavar="ISO8601", help="The live gates' window ends at this time (default: now).")
@json_option
def gate(
    plan_path: Path,
    baselines: tuple[Path, ...],
    candidates: tuple[Path, ...],
    out_path: Path | None,
    report_path: Path | None,
    allow_missing: bool,
    now_text: str | None,
    as_json: bool,
) -> None:
    """Gate green against blue on their eval results, with confidence intervals.

    Give one results file per suite and color; each file's `suite` is its suite's name (the
    `name:` in the suite's YAML, or the folder name: eval_suites/quality -> "quality").
    Folders of results files work too, e.g. the downloaded artifacts:

    \b
        rollout gate --baseline results/blue --candidate results/green --out verdict.json

    The quality and safety gates read the suites the plan names; latency and cost pool them all;
    feedback reads the plan's source; the live gates read what both colors served since the current
    stage started (once green carries traffic). Gates missing from the plan are skipped.

    The watch workflow passes --allow-missing, so that a round whose eval job timed out still rolls back
    on the live gates. Even then, results for a suite no gate names are bad input.

    Exit code: 0 pass, 1 a gate failed, 3 inconclusive (hold; the report says what would decide), 2 bad input.
    """
    env = environ()
    plan = open_plan(plan_path)
    since = read_live_window(plan)
    verdict = gate_files(
        plan, baselines, candidates, live_since=since, now=parse_now(now_text), env=env, allow_missing=allow_missing
    )
    report = render_report(verdict)
    if out_path:
        save_output(out_path, verdict_to_json(verdict), what="the verdict", env=env)
    if report_path:
        save_output(report_path, report, what="the report", env=env)
    write_outputs(env, {"verdict": verdict.outcome})
    append_summary(env, report)
    if as_json:
        echo_json_text(verdict_to_json(verdict))
    else:
        for result in verdict.gates:
            click.echo(f"{result.gate:<9} {result.outcome:<12} {result.reason}")
        click.echo(f"verdict   {verdict.outcome}")
    skew = server_skew(verdict)
    if skew is not None:
        click.echo(f"warning: {skew}", err=True)
    if verdict.outcome == "fail":
        raise CheckFailed("gate failed: " + ", ".join(g.gate for g in verdict.failing()))
    if verdict.outcome == "inconclusive":
        raise Inconclusive(
            "not enough evidence to decide: " + ", ".join(g.gate for g in verdict.undecided())
            if verdict.undecided()
            else "no gate is configured in the plan"
        )
