"""Promoting green to blue in the plan's text keeps everything else as written."""

from __future__ import annotations

import pytest
import yaml

from rollout.errors import InputError
from rollout.gitops.planedit import promote_green
from tests.support.plans import CHAT_PLAN


def test_a_plan_keeps_its_comments_and_layout() -> None:
    text = CHAT_PLAN.read_text()
    before = yaml.safe_load(text)
    result = promote_green(text, file="rollout-plan.yaml")
    after = yaml.safe_load(result)
    assert after["models"] == {"blue": before["models"]["green"]}
    assert {k: v for k, v in after.items() if k != "models"} == {k: v for k, v in before.items() if k != "models"}
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert all(line in result.splitlines() for line in comments)
    assert len(result.splitlines()) == len(text.splitlines()) - 6


def test_flow_entries_with_green_first_and_trailing_comments() -> None:
    text = (
        "version: 1\n"
        "models:\n"
        "  green: {name: g, port: 8002}   # the candidate\n"
        "  blue:  {name: b, port: 8001}\n"
        "\n"
        "# Routing comes next.\n"
        "router: {kind: file}\n"
    )
    assert promote_green(text, file="p") == (
        "version: 1\n"
        "models:\n"
        "  blue: {name: g, port: 8002}   # the candidate\n"
        "\n"
        "# Routing comes next.\n"
        "router: {kind: file}\n"
    )


def test_a_flow_style_models_mapping_is_rewritten_in_place() -> None:
    text = "models: {blue: {name: b, port: 1}, green: {name: g, port: 2}}  # both\nx: 1\n"
    result = promote_green(text, file="p")
    assert yaml.safe_load(result) == {"models": {"blue": {"name": "g", "port": 2}}, "x": 1}
    assert result.endswith("  # both\nx: 1\n")


def test_the_last_entry_at_the_end_of_the_file_without_a_newline() -> None:
    text = "models:\n  blue:\n    name: b\n  green:\n    name: g\n    port: 2"
    assert yaml.safe_load(promote_green(text, file="p")) == {"models": {"blue": {"name": "g", "port": 2}}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("models:\n  blue: {name: b}\n", "no green version"),
        ("version: 1\n", "no 'models' mapping"),
        ("models: [\n", "cannot be read as YAML"),
    ],
)
def test_plans_that_cannot_be_promoted(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        promote_green(text, file="p")
