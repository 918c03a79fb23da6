"""The propose and rollback commands: read the checkout, decide, and sync the forge's pull requests."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from rollout.documents import read_text
from rollout.forge import Forge
from rollout.gates.verdict import Verdict
from rollout.gitops.planedit import promote
from rollout.gitops.proposal import RepoPaths, branch_prefix, build_proposal
from rollout.gitops.sync import SyncResult, sync_pulls
from rollout.history import git
from rollout.plan import Plan
from rollout.records import next_record_number
from rollout.routers import MANIFEST_KINDS
from rollout.situation import decide_next, read_situation_to_decide
from rollout.stages import Decision, decide_rollback
from rollout.traffic import TrafficState, load_traffic


def propose(
    plan: Plan, forge: Forge, *, verdict: Verdict | None, report: str | None, now: datetime, dry_run: bool = False
) -> SyncResult:
    """Decide on the checkout's state and make the forge's rollout pull requests match the decision.

    A rollback is merged at once when the plan says `rollback: {on_gate_failure: auto-merge}`.
    """
    situation = read_situation_to_decide(plan)
    decision = decide_next(plan, situation, verdict=verdict, now=now)
    auto = decision.action == "rollback" and plan.rollback_on_gate_failure == "auto-merge"
    return submit(
        plan, forge, situation.state, decision, verdict=verdict, report=report, now=now, dry_run=dry_run, merge=auto
    )


def rollback(
    plan: Plan,
    forge: Forge,
    *,
    reason: str | None,
    report: str | None,
    now: datetime,
    auto_merge: bool = False,
    dry_run: bool = False,
) -> SyncResult:
    """Propose (or, with auto_merge or the plan's say-so, merge) taking all traffic back from green."""
    current = load_traffic(plan)
    decision = decide_rollback(plan, current, reason=reason)
    merge = auto_merge or plan.rollback_on_gate_failure == "auto-merge"
    return submit(plan, forge, current, decision, verdict=None, report=report, now=now, dry_run=dry_run, merge=merge)


def submit(
    plan: Plan,
    forge: Forge,
    current: TrafficState,
    decision: Decision,
    *,
    verdict: Verdict | None,
    report: str | None,
    now: datetime,
    dry_run: bool,
    merge: bool,
) -> SyncResult:
    paths = repo_paths(plan)
    proposal = None
    if decision.moves_traffic:
        promotion = None
        if decision.action == "decommission":
            promotion = promote(plan, read_text(plan.path, display=str(plan.path)))
        proposal = build_proposal(
            plan,
            current,
            decision,
            paths=paths,
            verdict=verdict,
            report=report,
            plan_text=promotion.text if promotion else None,
            promoted=promotion.plan if promotion else None,
            now=now,
        )
    traffic = plan.traffic_path
    basis = {paths.traffic: read_text(traffic, display=str(traffic)) if traffic.exists() else None}
    return sync_pulls(
        forge, decision, proposal, prefix=branch_prefix(plan.service), basis=basis, dry_run=dry_run, merge=merge
    )


def repo_paths(plan: Plan) -> RepoPaths:
    """The rollout's files relative to the top of the checkout (or the plan's folder outside git)."""
    found = git(plan.root, "rev-parse", "--show-toplevel", check=False)
    top = Path(found.stdout.strip()).resolve() if found.returncode == 0 else plan.root.resolve()

    def rel(path: Path) -> str:
        # the folder is resolved, the name is not: a symlinked plan is committed under its own name
        return (path.absolute().parent.resolve() / path.name).relative_to(top).as_posix()

    route = None
    if plan.router.kind in MANIFEST_KINDS and plan.router.config.absolute().resolve().is_relative_to(top):
        route = rel(plan.router.config)
    return RepoPaths(
        plan=rel(plan.path),
        traffic=rel(plan.traffic_path),
        records=rel(plan.records_dir),
        next_record_number=next_record_number(plan),
        route=route,
    )
