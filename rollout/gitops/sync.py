"""Open, update, or close the rollout's pull requests on a forge so they match one decision.

At most one pull request per service and target is open: others whose decision no longer holds are
closed with a comment. The target's branch is rebuilt on the current default branch whenever the
proposal or the default branch changed, and left untouched otherwise (no empty pushes). Creating
the branch is the lock between concurrent runs: the loser stops. Writes happen in an order that
leaves nothing half-done: the commit exists before the branch, the branch before the pull request;
if a later step fails, the error says what exists and re-running finishes the job. A pull request
from a fork is never touched; one that carries the proposal's branch name sends the proposal to the
next free `<branch>-N`. An auto-merge merges only the commit this run pushed or checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from rollout.errors import CheckFailed, ExternalError
from rollout.forge import Forge, PullRequest
from rollout.gitops.proposal import Proposal, proposal_fingerprint
from rollout.stages import Decision

SyncStatus = Literal[
    "opened", "updated", "unchanged", "merged", "would-open", "would-update", "busy", "foreign", "none"
]


@dataclass(frozen=True, kw_only=True)
class SyncResult:
    decision: Decision
    status: SyncStatus
    branch: str | None = None
    pull: PullRequest | None = None
    closed: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()
    merge_sha: str | None = None

    def describe(self) -> str:
        where = f"#{self.pull.number} {self.pull.url}" if self.pull else (self.branch or "")
        text = {
            "opened": f"opened {where}",
            "updated": f"updated {where}",
            "unchanged": f"{where} is up to date; nothing to change",
            "merged": f"merged {where}",
            "would-open": f"would open a pull request from {self.branch}",
            "would-update": f"would rebuild {self.branch} and update {where}",
            "busy": f"another run created {self.branch} first; leaving it to that run",
            "foreign": f"left {self.branch} alone: someone else pushed to it",
            "none": "no pull request to propose",
        }[self.status]
        closed = f"; closed {', '.join(f'#{n}' for n in self.closed)}" if self.closed else ""
        return f"{self.decision.action}: {self.decision.reason}\n{text}{closed}"


def sync_pulls(
    forge: Forge,
    decision: Decision,
    proposal: Proposal | None,
    *,
    prefix: str,
    basis: Mapping[str, str | None] | None = None,
    dry_run: bool = False,
    merge: bool = False,
) -> SyncResult:
    """Make the forge's open rollout pull requests (branches under `prefix`) match `proposal`.

    `basis` holds the files the decision was made from, as the checkout has them (None: absent). If
    the default branch has them otherwise, the decision is stale and nothing is touched.
    """
    base = forge.default_branch()
    base_sha = forge.branch_head(base)
    if base_sha is None:
        raise ExternalError(f"the default branch {base} has no commits")
    for path, text in (basis or {}).items():
        if forge.read_file(path, base_sha) != text:
            raise CheckFailed(
                f"{path} in this checkout differs from the one on {base} ({base_sha[:12]}): the decision would be "
                f"made on a stale or uncommitted state; update the checkout to {base} and run again"
            )
    listed = sorted(forge.open_pulls(prefix), key=lambda p: p.number)
    open_now = [p for p in listed if p.foreign is None]
    foreign = [p for p in listed if p.foreign is not None]
    dodged: tuple[str, ...] = ()
    if proposal is not None:
        proposal, dodged = _dodge(proposal, foreign)
    keep = proposal.branch if proposal else None
    closed, notes = _close_stale(forge, decision, open_now, keep=keep, dry_run=dry_run)
    notes = (*dodged, *notes)
    outcome = SyncResult(decision=decision, status="none", branch=keep, closed=closed, notes=notes)
    if proposal is None:
        return outcome

    head = forge.branch_head(proposal.branch)
    pushed = True
    if head is not None:
        commit = forge.commit(head)
        fingerprint = proposal_fingerprint(commit.message)
        if fingerprint is None:
            note = f"{proposal.branch} has commits that rollout did not make; resolve or delete the branch"
            return replace(outcome, status="foreign", notes=(*notes, note))
        pushed = not (fingerprint == proposal.fingerprint and commit.parents == (base_sha,))
    existing = next((p for p in open_now if p.branch == proposal.branch), None)
    if dry_run:
        status: SyncStatus = "unchanged" if existing and not pushed else "would-update" if existing else "would-open"
        return replace(outcome, status=status, pull=existing)

    if pushed:
        head = _push(forge, proposal, base_sha, head)
        if head is None:
            return replace(outcome, status="busy")
    pull, status = _open(forge, proposal, base, existing, pushed)
    outcome = replace(outcome, status=status, pull=pull)
    if not merge:
        return outcome
    try:
        # only the commit checked above (or just pushed): a push landing meanwhile is refused, not merged
        merged = forge.merge_pull(pull.number, title=proposal.title, sha=head)
    except ExternalError as exc:
        raise ExternalError(f"{exc.message}\n#{pull.number} is open ({pull.url}) but was not merged") from exc
    return replace(outcome, status="merged", merge_sha=merged)


def _dodge(proposal: Proposal, foreign: Sequence[PullRequest]) -> tuple[Proposal, tuple[str, ...]]:
    """Keep clear of foreign pull requests that carry the proposal's branch name: use the first free one.

    Such a pull request (from a fork, or a deleted fork) is never touched; the proposal goes on under
    `<branch>-2` (or -3, ...), so neither a person nor a later run can take one for the other.
    """
    taken = {p.branch: p for p in foreign}
    branch = proposal.branch
    for n in range(2, len(taken) + 3):
        if branch not in taken:
            break
        branch = f"{proposal.branch}-{n}"
    notes = tuple(
        f"left #{p.number} alone: its head is in {p.foreign}, not this repository, though its branch is named "
        f"{p.branch}; proposing on {branch} instead"
        for p in foreign
        if p.branch == proposal.branch
    )
    return replace(proposal, branch=branch), notes


def _push(forge: Forge, proposal: Proposal, base_sha: str, head: str | None) -> str | None:
    """Commit the proposal on the default branch and point its branch there; None if another run won."""
    sha = forge.write_commit(base_sha, proposal.changes, proposal.message)
    if head is None:
        return sha if forge.create_branch(proposal.branch, sha) else None
    forge.move_branch(proposal.branch, sha)
    return sha


def _open(
    forge: Forge, proposal: Proposal, base: str, existing: PullRequest | None, pushed: bool
) -> tuple[PullRequest, SyncStatus]:
    """Open the pull request, or refresh the open one; a racing run may have opened it meanwhile."""
    try:
        if existing is None:
            pull, created = forge.open_pull(
                branch=proposal.branch,
                base=base,
                title=proposal.title,
                body=proposal.body,
                labels=proposal.labels,
                reviewers=proposal.reviewers,
            )
            if created:
                return pull, "opened"
        else:
            pull = existing
        if not pushed:
            return pull, "unchanged"
        forge.update_pull(pull.number, title=proposal.title, body=proposal.body)
        forge.comment(pull.number, f"Rebuilt on the current `{base}` for a newer decision: {proposal.reason}")
    except ExternalError as exc:
        raise ExternalError(
            f"{exc.message}\nbranch {proposal.branch} holds the proposal, but its pull request is "
            f"not complete: run `rollout propose` again to finish"
        ) from exc
    return pull, "updated"


def _close_stale(
    forge: Forge, decision: Decision, pulls: Sequence[PullRequest], *, keep: str | None, dry_run: bool
) -> tuple[tuple[int, ...], tuple[str, ...]]:
    closed: list[int] = []
    notes: list[str] = []
    for pull in pulls:
        if pull.branch == keep:
            continue
        head = forge.branch_head(pull.branch)
        if head is not None and proposal_fingerprint(forge.commit(head).message) is None:
            notes.append(f"left #{pull.number} open: someone else pushed to {pull.branch}")
            continue
        if dry_run:
            notes.append(f"would close #{pull.number}: the decision is now {decision.action}")
            continue
        forge.close_pull(
            pull.number,
            comment=f"Closing: this no longer holds. The rollout's decision is now "
            f"**{decision.action}**: {decision.reason}",
        )
        closed.append(pull.number)
    return tuple(closed), tuple(notes)
