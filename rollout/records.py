"""The decision records: one JSON file per traffic move, committed with the change it justifies.

A service's records sit in `rollout-records/<service>/`, named `NNNN-<stage>.json`: the number counts
the service's moves, the stage is where the move went.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from rollout.documents import Document, load_json, load_schema, schema_problems
from rollout.errors import InputError
from rollout.gates.verdict import Verdict, verdict_from_dict
from rollout.plan import Plan
from rollout.traffic import TrafficState, Weights

RECORD_SCHEMA = "rollout.record/v1"
_RECORD_NAME = re.compile(r"^(\d{4,})-")


@dataclass(frozen=True, kw_only=True)
class Record:
    """The evidence for one decision, committed with the traffic change it justifies."""

    service: str
    action: str
    stage: str | None
    weights: Weights
    reason: str
    green: Mapping[str, Any] = field(default_factory=dict)
    blue: Mapping[str, Any] = field(default_factory=dict)
    verdict: Mapping[str, Any] | None = None
    plan_digest: str = ""
    decided_at: str = ""

    def to_json(self) -> str:
        return json.dumps({"schema": RECORD_SCHEMA, **asdict(self)}, indent=2, sort_keys=False) + "\n"


def record_name(number: int, stage: str) -> str:
    return f"{number:04d}-{stage}.json"


def record_number(name: str) -> int | None:
    """The number a record's file name starts with; None for a file that is not a record."""
    found = _RECORD_NAME.match(name)
    return int(found.group(1)) if found else None


def next_record_number(plan: Plan) -> int:
    numbers = [n for path in plan.records_dir.glob("*.json") if (n := record_number(path.name)) is not None]
    return max(numbers, default=0) + 1


def _newest_first(plan: Plan) -> list[Path]:
    """The service's record files, newest first: by number, as names sort 10000 before 9999."""
    numbered = [(n, path) for path in plan.records_dir.glob("*.json") if (n := record_number(path.name)) is not None]
    return [path for _, path in sorted(numbered, key=lambda item: (item[0], item[1].name), reverse=True)]


def traffic_build(plan: Plan, state: TrafficState) -> Mapping[str, Any] | None:
    """The green the traffic state's weights were moved to: the `green` of the newest record that advanced
    `state.green`; None without one (a hand-written traffic file). Records that cannot be read are passed over."""
    for path in _newest_first(plan):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError, RecursionError):
            continue
        if not isinstance(data, dict) or data.get("action") != "advance":
            continue
        green = data.get("green")
        if isinstance(green, dict) and green.get("name") == state.green:
            return {**green, "record": path.name}
    return None


def latest_recorded_verdict(plan: Plan) -> Verdict | None:
    """The verdict of the newest record that carries one.

    A record that cannot be read is bad input, named with its file and field: it is evidence, and reading
    past it would decide on older evidence than the repository holds.
    """
    schema = load_schema("verdict.schema.json")
    for path in _newest_first(plan):
        name = _display(plan, path)
        data = load_json(path, display=name, max_bytes=MAX_RECORD_BYTES)
        if not isinstance(data, dict):
            raise InputError.at(name, "a record is a JSON object (schema, service, action, verdict, ...)")
        verdict = data.get("verdict")
        if verdict is None:
            continue
        problems = schema_problems(Document(file=name, data=verdict), schema)
        if problems:
            raise InputError(replace(p, field=f"verdict.{p.field}" if p.field else "verdict") for p in problems)
        return verdict_from_dict(verdict)
    return None


MAX_RECORD_BYTES = 20_000_000


def _display(plan: Plan, path: Path) -> str:
    try:
        return str(path.relative_to(plan.root))
    except ValueError:
        return str(path)
