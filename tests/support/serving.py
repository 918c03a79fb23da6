"""Plans for tests of `rollout serve`: blue and green on loopback, with their state dir beside the plan."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner, Result

from rollout.cli import cli
from rollout.plan import COLORS, Plan, load_plan
from rollout.serving import stop
from rollout.traffic import TrafficState, Weights, write_traffic
from tests.support.net import free_port

STUB = Path(__file__).resolve().parents[1] / "fixtures" / "serving" / "stub_server.py"


def stub_command(*extra: str) -> str:
    """A command-engine template that runs the stub OpenAI-compatible server."""
    return " ".join([sys.executable, str(STUB), "--host", "{host}", "--port", "{port}", "--name", "{name}", *extra])


def fake_vllm(bin_dir: Path) -> Path:
    """A `vllm` program that runs the stub with vLLM's command line (`vllm serve MODEL --port ...`)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    program = bin_dir / "vllm"
    program.write_text(
        f"#!{sys.executable}\nimport runpy, sys\nsys.argv[0] = {str(STUB)!r}\n"
        f"runpy.run_path({str(STUB)!r}, run_name='__main__')\n"
    )
    program.chmod(0o755)
    return program


def write_plan(root: Path, blue: Mapping[str, Any], green: Mapping[str, Any] | None = None) -> Plan:
    models = {"blue": {"engine": "command", **blue}}
    if green is not None:
        models["green"] = {"engine": "command", **green}
    data = {
        "version": 1,
        "service": "chat",
        "state_dir": "state",
        "models": models,
        "router": {"kind": "file", "config": "flags.json"},
        "stages": [{"name": "early", "weight": 25, "soak": "1h"}, {"name": "full", "weight": 100, "soak": "1h"}],
        "gates": {},
    }
    path = root / "rollout-plan.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_plan(path)


def set_traffic(plan: Plan, green: int) -> None:
    stage = next((s.name for s in plan.stages if s.weight == green), None)
    write_traffic(
        plan,
        TrafficState(
            service=plan.service, stage=stage, green=plan.model("green").name, weights=Weights.for_green(green)
        ),
    )


@contextmanager
def blue_and_green(root: Path, command: str, *, prefix: str, model: str = "m") -> Iterator[Plan]:
    """A plan with both colors on free loopback ports; whatever it started is stopped at the end."""
    plan = write_plan(
        root,
        {"name": f"{prefix}-blue", "model": model, "port": free_port(), "command": command},
        {"name": f"{prefix}-green", "model": model, "port": free_port(), "command": command},
    )
    try:
        yield plan
    finally:
        for color in reversed(COLORS):
            stop(plan, color, force=True, grace=5)


def serve_cli(plan: Plan, *args: str) -> Result:
    """`rollout serve ARGS --plan PLAN`, in process."""
    return CliRunner().invoke(cli, ["serve", *args, "--plan", str(plan.path)])
