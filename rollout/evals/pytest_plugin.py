"""pytest plugin: eval cases as test items, so --junitxml and CI test reports just work.

    pytest eval_suites/quality --rollout-target URL|blue|green --rollout-results results.json

Nothing is collected unless --rollout-target is given, so a project's own test run is untouched.
The first case item to run sends every selected case at once through the async runner; each item
then passes or fails on its own result. The results JSON is the one `rollout eval --out` writes.
With --rollout-reuse DIR (recorded results, DIR/<color>/<suite>.json), a suite whose results cannot
differ is not asked again: its items pass or fail on the recorded results (rollout.evals.reuse).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from rollout.actions.annotations import neutralise
from rollout.errors import RolloutError


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rollout", "rollout eval suites")
    group.addoption(
        "--rollout-target",
        metavar="blue|green|URL",
        help="Run eval suites (folders of *.yaml) against this target; without it they are not collected.",
    )
    group.addoption(
        "--rollout-results",
        metavar="FILE",
        help="Write the results JSON here ({suite} is replaced by the suite name when several run).",
    )
    group.addoption(
        "--rollout-reuse",
        metavar="DIR",
        help="Recorded results (DIR/<color>/<suite>.json, e.g. a checkout of the evidence branch): reuse those "
        "that cannot differ, add repeats to sampled ones, run the rest. A missing DIR records nothing.",
    )
    group.addoption("--rollout-model", help="Served model name for a URL target (default: ask /v1/models).")
    group.addoption("--rollout-plan", default="rollout-plan.yaml", help="The plan, for blue/green targets.")
    group.addoption("--rollout-concurrency", type=int, default=16, help="Requests in flight at once.")
    group.addoption("--rollout-repeats", type=int, help="Ask each case this many times.")
    group.addoption("--rollout-timeout", type=float, default=120.0, help="Seconds one request may take.")
    group.addoption(
        "--rollout-min-score",
        type=float,
        default=1.0,
        help="A case passes when its mean score is at least this (default 1.0).",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("rollout_target"):
        config.pluginmanager.register(EvalRun(config), "rollout-eval-run")


class CaseFailed(Exception):
    """A case scored below the bar, or its requests failed; the message is the whole report."""


class EvalRun:
    """The state of one pytest session's evals: suites loaded, results once they exist."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.env = dict(os.environ)
        self.suites: dict[Path, Any] = {}
        self.results: dict[Path, Any] = {}
        self.choices: dict[Path, Any] = {}
        self.failure: str | None = None
        self.ran = False

    def suite(self, folder: Path) -> Any:
        from rollout.evals.suite import load_suite

        if folder not in self.suites:
            self.suites[folder] = load_suite(folder, env=self.env).with_repeats(
                self.config.getoption("rollout_repeats")
            )
        return self.suites[folder]

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
        if file_path.suffix in (".yaml", ".yml") and _declares_cases(file_path):
            return SuiteFile.from_parent(parent, path=file_path)
        return None

    def result(self, item: CaseItem) -> Any:
        if not self.ran:
            self.ran = True
            self.run(item.session)
        if self.failure is not None:
            raise CaseFailed(self.failure)
        return self.results[item.folder].by_id()[item.case.id]

    def run(self, session: pytest.Session) -> None:
        from rollout.evals.runner import Settings, run_or_reuse
        from rollout.evals.target import resolve_target
        from rollout.retry import RetryPolicy

        option = self.config.getoption
        selected: dict[Path, list[Any]] = {}
        for item in session.items:
            if isinstance(item, CaseItem):
                selected.setdefault(item.folder, []).append(item.case.id)
        try:
            target = resolve_target(
                option("rollout_target"),
                plan_path=Path(option("rollout_plan")),
                model=option("rollout_model"),
                env=self.env,
            )
        except RolloutError as exc:
            self.failure = f"target {option('rollout_target')}: {exc.message}"
            return
        settings = Settings(
            concurrency=option("rollout_concurrency"), timeout=option("rollout_timeout"), retry=RetryPolicy()
        )
        reuse = option("rollout_reuse")
        for folder, ids in selected.items():
            suite = self.suites[folder]
            wanted = set(ids)
            subset = replace(suite, cases=tuple(c for c in suite.cases if c.id in wanted))
            results, choice = run_or_reuse(subset, target, settings, env=self.env, reuse=Path(reuse) if reuse else None)
            self.results[folder] = results
            self.choices[folder] = choice
            if results.interrupted:
                raise KeyboardInterrupt

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for folder, choice in self.choices.items():
            if choice is None:
                continue
            results = self.results[folder]
            done = {"reuse": "reused, nothing sent", "accumulate": f"{results.rounds} rounds", "run": "ran"}
            terminalreporter.write_line(
                neutralise(f"rollout: {results.suite} on {results.target}: {done[choice.action]} ({choice.reason})")
            )

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        from rollout.atomic import write_atomic
        from rollout.evals.results import results_to_json

        template = self.config.getoption("rollout_results")
        if not template or not self.results:
            return
        for results in self.results.values():
            write_atomic(results_path(template, results.suite, several=len(self.results) > 1), results_to_json(results))


def results_path(template: str, suite: str, *, several: bool) -> Path:
    if "{suite}" in template:
        return Path(template.replace("{suite}", suite))
    path = Path(template)
    return path.with_name(f"{path.stem}-{suite}{path.suffix}") if several else path


def _declares_cases(path: Path) -> bool:
    from rollout.documents import load_yaml

    try:
        data = load_yaml(path).data
    except RolloutError:
        return True  # let the suite loader report it, with its line
    return isinstance(data, dict) and ("cases" in data or "dataset" in data)


def _run_of(config: pytest.Config) -> EvalRun:
    run = config.pluginmanager.get_plugin("rollout-eval-run")
    assert isinstance(run, EvalRun)
    return run


class SuiteFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        suite = _run_of(self.config).suite(self.path.parent)
        for case in suite.cases:
            if Path(case.source) == self.path:
                yield CaseItem.from_parent(self, name=case.id, case=case, folder=self.path.parent)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, RolloutError):
            return neutralise(excinfo.value.message)
        return neutralise(str(super().repr_failure(excinfo)))


class CaseItem(pytest.Item):
    def __init__(self, *, case: Any, folder: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.folder = folder
        self.extra_keyword_matches.update(case.tags)  # `-k harmful` selects by tag, without registering markers

    def runtest(self) -> None:
        result = _run_of(self.config).result(self)
        mean = result.mean
        self.user_properties += [
            ("score", mean),
            ("latency_ms", list(result.latency_ms)),
            ("ttft_ms", list(result.ttft_ms)),
            ("output_tokens", list(result.output_tokens)),
        ]
        reused_from = _run_of(self.config).results[self.folder].reused_from
        if reused_from is not None:
            self.user_properties.append(("reused_from", f"{reused_from.run_id} at {reused_from.at}"))
        if result.errors:
            raise CaseFailed("\n".join(result.errors))
        minimum = self.config.getoption("rollout_min_score")
        if mean is not None and mean < minimum:
            answers = "\n".join(f"  answer {i + 1}: {text!r}" for i, text in enumerate(result.outputs))
            raise CaseFailed(f"score {mean:.3f} is below {minimum:g}\n  prompt: {self.case.prompt!r}\n{answers}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        # the report quotes server error bodies and answers, and pytest prints it where the runner reads
        if isinstance(excinfo.value, CaseFailed):
            return neutralise(str(excinfo.value))
        return neutralise(str(super().repr_failure(excinfo)))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, (self.case.line or 1) - 1, f"eval case {self.case.id}"
