"""The output layer: no line we did not write reaches the runner as a workflow command."""

from __future__ import annotations

import io
import json
import sys

import click
import pytest
from click.testing import CliRunner

from rollout.actions.annotations import annotation, neutralise
from rollout.cli.output import GuardedStream, guarded_output, workflow_command
from tests.support.hostile import Hostile, corpus, obeyed_lines


@pytest.mark.parametrize("hostile", corpus("runner", "terminal"), ids=lambda h: h.name)
def test_neutralised_text_has_no_line_the_runner_obeys(hostile: Hostile) -> None:
    assert obeyed_lines(hostile.text), "the corpus entry must be hostile to begin with"
    assert obeyed_lines(neutralise(hostile.text)) == []


@pytest.mark.parametrize("hostile", corpus(), ids=lambda h: h.name)
def test_neutralising_is_idempotent_and_keeps_the_lines(hostile: Hostile) -> None:
    once = neutralise(hostile.text)
    assert neutralise(once) == once
    assert once.count("\n") == hostile.text.count("\n")


def test_plain_text_passes_unchanged() -> None:
    text = "quality   pass         green 0.91 vs blue 0.90: within the margin (a: b, c)\n  indented\ttab\n"
    assert neutralise(text) == text


def test_the_guard_neutralises_a_command_written_in_pieces() -> None:
    inner = io.StringIO()
    stream = GuardedStream(inner)
    for piece in ("  :", ":add-mask::secret", "\r", "\n#", "#", "[group]x\n", "tail ::"):
        stream.write(piece)
        stream.flush()
    stream.drain()
    assert obeyed_lines(inner.getvalue()) == []
    assert inner.getvalue() == "  : :add-mask::secret\r\n## [group]x\ntail ::"


def test_only_our_workflow_commands_get_through(capsys: pytest.CaptureFixture[str]) -> None:
    ours = annotation("warning", "::add-mask::x\n::error::y", title="rollout propose")
    with guarded_output():
        print("::add-mask::from a model")
        workflow_command(ours)
        print("::error::from a server", file=sys.stderr)
    out, err = capsys.readouterr()
    assert out.splitlines() == [": :add-mask::from a model", ours]
    assert obeyed_lines(out, ours=(ours,)) == []
    assert obeyed_lines(err) == []


def test_a_workflow_command_must_be_one_command() -> None:
    with pytest.raises(ValueError):
        workflow_command("::notice::a\n::add-mask::b")
    with pytest.raises(ValueError):
        workflow_command("plain text")


def test_click_output_through_the_guard_stays_valid_json() -> None:
    @click.command()
    def show() -> None:
        from rollout.cli.options import echo_json

        echo_json({"green": "##[add-mask]x", "reason": "::error::y\n::add-mask::z"})

    @click.group()
    def group() -> None: ...

    group.add_command(show)

    with CliRunner().isolation() as (out, _err, _), guarded_output():
        group.main(["show"], standalone_mode=False)
    text = out.getvalue().decode()
    assert json.loads(text) == {"green": "##[add-mask]x", "reason": "::error::y\n::add-mask::z"}
    assert obeyed_lines(text) == []
