"""rollout eval: run one suite against blue, green or any OpenAI-compatible URL."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from rollout.actions.annotations import neutralise
from rollout.actions.environment_files import write_outputs
from rollout.cli.options import echo_json, environ, json_option, plan_option, save_output
from rollout.cli.output import raw
from rollout.errors import EXIT_INTERRUPTED, ExternalError, InputError
from rollout.evals.results import EvalResults, results_to_json
from rollout.evals.reuse import ReuseChoice
from rollout.evals.runner import Settings, run_or_reuse
from rollout.evals.suite import Suite, load_suite
from rollout.evals.summary import summarize, summary_dict, summary_line
from rollout.evals.target import Target, resolve_target
from rollout.retry import RetryPolicy


@click.command("eval")
@click.option(
    "--suite",
    "suite_path",
    required=True,
    type=click.Path(path_type=Path),
    help="A suite folder (eval_suites/quality) or one suite file.",
)
@click.option(
    "--target",
    "target_text",
    required=True,
    metavar="blue|green|URL",
    help="A color of the plan, or an OpenAI-compatible base URL.",
)
@click.option(
    "--model", metavar="NAME", help="Served model name for a URL target (default: the first one /v1/models lists)."
)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Write the results JSON here.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 4096),
    metavar="N",
    default=16,
    show_default=True,
    help="Requests in flight at once.",
)
@click.option(
    "--repeats", type=click.IntRange(1, 1000), metavar="K", help="Ask each case this many times (overrides the suite)."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    metavar="S",
    default=120.0,
    show_default=True,
    help="Seconds one request may take, stream included.",
)
@click.option(
    "--retries",
    type=click.IntRange(0, 100),
    metavar="N",
    default=4,
    show_default=True,
    help="Retries on connect errors, 429 and 5xx (honouring Retry-After).",
)
@click.option(
    "--reuse",
    type=click.Path(path_type=Path, file_okay=False),
    metavar="DIR",
    help="Recorded results (DIR/<color>/<suite>.json, e.g. a checkout of the evidence branch): reuse them when "
    "they cannot differ (temperature 0, same model, revision, serving args and suite), add this run's repeats "
    "to a sampled suite's, else run.",
)
@plan_option
@json_option
def eval_cmd(
    suite_path: Path,
    target_text: str,
    model: str | None,
    out: Path | None,
    concurrency: int,
    repeats: int | None,
    timeout: float,
    retries: int,
    reuse: Path | None,
    plan_path: Path,
    as_json: bool,
) -> None:
    """Run an eval suite and write its results (rollout.eval-results/v1).

    Exit code: 0 ran (scores are for `rollout gate` to judge), 2 bad suite or target, 4 every request failed,
    130 interrupted (partial results are still written).
    """
    env = environ()
    if out is not None:
        check_writable(out)
    suite = load_suite(suite_path, env=env).with_repeats(repeats)
    target = resolve_target(target_text, plan_path=plan_path, model=model, env=env)
    settings = Settings(concurrency=concurrency, timeout=timeout, retry=RetryPolicy(retries=retries))
    show_bar = sys.stderr.isatty() and env.get("CI", "").lower() not in ("true", "1")
    results, choice = run_with_bar(suite, target, settings, env, show_bar, reuse)
    if out is not None:
        save_output(out, results_to_json(results), what="the results", env=env)
    summary = summarize(results)
    report = summary_dict(results, summary, out)
    write_outputs(env, {"results": report["out"], "mean": report["mean"], "errors": summary.errors})
    if as_json:
        echo_json(report)
    else:
        if choice is not None and choice.action != "reuse":
            click.echo(f"{choice.action}: {choice.reason}")
        click.echo(summary_line(results, summary) + (f" -> {out}" if out else ""))
    if results.interrupted:
        click.get_current_context().exit(EXIT_INTERRUPTED)
    if summary.all_failed:
        first = next(error for case in results.cases for error in case.errors)
        raise ExternalError(f"every request to {target.url} failed; the first: {first}")


def check_writable(out: Path) -> None:
    """Fail before the run, not after it, if the results cannot be written."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError.at(str(out), f"cannot create its folder: {exc.strerror or exc}", field="--out") from None
    if out.is_dir() or not os.access(out.parent, os.W_OK):
        raise InputError.at(str(out), "cannot be written (a folder, or no write permission)", field="--out")


def run_with_bar(
    suite: Suite, target: Target, settings: Settings, env: dict[str, str], show_bar: bool, reuse: Path | None
) -> tuple[EvalResults, ReuseChoice | None]:
    if not show_bar:
        return run_or_reuse(suite, target, settings, env=env, reuse=reuse)
    total = sum(case.repeats for case in suite.cases)
    label = neutralise(f"{suite.name} on {target.label}")
    with click.progressbar(length=total, label=label, file=raw(sys.stderr)) as bar:
        return run_or_reuse(suite, target, settings, env=env, reuse=reuse, progress=bar.update)
