"""rollout evidence: the eval results kept in git for later watch rounds to reuse."""

from __future__ import annotations

from pathlib import Path

import click

from rollout.actions.environment_files import append_summary, write_outputs
from rollout.cli.options import echo_json, environ, forge_option, json_option, open_plan, plan_option
from rollout.evals.results import load_results
from rollout.forge import ForgeChoice, open_forge
from rollout.gates.inputs import results_files
from rollout.gates.report import code
from rollout.gitops.evidence import EvidenceSave, Saved, save_evidence


@click.group()
def evidence() -> None:
    """The eval results kept on the evidence branch (rollout-evidence/<service>), one file per color and suite."""


@evidence.command("save")
@plan_option
@click.option(
    "--results",
    "results_paths",
    type=click.Path(path_type=Path),
    multiple=True,
    required=True,
    help="Results of this round: a file, or a folder of *.json files. Repeat for more.",
)
@click.option(
    "--allow-missing",
    is_flag=True,
    help="Some eval jobs may not have finished: save what is there, and skip a path that is not.",
)
@forge_option
@click.option("--dry-run", is_flag=True, help="Say what would be written, and write nothing.")
@json_option
def save(
    plan_path: Path,
    results_paths: tuple[Path, ...],
    allow_missing: bool,
    forge_choice: ForgeChoice,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Record a round's eval results on the evidence branch, in one commit, as <color>/<suite>.json.

    A later round's `rollout eval --reuse DIR` or `pytest --rollout-reuse DIR`, with DIR a checkout of that
    branch, reuses what cannot differ. Safe to run again: files that already hold the same results are not
    written; results reused this round change nothing; interrupted ones are left out.

    Exit code: 0 saved (or nothing to save), 2 bad results, 4 the forge failed.
    """
    plan = open_plan(plan_path)
    saved = [
        Saved(file=str(path), results=load_results(path))
        for path in results_files(results_paths, missing_ok=allow_missing)
    ]
    env = environ()
    forge = open_forge(forge_choice, root=plan.root, env=env)
    outcome = save_evidence(forge, plan.service, saved, dry_run=dry_run)
    write_outputs(env, {"branch": outcome.branch, "sha": outcome.sha, "status": outcome.status})
    append_summary(env, summary_markdown(outcome))
    if as_json:
        echo_json(
            {
                "branch": outcome.branch,
                "status": outcome.status,
                "sha": outcome.sha,
                "written": list(outcome.written),
                "notes": list(outcome.notes),
            }
        )
        return
    click.echo(outcome.describe())
    for note in outcome.notes:
        click.echo(f"note: {note}")


def summary_markdown(outcome: EvidenceSave) -> str:
    lines = [f"### rollout evidence save: {outcome.status}", "", f"Branch {code(outcome.branch)}"]
    lines += [f"- wrote {code(path)}" for path in outcome.written]
    lines += [f"- {code(note)}" for note in outcome.notes]
    return "\n".join(lines)
