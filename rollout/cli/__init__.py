"""The `rollout` command line: parse, call the core, print, and exit with the codes in docs/architecture.md."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from rollout import __version__
from rollout.actions import in_actions
from rollout.actions.annotations import error_annotations
from rollout.cli.apply_cmd import apply
from rollout.cli.demo_cmd import demo
from rollout.cli.eval_cmd import eval_cmd
from rollout.cli.evidence_cmd import evidence
from rollout.cli.gate_cmd import gate
from rollout.cli.gitops_cmds import propose, rollback
from rollout.cli.init_cmd import init
from rollout.cli.output import guard_process_output, guarded_output, workflow_command
from rollout.cli.serve_cmd import serve
from rollout.cli.state_cmds import next_cmd, status, validate
from rollout.errors import InputError, RolloutError


class RolloutGroup(click.Group):
    """Turns a RolloutError into its message and exit code; anything else is a bug and keeps its traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        with guarded_output():
            try:
                return super().invoke(ctx)
            except RolloutError as exc:
                if ctx.meta.get("rollout.debug"):
                    raise
                report(exc)
                ctx.exit(exc.exit_code)


def report(exc: RolloutError) -> None:
    click.echo(f"error: {exc.message}" if "\n" not in exc.message else f"error:\n{exc.message}", err=True)
    if isinstance(exc, InputError) and in_actions(os.environ):
        for line in error_annotations(exc.problems):
            workflow_command(line)


@click.group(cls=RolloutGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, envvar="ROLLOUT_DEBUG", help="Show tracebacks instead of short messages.")
@click.version_option(__version__, prog_name="rollout")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Eval-gated blue-green rollout of LLM model versions, driven by pull requests."""
    ctx.meta["rollout.debug"] = debug


for command in (init, validate, status, next_cmd, serve, eval_cmd, evidence, gate, propose, apply, rollback, demo):
    cli.add_command(command)


def main() -> None:
    guard_process_output()
    sys.exit(cli.main(prog_name="rollout"))
