"""Promoting green to blue in the plan's text keeps everything else as written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rollout.errors import InputError
from rollout.gitops.planedit import promote, promote_green
from rollout.plan import Color, load_plan
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


SWAPPED: dict[Color, str] = {"blue": "chat-green", "green": "chat-v1"}


@pytest.mark.parametrize(
    ("router", "kept"),
    [
        # block style, with and without backends, a block-style backends, and a router that ends the file
        (
            "router:\n  kind: kserve  # the router\n  config: deploy/x.yaml\n\nstages: []\n",
            "  kind: kserve  # the router\n",
        ),
        ("router:\n  kind: kserve\n  backends: {green: chat-v2}\n  config: c\n# next\nstages: []\n", "# next\n"),
        ("router:\n  kind: kserve\n  backends:\n    green: chat-v2\n  config: c\nstages: []\n", "  config: c\n"),
        ("router:\n  kind: kserve\n  config: c", "  config: c\n"),
        # flow style
        ("router: {kind: kserve, config: c, backends: {green: chat-v2}}  # routing\nstages: []\n", "  # routing\n"),
    ],
)
def test_a_promotion_can_set_the_routers_backends_too(router: str, kept: str) -> None:
    text = "models:\n  blue: {name: b, port: 1}\n  green: {name: g, port: 2}\n" + router
    result = promote_green(text, file="p", backends=SWAPPED)
    after, before = yaml.safe_load(result), yaml.safe_load(text)
    assert after["router"] == {**before["router"], "backends": SWAPPED}
    assert after["models"] == {"blue": {"name": "g", "port": 2}}
    assert kept in result


def test_backends_need_a_router_mapping() -> None:
    with pytest.raises(InputError, match="no 'router' mapping"):
        promote_green("models:\n  blue: {name: b}\n  green: {name: g}\n", file="p", backends=SWAPPED)


GOLDEN = Path(__file__).resolve().parents[1] / "routers" / "golden"


@pytest.mark.parametrize(("source", "kubernetes"), [(GOLDEN / "gateway-api", False), (GOLDEN / "kserve", True)])
def test_the_promoted_plan_is_the_plan_its_text_says(tmp_path: Path, source: Path, kubernetes: bool) -> None:
    text = (source / "rollout-plan.yaml").read_text()
    if kubernetes:
        text = text.replace("port: 8002", "port: 8002, supervisor: kubernetes")
    (tmp_path / "rollout-plan.yaml").write_text(text)
    plan = load_plan(tmp_path / "rollout-plan.yaml")
    promotion = promote(plan, text)
    (tmp_path / "rollout-plan.yaml").write_text(promotion.text)
    assert load_plan(tmp_path / "rollout-plan.yaml") == promotion.plan
    assert (promotion.plan.router.backends != plan.router.backends) is kubernetes
