"""The command-line reference is rendered from the click commands, so README and docs/cli.md say what --help says."""

from __future__ import annotations

import click
from click.testing import CliRunner

from rollout.cli import cli
from rollout.cli.reference import cli_reference, synopsis


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def tool() -> None:
    """A tool."""


@tool.command()
@click.argument("color", type=click.Choice(["blue", "green"]))
@click.argument("extra", required=False)
@click.option("--plan", "plan_path", default="plan.yaml")
@click.option("--suite", required=True, type=click.Path(dir_okay=False))
@click.option("--repeats", type=click.IntRange(1, 9), metavar="K")
@click.option("--mode", type=click.Choice(["fast", "slow"]))
@click.option("--force", is_flag=True)
@click.option("--secret", hidden=True)
def run(**_: object) -> None:
    """Run it."""


@tool.group()
def serve() -> None:
    """Serve things."""


@serve.command()
@click.option("--very-long-option-name-one", metavar="VALUE")
@click.option("--very-long-option-name-two", metavar="VALUE")
@click.option("--very-long-option-name-three", metavar="VALUE")
def start(**_: object) -> None:
    """Start."""


def test_synopsis_brackets_what_may_be_left_out_and_skips_the_shared_plan_option() -> None:
    assert synopsis(tool, "tool").splitlines() == [
        "```",
        "tool run blue|green [EXTRA] --suite FILE [--repeats K] [--mode fast|slow] [--force]",
        "tool serve start [--very-long-option-name-one VALUE] [--very-long-option-name-two VALUE]",
        "           [--very-long-option-name-three VALUE]",
        "```",
    ]


def test_the_reference_is_each_command_s_help_word_for_word() -> None:
    reference = cli_reference(tool, "tool")
    headings = [line for line in reference.splitlines() if line.startswith("## ")]
    assert headings == ["## tool", "## tool run", "## tool serve", "## tool serve start"]
    for args in ([], ["run"], ["serve"], ["serve", "start"]):
        help_text = CliRunner().invoke(tool, [*args, "--help"], prog_name="tool", terminal_width=80).output
        assert help_text in reference, args


def test_every_option_of_the_real_commands_is_in_the_synopsis() -> None:
    text = synopsis(cli)
    for option in ("--probes N", "--forge auto|github|local", "--model NAME", "--timeout S", "--retries N"):
        assert option in text
    assert "--plan" not in text and "--help" not in text
