"""rollout init: scaffold a repository."""

from __future__ import annotations

from pathlib import Path

import click

from rollout.errors import InputError
from rollout.scaffold import scaffold, write_scaffold


@click.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False), default=".")
@click.option(
    "--service", metavar="NAME", default="chat", show_default=True, help="The model name clients ask the router for."
)
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init(directory: Path, service: str, force: bool) -> None:
    """Write a plan, the traffic file, example eval suites and the caller workflows into DIRECTORY."""
    files = scaffold(service)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError.at(str(directory), f"cannot create the directory: {exc.strerror}") from None
    written = write_scaffold(directory, files, force=force)
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(
        f"next: edit {directory / 'rollout-plan.yaml'}, then run `rollout validate --plan {directory / 'rollout-plan.yaml'}`"
    )
