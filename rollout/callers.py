"""The caller workflows `rollout init` writes: thin jobs that call this project's reusable workflows.

What they must agree on with the plan (the runner labels of the GPU jobs) is written from the plan, and
`rollout validate` reads the callers of a repository back to report one that no longer agrees.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from rollout.plan import DEFAULT_RUNNER, Plan

_RUNNER_INPUT = re.compile(r"^(?P<indent>[ \t]+)runner: .*$", re.MULTILINE)
_REUSABLE = re.compile(r"/\.github/workflows/rollout-[a-z]+\.ya?ml@")


def runner_input(runner: Iterable[str]) -> str:
    """The `runner:` input of a caller: the labels as the JSON the reusable workflows' fromJSON reads."""
    return json.dumps(list(runner))


def render_caller(text: str, *, runner: Iterable[str]) -> str:
    """A caller template with its `runner:` input set to the plan's labels; every other line as shipped."""
    value = runner_input(runner).replace("'", "''")
    return _RUNNER_INPUT.sub(lambda m: f"{m.group('indent')}runner: '{value}'", text)


def caller_warnings(plan: Plan) -> tuple[str, ...]:
    """A caller of this plan whose GPU jobs run on other runner labels than the plan's `runner:`."""
    found = []
    for path, job, labels in _callers_of(plan):
        if labels != plan.runner:
            found.append(
                f"{path}: jobs.{job}.with.runner is {runner_input(labels)}, but the plan's runner is "
                f"{runner_input(plan.runner)}: the model servers would start on other machines than the plan "
                "names; make them agree (rollout init writes the callers from the plan)"
            )
    return tuple(found)


def _callers_of(plan: Plan) -> list[tuple[Path, str, tuple[str, ...]]]:
    workflows = _workflows_dir(plan.root)
    if workflows is None:
        return []
    plan_input = plan.path.resolve().relative_to(workflows.parent.parent).as_posix()
    callers = []
    for path in sorted([*workflows.glob("*.yml"), *workflows.glob("*.yaml")]):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # not ours to judge: GitHub reports a broken workflow itself
        for name, job in _jobs(data).items():
            uses = job.get("uses")
            given = job.get("with")
            inputs: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
            if not isinstance(uses, str) or not _REUSABLE.search(uses):
                continue
            if str(inputs.get("plan", "rollout-plan.yaml")) != plan_input:
                continue
            labels = _labels(inputs.get("runner"))
            if labels is not None:
                callers.append((path, name, labels))
    return callers


def _workflows_dir(root: Path) -> Path | None:
    """The `.github/workflows` of the repository holding the plan: in the plan's folder or one above it."""
    for folder in (root.resolve(), *root.resolve().parents):
        if (folder / ".github" / "workflows").is_dir():
            return folder / ".github" / "workflows"
        if (folder / ".git").exists():
            return None
    return None


def _jobs(data: Any) -> dict[str, Mapping[str, Any]]:
    jobs = data.get("jobs") if isinstance(data, Mapping) else None
    if not isinstance(jobs, Mapping):
        return {}
    return {str(name): job for name, job in jobs.items() if isinstance(job, Mapping)}


def _labels(value: Any) -> tuple[str, ...] | None:
    """The labels a `runner:` input names; the reusable workflows' default when it is not given, None for
    an expression or anything else whose value only GitHub knows."""
    if value is None:
        return DEFAULT_RUNNER
    if not isinstance(value, str) or "${{" in value:
        return None
    try:
        labels = json.loads(value)
    except ValueError:
        return None
    if isinstance(labels, str):
        return (labels,)
    if isinstance(labels, list) and all(isinstance(label, str) for label in labels):
        return tuple(labels)
    return None
