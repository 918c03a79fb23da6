"""rollout-traffic.yaml, the state a rollout PR changes (its decision records: rollout/records.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from rollout.atomic import write_atomic
from rollout.documents import Document, load_schema, load_yaml, parse_yaml, schema_problems
from rollout.errors import InputError, Problem
from rollout.plan import TRAFFIC_FILE, Plan

ROLLED_BACK = "rolled-back"


@dataclass(frozen=True, kw_only=True)
class Weights:
    blue: int
    green: int

    @classmethod
    def for_green(cls, green: int) -> Weights:
        return cls(blue=100 - green, green=green)


@dataclass(frozen=True, kw_only=True)
class TrafficState:
    service: str
    stage: str | None = None
    green: str | None = None
    weights: Weights = Weights(blue=100, green=0)
    rejected: tuple[str, ...] = ()

    @classmethod
    def initial(cls, service: str) -> TrafficState:
        return cls(service=service)

    def rejecting(self, version: str) -> TrafficState:
        rejected = self.rejected if version in self.rejected else (*self.rejected, version)
        return replace(self, stage=ROLLED_BACK, green=version, weights=Weights(blue=100, green=0), rejected=rejected)


def load_traffic(plan: Plan) -> TrafficState:
    """The traffic state beside the plan; a missing file is the initial state."""
    path = plan.traffic_path
    if not path.exists():
        return TrafficState.initial(plan.service)
    return parse_traffic(load_yaml(path, display=_display(plan, path), max_bytes=100_000), plan)


def parse_traffic_text(text: str, plan: Plan, *, file: str = TRAFFIC_FILE) -> TrafficState:
    return parse_traffic(parse_yaml(text, file=file), plan)


def parse_traffic(doc: Document, plan: Plan) -> TrafficState:
    if not isinstance(doc.data, dict):
        raise InputError.at(doc.file, "the traffic file is a YAML mapping (service, stage, weights, ...)", line=1)
    problems = schema_problems(doc, load_schema("traffic.schema.json"))
    if problems:
        raise InputError(problems)
    problems = _rule_problems(doc, plan)
    if problems:
        raise InputError(problems)
    data = doc.data
    return TrafficState(
        service=data["service"],
        stage=data["stage"],
        green=data.get("green"),
        weights=Weights(**data["weights"]),
        rejected=tuple(data.get("rejected", ())),
    )


def _rule_problems(doc: Document, plan: Plan) -> list[Problem]:
    data = doc.data
    problems = []
    if data["service"] != plan.service:
        problems.append(doc.problem(("service",), f"{data['service']!r} is not the plan's service {plan.service!r}"))
    weights = data["weights"]
    # JSON Schema counts 75.0 as an integer; a router config would get "75.0".
    problems += [
        doc.problem(("weights", color), f"{weights[color]!r} is not a whole number: weights are integers")
        for color in ("blue", "green")
        if type(weights[color]) is not int
    ]
    problems += _green_problems(doc, plan)
    if weights["blue"] + weights["green"] != 100:
        problems.append(doc.problem(("weights",), f"weights add up to {weights['blue'] + weights['green']}, not 100"))
    stage = data["stage"]
    if stage is None or stage == ROLLED_BACK:
        if weights["green"] != 0:
            problems.append(
                doc.problem(
                    ("weights", "green"),
                    f"green gets no traffic when the stage is {stage or 'null'}, not {weights['green']}",
                )
            )
    elif plan.stage(stage) is None:
        names = ", ".join(s.name for s in plan.stages)
        problems.append(doc.problem(("stage",), f"{stage!r} is not a stage of the plan ({names}, or {ROLLED_BACK})"))
    elif (expected := plan.stage(stage)) and expected.weight != weights["green"]:
        problems.append(
            doc.problem(
                ("weights", "green"), f"{weights['green']} is not the weight of stage {stage!r} ({expected.weight})"
            )
        )
    return problems


def _green_problems(doc: Document, plan: Plan) -> list[Problem]:
    """Traffic may only go to the plan's green, and never to a rejected version: no verdict covers any other."""
    data = doc.data
    share = data["weights"]["green"]
    if not share:
        return []
    green = data.get("green")
    planned = plan.green.name if plan.green else None
    if green != planned:
        if green is None:
            message = f"names no green version but gives green {share}%: name the plan's green {planned!r}"
        elif planned is None:
            message = f"{green!r} gets {share}% of the traffic but the plan names no green version"
        else:
            message = (
                f"{green!r} gets {share}% of the traffic but the plan's green is {planned!r}: roll it back "
                "(`rollout rollback`) before the plan names another version"
            )
        return [doc.problem(("green",), message)]
    if green in data.get("rejected", ()):
        return [
            doc.problem(
                ("rejected",),
                f"{green!r} is rejected but gets {share}% of the traffic: a rejected version gets none",
            )
        ]
    return []


def render_traffic(state: TrafficState) -> str:
    data = {
        "service": state.service,
        "stage": state.stage,
        "green": state.green,
        "weights": {"blue": state.weights.blue, "green": state.weights.green},
        "rejected": list(state.rejected),
    }
    header = "# Written by rollout pull requests: merge one to move traffic, revert it to move back.\n"
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=None)


def write_traffic(plan: Plan, state: TrafficState) -> Path:
    write_atomic(plan.traffic_path, render_traffic(state))
    return plan.traffic_path


def _display(plan: Plan, path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
