"""The evidence branch: the latest eval results per color and suite, kept in git for later rounds to reuse.

`rollout evidence save` writes a round's results there (`<color>/<suite>.json`, as rollout.evals.reuse lays
them out) in one commit, so a reader sees the branch before the round or after it, never half of it. The
branch has a history of its own (its first commit has no parent): a checkout of it holds only evidence.
Like every forge write here it looks before it writes: files that already say the same are not written
again, so a retry after an ambiguous failure changes nothing or finishes the job. Results reused this round
are the recorded ones and change nothing; interrupted results are never recorded. Two saves racing can
leave the later one's files only: the cost is a suite asked again next round, never a wrong reuse, since
reuse checks every results file's own provenance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from rollout.errors import ExternalError, InputError, Problem
from rollout.evals.results import EvalResults, results_to_json
from rollout.evals.reuse import evidence_path
from rollout.evals.suite import CASE_ID
from rollout.forge import Forge
from rollout.gitops.proposal import evidence_branch
from rollout.plan import COLORS

SaveStatus = Literal["created", "updated", "unchanged", "nothing", "would-create", "would-update"]


@dataclass(frozen=True, kw_only=True)
class Saved:
    """A results file to record, and the name to call it by in messages."""

    file: str
    results: EvalResults


@dataclass(frozen=True, kw_only=True)
class EvidenceSave:
    branch: str
    status: SaveStatus
    sha: str | None
    written: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        files = ", ".join(self.written)
        return {
            "created": f"created {self.branch} at {str(self.sha)[:12]} with {files}",
            "updated": f"updated {self.branch} to {str(self.sha)[:12]}: {files}",
            "unchanged": f"{self.branch} already holds these results; nothing to write",
            "nothing": f"no results to save on {self.branch}",
            "would-create": f"would create {self.branch} with {files}",
            "would-update": f"would update {self.branch}: {files}",
        }[self.status]


def evidence_files(saved: Sequence[Saved]) -> tuple[dict[str, EvalResults], tuple[str, ...]]:
    """The branch's files for these results, and notes on those left out; InputError for results that cannot
    be evidence (not a color's, a suite name that is no file name, two files for one color and suite)."""
    files: dict[str, EvalResults] = {}
    first: dict[str, str] = {}
    notes: list[str] = []
    problems: list[Problem] = []
    for item in saved:
        results = item.results
        if results.target not in COLORS:
            problems.append(Problem(file=item.file, field="target", message="evidence is kept for blue and green only"))
            continue
        if not CASE_ID.fullmatch(results.suite):
            # a suite may be called anything; only its evidence needs a name that is a file name
            notes.append(
                f"{item.file}: suite {results.suite!r} is not kept: evidence is named by the suite, and only letters, "
                "digits, '.', '_' and '-' make a file name"
            )
            continue
        path = evidence_path(results.target, results.suite)
        if path in first:
            problems.append(
                Problem(file=item.file, field="suite", message=f"a second results file for {path} ({first[path]})")
            )
            continue
        first[path] = item.file
        if results.interrupted:
            notes.append(f"{item.file}: interrupted, partial results are not recorded")
            continue
        # reused results are the recorded ones: saved as recorded, they change nothing
        files[path] = replace(results, reused_from=None)
    if problems:
        raise InputError(problems)
    return files, tuple(notes)


def save_evidence(forge: Forge, service: str, saved: Sequence[Saved], *, dry_run: bool = False) -> EvidenceSave:
    """Record the results on the service's evidence branch in one commit (none if it holds them already)."""
    branch = evidence_branch(service)
    recorded, notes = evidence_files(saved)
    files = {path: results_to_json(results) for path, results in recorded.items()}
    if not files:
        return EvidenceSave(branch=branch, status="nothing", sha=forge.branch_head(branch), notes=notes)
    for _ in range(2):
        head = forge.branch_head(branch)
        changes = {path: text for path, text in files.items() if head is None or forge.read_file(path, head) != text}
        if not changes:
            return EvidenceSave(branch=branch, status="unchanged", sha=head, notes=notes)
        written = tuple(sorted(changes))
        if dry_run:
            return EvidenceSave(
                branch=branch,
                status="would-create" if head is None else "would-update",
                sha=head,
                written=written,
                notes=notes,
            )
        runs = "".join(f"{path}: run {recorded[path].run_id}\n" for path in written)
        sha = forge.write_commit(head, changes, f"rollout({service}): eval evidence\n\n{runs}")
        if head is not None:
            forge.move_branch(branch, sha)
            return EvidenceSave(branch=branch, status="updated", sha=sha, written=written, notes=notes)
        if forge.create_branch(branch, sha):
            return EvidenceSave(branch=branch, status="created", sha=sha, written=written, notes=notes)
        # another run created the branch meanwhile: look again, and write on top of what it holds
    raise ExternalError(f"{branch} keeps changing under this save; run `rollout evidence save` again")
