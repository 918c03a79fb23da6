"""The gates' inputs, read from disk and the network: results files, the names suites declare, feedback,
and the live traffic of the stage's window (from the commit that started the stage to now).

`gate_files` is `rollout gate` end to end: it loads them, then evaluates (pure, in gates/evaluate.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import httpx

from rollout.documents import load_yaml
from rollout.errors import InputError
from rollout.evals.results import load_results
from rollout.evals.suite import load_suite
from rollout.gates.evaluate import Loaded, evaluate_gates, match_finished, match_runs
from rollout.gates.feedback_sources import fetch_feedback
from rollout.gates.live import LiveTraffic, LiveWindow
from rollout.gates.live_sources import read_live
from rollout.gates.safety import bar_warning
from rollout.gates.verdict import Verdict
from rollout.plan import Plan, suite_gate_paths


def gate_files(
    plan: Plan,
    baselines: Sequence[Path],
    candidates: Sequence[Path],
    *,
    live_since: LiveWindow | None,
    now: datetime,
    env: Mapping[str, str],
    transport: httpx.BaseTransport | None = None,
    allow_missing: bool = False,
) -> Verdict:
    """`live_since` starts the live gates' window (situation.live_since); None leaves them out of the verdict.

    `allow_missing` is for a watch round whose eval jobs did not all finish: a path that is not there, or a
    gated suite's results missing on a color, makes the gates needing them inconclusive (evaluate.match_finished).
    """
    blue, green = _load(baselines, missing_ok=allow_missing), _load(candidates, missing_ok=allow_missing)
    runs, unfinished = match_finished(blue, green) if allow_missing else (match_runs(blue, green), None)
    feedback = fetch_feedback(plan.gates.feedback.source, transport=transport) if plan.gates.feedback else None
    suites = suite_gate_paths(plan.gates)
    return evaluate_gates(
        plan.gates,
        runs,
        feedback=feedback,
        live=_live(plan, live_since, now=now, env=env, transport=transport),
        declared={path: declared_names(path) for path in suites},
        unfinished=unfinished,
    )


def _live(
    plan: Plan,
    since: LiveWindow | None,
    *,
    now: datetime,
    env: Mapping[str, str],
    transport: httpx.BaseTransport | None,
) -> LiveTraffic | None:
    if plan.gates.live is None or since is None:
        return None
    live = read_live(plan, plan.gates.live, start=since.start, end=now, env=env, transport=transport)
    return replace(live, blue_serves=since.blue_serves)


def gate_warnings(plan: Plan, *, env: Mapping[str, str]) -> tuple[str, ...]:
    """What is legal in the gates but cannot work with the suites as they are; `rollout validate` prints these."""
    safety = plan.gates.safety
    if safety is None or safety.max_failure_rate is None:
        return ()
    warning = bar_warning(safety, [case.tags for case in load_suite(safety.suite, env=env).cases])
    return (warning,) if warning else ()


def declared_names(suite: Path) -> set[str]:
    """The `name:` each YAML file of a suite folder gives the suite (the eval runner writes it as `suite`)."""
    names = set()
    for file in sorted(suite.glob("*.yaml")):
        data = load_yaml(file).data
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            names.add(data["name"])
    return names


def results_files(paths: Sequence[Path], *, missing_ok: bool = False) -> list[Path]:
    """Each path as given, or for a directory, the *.json files in it (a downloaded artifact folder).

    `missing_ok`: a path that is not there, or a directory without results, gives none (the artifact of an
    eval job that did not finish was never uploaded)."""
    files = []
    for path in paths:
        if not path.exists():
            if not missing_ok:
                raise InputError.at(str(path), "does not exist")
        elif path.is_dir():
            found = sorted(path.glob("*.json"))
            if not found and not missing_ok:
                raise InputError.at(str(path), "is a directory with no *.json results files")
            files += found
        else:
            files.append(path)
    return files


def _load(paths: Sequence[Path], *, missing_ok: bool) -> list[Loaded]:
    return [Loaded(file=str(path), results=load_results(path)) for path in results_files(paths, missing_ok=missing_ok)]
