"""Eval results (rollout.eval-results/v1): the file `rollout eval` writes and `rollout gate` reads."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollout.documents import Document, load_json, load_schema, require_schema
from rollout.errors import InputError

RESULTS_SCHEMA = "rollout.eval-results/v1"


@dataclass(frozen=True, kw_only=True)
class CaseResult:
    id: str
    scores: tuple[float, ...] = ()
    latency_ms: tuple[float, ...] = ()
    ttft_ms: tuple[float | None, ...] = ()
    output_tokens: tuple[int | None, ...] = ()
    errors: tuple[str, ...] = ()
    prompt: str | None = None
    outputs: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def mean(self) -> float | None:
        return sum(self.scores) / len(self.scores) if self.scores else None


@dataclass(frozen=True, kw_only=True)
class EvalResults:
    suite: str
    target: str
    model: str
    revision: str | None = None
    run_id: str = ""
    started_at: str = ""
    finished_at: str = ""
    interrupted: bool = False
    cases: tuple[CaseResult, ...] = field(default_factory=tuple)

    def by_id(self) -> dict[str, CaseResult]:
        return {case.id: case for case in self.cases}


def results_to_dict(results: EvalResults) -> dict[str, Any]:
    data: dict[str, Any] = {
        "schema": RESULTS_SCHEMA,
        "suite": results.suite,
        "target": results.target,
        "model": results.model,
        "revision": results.revision,
        "run_id": results.run_id,
        "started_at": results.started_at,
        "finished_at": results.finished_at,
    }
    if results.interrupted:
        data["interrupted"] = True
    data["cases"] = [_case_to_dict(case) for case in results.cases]
    return data


def _case_to_dict(case: CaseResult) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": case.id,
        "scores": list(case.scores),
        "latency_ms": list(case.latency_ms),
        "ttft_ms": list(case.ttft_ms),
        "output_tokens": list(case.output_tokens),
        "errors": list(case.errors),
    }
    if case.prompt is not None:
        data["prompt"] = case.prompt
    if case.outputs:
        data["outputs"] = list(case.outputs)
    if case.tags:
        data["tags"] = list(case.tags)
    return data


def results_to_json(results: EvalResults) -> str:
    return json.dumps(results_to_dict(results), indent=1, allow_nan=False, ensure_ascii=False) + "\n"


def results_from_dict(data: Mapping[str, Any], *, file: str = "<results>") -> EvalResults:
    _validate(data, file)
    seen: set[str] = set()
    cases = []
    for i, case in enumerate(data["cases"]):
        if case["id"] in seen:
            raise InputError.at(file, f"duplicate case id {case['id']!r}", field=f"cases[{i}].id")
        seen.add(case["id"])
        for key in ("scores", "latency_ms", "ttft_ms"):
            if any(isinstance(v, float) and not math.isfinite(v) for v in case.get(key, ())):
                raise InputError.at(file, "values must be finite numbers", field=f"cases[{i}].{key}")
        cases.append(
            CaseResult(
                id=case["id"],
                scores=tuple(float(s) for s in case["scores"]),
                latency_ms=tuple(case.get("latency_ms", ())),
                ttft_ms=tuple(case.get("ttft_ms", ())),
                output_tokens=tuple(case.get("output_tokens", ())),
                errors=tuple(case.get("errors", ())),
                prompt=case.get("prompt"),
                outputs=tuple(case.get("outputs", ())),
                tags=tuple(case.get("tags", ())),
            )
        )
    return EvalResults(
        suite=data["suite"],
        target=data["target"],
        model=data["model"],
        revision=data.get("revision"),
        run_id=data.get("run_id", ""),
        started_at=data.get("started_at", ""),
        finished_at=data.get("finished_at", ""),
        interrupted=bool(data.get("interrupted", False)),
        cases=tuple(cases),
    )


def _validate(data: Mapping[str, Any], file: str) -> None:
    """Schema-check the results; jsonschema walks 10,000 cases in over a second, so cases that pass a
    direct check skip it, and only a file with a bad case pays for jsonschema's precise messages."""
    schema = load_schema("eval-results.schema.json")
    cases = data.get("cases")
    if isinstance(cases, list) and all(_plain_case(case) for case in cases):
        require_schema(Document(file=file, data={**data, "cases": []}), schema)
    else:
        require_schema(Document(file=file, data=data), schema)


def _numbers(
    values: Any, *, low: float, high: float = math.inf, integers: bool = False, optional: bool = False
) -> bool:
    if not isinstance(values, list):
        return False
    for value in values:
        if value is None and optional:
            continue
        if isinstance(value, bool) or not isinstance(value, int if integers else (int, float)):
            return False
        if not low <= value <= high:
            return False
    return True


def _strings(values: Any) -> bool:
    return isinstance(values, list) and all(isinstance(v, str) for v in values)


def _plain_case(case: Any) -> bool:
    return (
        isinstance(case, dict)
        and isinstance(case.get("id"), str)
        and case["id"] != ""
        and _numbers(case.get("scores"), low=0, high=1)
        and _numbers(case.get("latency_ms", []), low=0)
        and _numbers(case.get("ttft_ms", []), low=0, optional=True)
        and _numbers(case.get("output_tokens", []), low=0, integers=True, optional=True)
        and _strings(case.get("errors", []))
        and isinstance(case.get("prompt", ""), str)
        and _strings(case.get("outputs", []))
        and _strings(case.get("tags", []))
    )


def load_results(path: Path, *, display: str | None = None) -> EvalResults:
    name = display or str(path)
    data = load_json(path, display=name)
    if not isinstance(data, dict):
        raise InputError.at(name, "eval results are a JSON object with 'schema', 'suite', 'cases', ...")
    return results_from_dict(data, file=name)
