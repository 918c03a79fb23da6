"""A rollout pull request, computed from a decision: branch, title, body, file changes, labels.

Pure: the caller reads what is needed (the plan's text, the report, repository-relative paths) and
passes it in. The commit that carries a proposal ends with a `Rollout-Proposal: <fingerprint>`
trailer. It marks the branch as ours (a head without it was pushed by someone else), and the
fingerprint says whether a new run would change anything: it covers what the PR changes and the
evidence's outcomes, not the time of the run nor new estimates that reach the same outcome.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rollout.gates.report import code, inline, provenance_lines
from rollout.gates.verdict import Verdict, verdict_to_dict
from rollout.plan import Plan, serving_args_digest
from rollout.records import Record, record_name
from rollout.routers import render_config
from rollout.stages import Action, Decision
from rollout.traffic import ROLLED_BACK, TrafficState, render_traffic

TRAILER = "Rollout-Proposal"
LABEL = "rollout"
BODY_LIMIT = 60_000
"""GitHub refuses a PR body over 65,536 characters; the report is cut to leave room for the rest."""

_TRAILER_LINE = re.compile(rf"^{TRAILER}: ([0-9a-f]{{16,64}})\s*$", re.MULTILINE)


@dataclass(frozen=True, kw_only=True)
class RepoPaths:
    """Where the rollout's files sit in the repository (relative, forward slashes)."""

    plan: str
    traffic: str
    records: str
    """The service's records folder, e.g. rollout-records/chat."""
    next_record_number: int
    route: str | None = None
    """Kubernetes manifests kept in the repository (gateway-api, kserve): Argo CD or Flux apply them once the PR merges."""


@dataclass(frozen=True, kw_only=True)
class Proposal:
    action: Action
    branch: str
    title: str
    body: str
    message: str
    changes: Mapping[str, str | None]
    labels: tuple[str, ...]
    reviewers: tuple[str, ...]
    fingerprint: str
    reason: str


def branch_prefix(service: str) -> str:
    return f"rollout/{_slug(service)}/"


def evidence_branch(service: str) -> str:
    """The branch that keeps the service's latest eval results per color and suite, for later watch rounds
    to reuse (rollout/gitops/evidence.py); outside `branch_prefix`, so it is never taken for a proposal."""
    return f"rollout-evidence/{_slug(service)}"


def branch_name(plan: Plan, decision: Decision) -> str:
    return branch_prefix(plan.service) + _target(plan, decision)


def proposal_title(plan: Plan, current: TrafficState, decision: Decision) -> str:
    state = decision.state
    if decision.action == "advance":
        stage = decision.stage.name if decision.stage else state.stage
        return f"rollout({plan.service}): {state.weights.green}% -> green {state.green} [{stage}]"
    if decision.action == "rollback":
        return f"rollout({plan.service}): roll back green {state.green} ({current.weights.green}% -> 0%)"
    green = plan.green.name if plan.green else current.green
    return f"rollout({plan.service}): promote {green} to blue, retire {plan.blue.name}"


def build_proposal(
    plan: Plan,
    current: TrafficState,
    decision: Decision,
    *,
    paths: RepoPaths,
    verdict: Verdict | None,
    report: str | None,
    plan_text: str | None,
    now: datetime,
    promoted: Plan | None = None,
) -> Proposal:
    """The pull request for an advance, rollback or decommission decision.

    `plan_text` is the plan's new text for a decommission (green promoted to blue), else None, and `promoted`
    the plan it says: the merge makes it the repository's, so the router's manifests are rendered from it.
    """
    if not decision.moves_traffic:
        raise ValueError(f"a {decision.action} decision proposes no pull request")
    target = _target(plan, decision)
    record_path = f"{paths.records}/{record_name(paths.next_record_number, _record_stage(decision))}"
    traffic_text = render_traffic(decision.state)
    changes: dict[str, str | None] = {paths.traffic: traffic_text, record_path: _record(plan, decision, verdict, now)}
    if plan_text is not None:
        changes[paths.plan] = plan_text
    if paths.route is not None:
        changes[paths.route] = render_config(promoted or plan, decision.state)
    fingerprint = _fingerprint(
        {
            "branch": target,
            "traffic": traffic_text,
            "plan": plan_text,
            "plan_digest": plan.digest,
            "verdict": _outcomes(verdict),
        }
    )
    title = proposal_title(plan, current, decision)
    body = proposal_body(plan, current, decision, verdict=verdict, report=report, record=record_path)
    return Proposal(
        action=decision.action,
        branch=branch_prefix(plan.service) + target,
        title=title,
        body=body,
        message=f"{title}\n\n{decision.reason}\n\n{TRAILER}: {fingerprint}\n",
        changes=changes,
        labels=(LABEL, f"stage:{_record_stage(decision)}"),
        reviewers=plan.reviewers,
        fingerprint=fingerprint,
        reason=decision.reason,
    )


def proposal_body(
    plan: Plan, current: TrafficState, decision: Decision, *, verdict: Verdict | None, report: str | None, record: str
) -> str:
    new = decision.state
    before = current.stage or "not started"
    after = new.stage or ("decommissioned" if decision.action == "decommission" else "not started")
    green = plan.green.name if plan.green else (new.green or "-")
    # A decommission's new weights are the promoted green's as blue: the old blue serves nothing, it is stopped.
    blue_after, green_after = (
        ("stopped", f"{new.weights.blue}% as blue")
        if decision.action == "decommission"
        else (f"{new.weights.blue}%", f"{new.weights.green}%")
    )
    lines = [
        f"**{decision.action}**: {inline(decision.reason)}",
        "",
        "| | now | after merge |",
        "|---|---:|---:|",
        f"| stage | {inline(before)} | {inline(after)} |",
        f"| blue {code(plan.blue.name)} | {current.weights.blue}% | {blue_after} |",
        f"| green {code(green)} | {current.weights.green}% | {green_after} |",
        "",
    ]
    if decision.action == "decommission":
        lines += [
            f"Merging also makes {code(green)} the blue model in `rollout-plan.yaml` and stops {code(plan.blue.name)}.",
            "",
        ]
    if decision.action == "rollback":
        lines += [
            f"{code(new.green or '-')} is listed under `rejected` and will not be proposed again until the plan names "
            "a new green version.",
            "",
        ]
    lines += ["Merge this pull request to move traffic; revert it to move traffic back.", ""]
    if report:
        text = report if len(report) <= BODY_LIMIT else report[:BODY_LIMIT] + "\n\n… (report cut; see the record)"
        lines += [text.rstrip("\n"), ""]
    elif verdict is not None:
        lines += verdict_table(verdict)
    lines.append(f"<sub>Evidence: `{record}` · plan digest `{plan.digest[:12]}`</sub>")
    return "\n".join(lines) + "\n"


def verdict_table(verdict: Verdict) -> list[str]:
    rows = [f"| {inline(g.gate)} | {g.outcome} | {inline(g.reason)} |" for g in verdict.gates]
    return [
        f"Verdict **{verdict.outcome}**: green {code(verdict.candidate.model)} against blue {code(verdict.baseline.model)}",
        "",
        "| gate | outcome | why |",
        "|---|---|---|",
        *rows,
        "",
        *provenance_lines(verdict),
    ]


def proposal_fingerprint(message: str) -> str | None:
    """The fingerprint a proposal commit carries, or None if the commit is not one of ours."""
    found = _TRAILER_LINE.findall(message)
    return found[-1] if found else None


def _record(plan: Plan, decision: Decision, verdict: Verdict | None, now: datetime) -> str:
    state = decision.state
    return Record(
        service=plan.service,
        action=decision.action,
        stage=state.stage,
        weights=state.weights,
        reason=decision.reason,
        green=_model(plan, "green"),
        blue=_model(plan, "blue"),
        verdict=verdict_to_dict(verdict) if verdict else None,
        plan_digest=plan.digest,
        decided_at=now.isoformat(),
    ).to_json()


def _model(plan: Plan, color: str) -> dict[str, Any]:
    version = plan.blue if color == "blue" else plan.green
    if version is None:
        return {}
    return {
        "name": version.name,
        "model": version.model,
        "revision": version.revision,
        "serving_digest": serving_args_digest(version),
    }


def _target(plan: Plan, decision: Decision) -> str:
    if decision.action == "advance":
        assert decision.stage is not None
        return _slug(decision.stage.name)
    green = decision.state.green or (plan.green.name if plan.green else "green")
    return f"{decision.action}-{_slug(green)}"


def _record_stage(decision: Decision) -> str:
    if decision.action == "advance" and decision.stage is not None:
        return decision.stage.name
    return ROLLED_BACK if decision.action == "rollback" else decision.action


def _outcomes(verdict: Verdict | None) -> Any:
    if verdict is None:
        return None
    return {
        "outcome": verdict.outcome,
        "candidate": [verdict.candidate.model, verdict.candidate.revision],
        "baseline": [verdict.baseline.model, verdict.baseline.revision],
        "gates": [[g.gate, g.outcome] for g in verdict.gates],
    }


def _fingerprint(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:32]


def _slug(text: str) -> str:
    """A name git accepts in a branch (no spaces, colons, `..`, leading dots or `.lock` ends)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    slug = re.sub(r"\.{2,}", ".", slug)
    return re.sub(r"\.lock$", "-lock", slug) or "x"
