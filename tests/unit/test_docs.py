"""The README's promises that a script keeps: its first two commands are the fresh machine's, and CI runs the second."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def shell_blocks(text: str) -> list[str]:
    return [block.strip() for block in re.findall(r"^```sh\n(.*?)^```", text, flags=re.M | re.S)]


def test_the_readme_starts_with_setting_up_and_running_the_demo_then_the_tests() -> None:
    demo, tests = shell_blocks(README)[:2]
    assert demo.startswith("scripts/setup && ") and "rollout demo" in demo
    assert tests == "scripts/setup && scripts/test"
    assert README.index(demo) < README.index("## ")


def test_ci_runs_exactly_the_readme_s_test_command() -> None:
    lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert shell_blocks(README)[1] in lines


def test_the_test_script_checks_everything_before_pytest_and_ends_with_it() -> None:
    script = (REPO / "scripts" / "test").read_text()
    steps = [line.split(None, 1)[1] for line in script.splitlines() if line.startswith(("check ", "exec "))]
    assert steps == [
        ".venv/bin/ruff check .",
        ".venv/bin/ruff format --check .",
        ".venv/bin/mypy",
        ".venv/bin/cog --check README.md docs/cli.md",
        '.venv/bin/python -m pytest "$@"',
    ]
