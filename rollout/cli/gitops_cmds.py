"""propose and rollback: turn a decision into the one pull request that moves traffic."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from rollout.actions import in_actions
from rollout.actions.annotations import annotation
from rollout.actions.environment_files import append_summary, write_outputs
from rollout.cli.options import echo_json, environ, forge_option, json_option, open_plan, parse_now, plan_option
from rollout.cli.output import workflow_command
from rollout.documents import read_text
from rollout.errors import EXIT_OK
from rollout.forge import ForgeChoice, open_forge
from rollout.gates.report import code, inline
from rollout.gates.verdict import Verdict, load_verdict
from rollout.gitops import commands
from rollout.gitops.sync import SyncResult
from rollout.stages import EXIT_CODES, decision_to_dict

F = TypeVar("F", bound=Callable[..., Any])


def shared_options(func: F) -> F:
    for option in reversed(
        (
            plan_option,
            click.option(
                "--report",
                "report_path",
                type=click.Path(path_type=Path, dir_okay=False),
                help="Gate report (Markdown, from `rollout gate --report`) for the pull request's body.",
            ),
            forge_option,
            click.option("--dry-run", is_flag=True, help="Say what would change on the forge, and change nothing."),
            click.option("--now", "now_text", metavar="ISO8601", help="Decide as if it were this time (default: now)."),
            json_option,
        )
    ):
        func = option(func)
    return func


@click.command()
@shared_options
@click.option(
    "--verdict",
    "verdict_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Gate verdict for the current green (from `rollout gate --out`).",
)
def propose(
    plan_path: Path,
    verdict_path: Path | None,
    report_path: Path | None,
    forge_choice: ForgeChoice,
    dry_run: bool,
    now_text: str | None,
    as_json: bool,
) -> None:
    """Open or update the pull request for the next decision; close those that no longer hold.

    Exit code as `rollout next`: 0 advance/decommission/complete, 1 rollback, 3 hold.
    """
    plan = open_plan(plan_path)
    verdict = load_verdict(verdict_path, display=str(verdict_path)) if verdict_path else None
    report = read_text(report_path, display=str(report_path)) if report_path else None
    env = environ()
    forge = open_forge(forge_choice, root=plan.root, env=env)
    outcome = commands.propose(plan, forge, verdict=verdict, report=report, now=parse_now(now_text), dry_run=dry_run)
    finish("propose", outcome, verdict, as_json=as_json, env=env)


@click.command()
@shared_options
@click.option("--reason", help="Why green is rolled back (shown in the pull request and its record).")
@click.option(
    "--auto-merge",
    is_flag=True,
    help="Merge the rollback pull request at once (also when the plan says rollback: {on_gate_failure: auto-merge}).",
)
def rollback(
    plan_path: Path,
    reason: str | None,
    auto_merge: bool,
    report_path: Path | None,
    forge_choice: ForgeChoice,
    dry_run: bool,
    now_text: str | None,
    as_json: bool,
) -> None:
    """Propose (or merge) a pull request that takes all traffic back from green and rejects its version."""
    plan = open_plan(plan_path)
    report = read_text(report_path, display=str(report_path)) if report_path else None
    env = environ()
    forge = open_forge(forge_choice, root=plan.root, env=env)
    outcome = commands.rollback(
        plan, forge, reason=reason, report=report, now=parse_now(now_text), auto_merge=auto_merge, dry_run=dry_run
    )
    finish("rollback", outcome, None, as_json=as_json, env=env, exit_code=EXIT_OK)


def finish(
    command: str,
    outcome: SyncResult,
    verdict: Verdict | None,
    *,
    as_json: bool,
    env: dict[str, str],
    exit_code: int | None = None,
) -> None:
    pull = outcome.pull
    write_outputs(
        env,
        {
            "decision": outcome.decision.action,
            "pr-number": pull.number if pull else None,
            "pr-url": pull.url if pull else None,
            "verdict": verdict.outcome if verdict else None,
            "status": outcome.status,
        },
    )
    append_summary(env, summary_markdown(command, outcome))
    if as_json:
        echo_json(sync_result_to_dict(outcome))
    else:
        click.echo(outcome.describe())
        for note in outcome.notes:
            click.echo(f"note: {note}")
    if in_actions(env):
        warn = outcome.decision.action == "rollback" or outcome.status == "foreign"
        workflow_command(annotation("warning" if warn else "notice", outcome.describe(), title=f"rollout {command}"))
    click.get_current_context().exit(EXIT_CODES[outcome.decision.action] if exit_code is None else exit_code)


def sync_result_to_dict(outcome: SyncResult) -> dict[str, Any]:
    pull = outcome.pull
    return {
        "decision": decision_to_dict(outcome.decision),
        "status": outcome.status,
        "branch": outcome.branch,
        "pr": {"number": pull.number, "url": pull.url, "title": pull.title} if pull else None,
        "merge_sha": outcome.merge_sha,
        "closed": list(outcome.closed),
        "notes": list(outcome.notes),
    }


def summary_markdown(command: str, outcome: SyncResult) -> str:
    decision, pull = outcome.decision, outcome.pull
    lines = [f"### rollout {command}: {decision.action}", "", inline(decision.reason), ""]
    if pull:
        lines.append(f"Pull request [#{pull.number}]({pull.url}): {outcome.status}")
    elif outcome.branch:
        lines.append(f"Branch {code(outcome.branch)}: {outcome.status}")
    if outcome.closed:
        lines.append("Closed: " + ", ".join(f"#{n}" for n in outcome.closed))
    lines += [f"- {inline(note)}" for note in outcome.notes]
    return "\n".join(lines)
