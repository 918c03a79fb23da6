"""From results files (and feedback votes) to a verdict: which results feed which gate, then every gate.

A results file's `suite` is the name its suite declares (`name:` in the suite's YAML) or the suite's
folder name: the results of `eval_suites/quality` say `"suite": "quality"` (a path ending in that folder
name works too). The quality and safety gates each read the suite the plan names for them; latency and
cost pool those suites, since both colors ran the same prompts. A results file for a suite no gate names is
bad input, never evidence. A gate the plan does not configure is skipped.

A watch round whose eval jobs did not all finish gates what it has (match_finished): a suite the gates name with
results on one color only, or none, makes the gates needing it inconclusive (quality or safety on that suite;
latency and cost, which pool every suite), never a pass, and the other gates (live ones too) decide as usual.

Each gate is told which look at its results this is: the `rounds` of the candidate's results (the most of all the
pooled ones, for latency and cost). A sampled suite's results gain a run each watch round, and the gates spend
their level over those looks (stats.look_confidence). The candidate's, not the baseline's: the baseline's results
outlive a rollout (after a promotion they are the old candidate's), and only this rollout's looks count.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from rollout.errors import InputError, Problem
from rollout.evals.results import EvalResults
from rollout.gates.feedback import Feedback, feedback_gate
from rollout.gates.live import LiveTraffic, live_gates
from rollout.gates.pairing import Paired, pair_cases, pool
from rollout.gates.performance import cost_gate, latency_gate
from rollout.gates.quality import quality_gate
from rollout.gates.safety import safety_gate
from rollout.gates.verdict import GateResult, Provenance, RunInfo, Verdict, combine
from rollout.plan import Gates


@dataclass(frozen=True, kw_only=True)
class Loaded:
    """A results file and the name to call it by in messages."""

    file: str
    results: EvalResults

    @property
    def suite(self) -> str:
        return PurePosixPath(self.results.suite).name


@dataclass(frozen=True, kw_only=True)
class SuiteRun:
    suite: str
    baseline: EvalResults
    candidate: EvalResults
    files: tuple[str, str] = ("--baseline", "--candidate")
    """The baseline's and the candidate's results file, for messages."""

    @property
    def look(self) -> int:
        """Which look at this suite's results a gate takes in this rollout: one per run the candidate's hold."""
        return self.candidate.rounds


@dataclass(frozen=True, kw_only=True)
class Unfinished:
    """Results of a suite on one color only: the suite's eval job on the other color did not finish."""

    loaded: Loaded
    lacking: str
    """The color without results."""


def match_finished(
    baselines: Sequence[Loaded], candidates: Sequence[Loaded]
) -> tuple[list[SuiteRun], list[Unfinished]]:
    """match_runs over the suites with results on both colors; the others' results are left over, unfinished."""
    blue, green = {b.suite for b in baselines}, {c.suite for c in candidates}
    lone = [Unfinished(loaded=b, lacking="green") for b in baselines if b.suite not in green]
    lone += [Unfinished(loaded=c, lacking="blue") for c in candidates if c.suite not in blue]
    both = [b for b in baselines if b.suite in green], [c for c in candidates if c.suite in blue]
    return (match_runs(*both) if both[0] else []), lone


def match_runs(baselines: Sequence[Loaded], candidates: Sequence[Loaded]) -> list[SuiteRun]:
    """One baseline and one candidate results file per suite; anything else is an input error."""
    problems = [
        Problem(file=r.file, field="cases", message="has no cases: an empty run decides nothing")
        for r in (*baselines, *candidates)
        if not r.results.cases
    ]
    by_side = {}
    for side, loaded in (("baseline", baselines), ("candidate", candidates)):
        if not loaded:
            problems.append(Problem(file=f"--{side}", message="no results files given"))
        suites: dict[str, Loaded] = {}
        for item in loaded:
            if item.suite in suites:
                problems.append(
                    Problem(
                        file=item.file,
                        field="suite",
                        message=(
                            f"a second {side} results file for suite {item.suite!r} (the first is {suites[item.suite].file})"
                        ),
                    )
                )
            suites[item.suite] = item
        problems += _disagreements(side, loaded)
        by_side[side] = suites
    blue, green = by_side["baseline"], by_side["candidate"]
    for suite in sorted(blue.keys() ^ green.keys()):
        has, lacks = ("baseline", "candidate") if suite in blue else ("candidate", "baseline")
        item = (blue if suite in blue else green)[suite]
        problems.append(
            Problem(
                file=item.file,
                field="suite",
                message=(
                    f"results for different suites: {has} has suite {suite!r} but the {lacks} does not "
                    f"({lacks} suites: {', '.join(sorted((green if suite in blue else blue).keys())) or 'none'})"
                ),
            )
        )
    if problems:
        raise InputError(problems)
    return [
        SuiteRun(suite=s, baseline=blue[s].results, candidate=green[s].results, files=(blue[s].file, green[s].file))
        for s in sorted(blue)
    ]


def _disagreements(side: str, loaded: Sequence[Loaded]) -> list[Problem]:
    problems = []
    for key in ("model", "revision", "serving_digest"):
        values = {getattr(item.results, key) for item in loaded} - {None}
        if len(values) > 1:
            problems.append(
                Problem(
                    file=loaded[-1].file,
                    field=key,
                    message=(
                        f"the {side} results disagree on the {key} ({', '.join(sorted(values))}): "
                        "gate one version against another"
                    ),
                )
            )
    return problems


def evaluate_gates(
    gates: Gates,
    runs: Sequence[SuiteRun],
    *,
    feedback: Feedback | None = None,
    live: LiveTraffic | None = None,
    declared: Mapping[Path, Collection[str]] | None = None,
    unfinished: Sequence[Unfinished] | None = None,
) -> Verdict:
    """`declared` holds the names each gate suite's files give themselves, besides its folder name.

    `unfinished` (from match_finished) says the round's eval jobs may not all have finished: a gated suite
    missing on a color is then an unfinished eval job, not a mistake in the files given.

    `live` is what both colors served in the stage's window; without it (green carries no traffic yet) the
    live gates are not part of the verdict.
    """
    names = {
        path: {path.name, *(declared or {}).get(path, ())}
        for path in (g.suite for g in (gates.quality, gates.safety) if g is not None)
    }
    gated = set().union(*names.values())
    unused: list[tuple[str, tuple[str, ...]]] = [(run.suite, run.files) for run in runs if run.suite not in gated]
    unused += [(u.loaded.suite, (u.loaded.file,)) for u in unfinished or () if u.loaded.suite not in gated]
    if unused:
        # Only the suites the plan gates are evidence: a results file for any other suite (one committed to
        # the repository, say) would otherwise be pooled into latency and cost.
        known = ", ".join(sorted(path.name for path in names)) or "none"
        raise InputError(
            Problem(
                file=file,
                field="suite",
                message=f"{suite!r} is not a suite any gate in the plan names (gated suites: {known})",
            )
            for suite, files in unused
            for file in files
        )
    paired = {run.suite: pair_cases(run.baseline, run.candidate) for run in runs}
    missing = {} if unfinished is None else _unfinished_suites(names, runs, unfinished)
    results: list[GateResult] = []
    if gates.quality is not None:
        quality = gates.quality
        results.append(
            _on_suite(
                "quality",
                quality.suite,
                [r for r in runs if r.suite in names[quality.suite]],
                paired,
                lambda pairs, run: quality_gate(pairs, quality, suite=run.suite, look=run.look),
                missing=missing.get(quality.suite),
            )
        )
    if gates.safety is not None:
        safety = gates.safety
        results.append(
            _on_suite(
                "safety",
                safety.suite,
                [r for r in runs if r.suite in names[safety.suite]],
                paired,
                lambda pairs, run: safety_gate(pairs, safety, suite=run.suite, look=run.look),
                missing=missing.get(safety.suite),
            )
        )
    pooled = pool(list(paired.values()))
    look = max((run.look for run in runs), default=1)
    if gates.latency is not None:
        results.append(_pooling_unfinished("latency", missing) or latency_gate(pooled, gates.latency, look=look))
    if gates.cost is not None:
        results.append(_pooling_unfinished("cost", missing) or cost_gate(pooled, gates.cost, look=look))
    lone = {color: [u.loaded.results for u in unfinished or () if u.lacking != color] for color in ("blue", "green")}
    baseline = _info([*(r.baseline for r in runs), *lone["blue"]])
    candidate = _info([*(r.candidate for r in runs), *lone["green"]])
    if gates.feedback is not None:
        results.append(
            feedback_gate(
                feedback or Feedback(source="none", unavailable="the source was not read"),
                gates.feedback,
                blue=baseline.model,
                green=candidate.model,
            )
        )
    if gates.live is not None and live is not None:
        results += live_gates(live, gates.live)
    return Verdict(
        outcome=combine(r.outcome for r in results),
        baseline=baseline,
        candidate=candidate,
        gates=tuple(results),
        provenance=_provenance(runs),
    )


def _provenance(runs: Sequence[SuiteRun]) -> tuple[Provenance, ...]:
    """Per suite and color, the results that are not one fresh run, so the report can say so."""
    return tuple(
        Provenance(suite=run.suite, color=color, reused_from=results.reused_from, rounds=results.rounds)
        for run in runs
        for color, results in (("blue", run.baseline), ("green", run.candidate))
        if results.reused_from is not None or results.rounds > 1
    )


def _unfinished_suites(
    names: Mapping[Path, Collection[str]], runs: Sequence[SuiteRun], unfinished: Sequence[Unfinished]
) -> dict[Path, str]:
    """Each gated suite without results on both colors, and why, in a round whose eval jobs may not all finish."""
    missing = {}
    for path, called in names.items():
        if any(run.suite in called for run in runs):
            continue
        lacking = sorted({u.lacking for u in unfinished if u.loaded.suite in called}) or ["blue", "green"]
        jobs = "its eval job" if len(lacking) == 1 else "its eval jobs"
        missing[path] = f"no results for suite {path.name} on {' and '.join(lacking)}: {jobs} did not finish"
    return missing


def _pooling_unfinished(gate: str, missing: Mapping[Path, str]) -> GateResult | None:
    """Latency and cost pool every gated suite: judged on some of them, they could pass on part of the evidence."""
    if not missing:
        return None
    return GateResult(
        gate=gate,
        outcome="inconclusive",
        details={"unfinished": sorted(path.name for path in missing)},
        reason="; ".join(missing[path] for path in sorted(missing)),
    )


def _on_suite(
    gate: str,
    suite: Path,
    matching: Sequence[SuiteRun],
    paired: Mapping[str, Paired],
    judge: Callable[[Paired, SuiteRun], GateResult],
    *,
    missing: str | None,
) -> GateResult:
    if not matching:
        return GateResult(
            gate=gate,
            outcome="inconclusive",
            details={"suite": suite.name},
            reason=missing or f"no results for suite {suite.name}: run it on both colors and pass both files",
        )
    if len(matching) > 1:
        raise InputError.at(
            "--baseline",
            f"the {gate} gate's suite {suite.name} has results under several names "
            f"({', '.join(r.suite for r in matching)}): pass one",
            field="suite",
        )
    return judge(paired[matching[0].suite], matching[0])


def _info(results: Sequence[EvalResults]) -> RunInfo:
    revisions = [r.revision for r in results if r.revision]
    digests = [r.serving_digest for r in results if r.serving_digest]
    targets = {r.target for r in results}
    releases = sorted({r.server.version for r in results if r.server is not None and r.server.version})
    return RunInfo(
        model=results[0].model if results else "",
        revision=revisions[0] if revisions else None,
        serving_digest=digests[0] if digests else None,
        target=targets.pop() if len(targets) == 1 else None,
        run_ids=tuple(r.run_id for r in results if r.run_id),
        server_version=", ".join(releases) or None,
    )
