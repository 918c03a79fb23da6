"""A gate verdict: what `rollout gate` writes and what `rollout next` and the PR body read."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rollout.documents import Document, load_json, load_schema, require_schema
from rollout.evals.results import ReusedFrom

GateOutcome = Literal["pass", "fail", "inconclusive"]
VERDICT_SCHEMA = "rollout.verdict/v1"


@dataclass(frozen=True, kw_only=True)
class GateResult:
    gate: str
    outcome: GateOutcome
    reason: str
    estimate: float | None = None
    interval: tuple[float, float] | None = None
    threshold: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class RunInfo:
    model: str
    revision: str | None = None
    serving_digest: str | None = None
    target: str | None = None
    run_ids: tuple[str, ...] = ()
    server_version: str | None = None


@dataclass(frozen=True, kw_only=True)
class Provenance:
    """Results of one suite on one color that are not a single fresh run: reused from an earlier run, or
    accumulated over several (rollout.evals.reuse)."""

    suite: str
    color: str
    reused_from: ReusedFrom | None = None
    rounds: int = 1


@dataclass(frozen=True, kw_only=True)
class Verdict:
    outcome: GateOutcome
    baseline: RunInfo
    candidate: RunInfo
    gates: tuple[GateResult, ...]
    provenance: tuple[Provenance, ...] = ()

    def failing(self) -> tuple[GateResult, ...]:
        return tuple(g for g in self.gates if g.outcome == "fail")

    def undecided(self) -> tuple[GateResult, ...]:
        return tuple(g for g in self.gates if g.outcome == "inconclusive")


def look_details(look: int, confidence: float) -> dict[str, Any]:
    """The look a gate judged growing results at, and the level it read them at; nothing at the first look."""
    return {"look": {"index": look, "confidence": confidence}} if look > 1 else {}


def combine(outcomes: Iterable[GateOutcome]) -> GateOutcome:
    """Any failure fails; otherwise anything undecided holds; only all-pass (and at least one gate) passes."""
    seen = set(outcomes)
    if "fail" in seen:
        return "fail"
    if "inconclusive" in seen or not seen:
        return "inconclusive"
    return "pass"


def compare(low: float, high: float, threshold: float, *, better: Literal["above", "below"]) -> GateOutcome:
    """Where an interval lies against a threshold: wholly on the good side passes, wholly on the bad side fails."""
    if better == "above":
        return "pass" if low > threshold else "fail" if high < threshold else "inconclusive"
    return "pass" if high <= threshold else "fail" if low > threshold else "inconclusive"


def verdict_to_dict(verdict: Verdict) -> dict[str, Any]:
    def run(info: RunInfo) -> dict[str, Any]:
        data = {
            "model": info.model,
            "revision": info.revision,
            "serving_digest": info.serving_digest,
            "target": info.target,
            "run_ids": list(info.run_ids),
        }
        if info.server_version is not None:
            data["server_version"] = info.server_version
        return data

    data: dict[str, Any] = {
        "schema": VERDICT_SCHEMA,
        "outcome": verdict.outcome,
        "baseline": run(verdict.baseline),
        "candidate": run(verdict.candidate),
        "gates": [
            {
                "gate": g.gate,
                "outcome": g.outcome,
                "estimate": g.estimate,
                "interval": list(g.interval) if g.interval is not None else None,
                "threshold": g.threshold,
                "reason": g.reason,
                "details": dict(g.details),
            }
            for g in verdict.gates
        ],
    }
    if verdict.provenance:
        data["provenance"] = [
            {
                "suite": p.suite,
                "color": p.color,
                "rounds": p.rounds,
                "reused_from": None
                if p.reused_from is None
                else {"run_id": p.reused_from.run_id, "at": p.reused_from.at},
            }
            for p in verdict.provenance
        ]
    return data


def server_skew(verdict: Verdict) -> str | None:
    """Blue and green on different server releases: the comparison is then of the releases as much as of the
    models (vLLM's scheduler and kernels change between releases)."""
    blue, green = verdict.baseline.server_version, verdict.candidate.server_version
    if blue is None or green is None or blue == green:
        return None
    return (
        f"blue and green ran different server releases (blue {blue}, green {green}): "
        "latency and cost compare the releases as much as the models"
    )


def verdict_to_json(verdict: Verdict) -> str:
    return json.dumps(verdict_to_dict(verdict), indent=2, sort_keys=False, allow_nan=False) + "\n"


def verdict_from_dict(data: Mapping[str, Any]) -> Verdict:
    def run(d: Mapping[str, Any]) -> RunInfo:
        return RunInfo(
            model=d["model"],
            revision=d.get("revision"),
            serving_digest=d.get("serving_digest"),
            target=d.get("target"),
            run_ids=tuple(d.get("run_ids", ())),
            server_version=d.get("server_version"),
        )

    return Verdict(
        outcome=data["outcome"],
        baseline=run(data["baseline"]),
        candidate=run(data["candidate"]),
        gates=tuple(
            GateResult(
                gate=g["gate"],
                outcome=g["outcome"],
                reason=g["reason"],
                estimate=g.get("estimate"),
                interval=tuple(g["interval"]) if g.get("interval") is not None else None,
                threshold=g.get("threshold"),
                details=g.get("details", {}),
            )
            for g in data["gates"]
        ),
        provenance=tuple(
            Provenance(
                suite=p["suite"],
                color=p["color"],
                rounds=p.get("rounds", 1),
                reused_from=ReusedFrom(**p["reused_from"]) if p.get("reused_from") else None,
            )
            for p in data.get("provenance", ())
        ),
    )


def load_verdict(path: Path, *, display: str | None = None) -> Verdict:
    name = display or str(path)
    data = load_json(path, display=name, max_bytes=20_000_000)
    require_schema(Document(file=name, data=data), load_schema("verdict.schema.json"))
    return verdict_from_dict(data)
