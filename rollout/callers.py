"""The caller workflows `rollout init` writes: thin jobs that call this project's reusable workflows.

They are pinned to the release of the installed package: its tag, and its full commit SHA when the package
was built from a release (the build stamps `rollout/release-commit`, see docs/releasing.md). What they must
agree on with the plan (the runner labels of the GPU jobs) is written from the plan, and `rollout validate`
reads the callers of a repository back to report one that no longer agrees.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rollout import __version__
from rollout.plan import DEFAULT_RUNNER, Plan

REPOSITORY = "model-rollout/model-rollout"
"""The repository of this project's action and reusable workflows: the callers, the workflows' defaults and
the docs name it as written here (a test keeps them so)."""
RELEASE_COMMIT = Path(__file__).parent / "release-commit"
"""Written by the release build (never committed): the full SHA of the commit the release's tag names."""

_RUNNER_INPUT = re.compile(r"^(?P<indent>[ \t]+)runner: .*$", re.MULTILINE)
_REUSABLE = re.compile(r"/\.github/workflows/rollout-[a-z]+\.ya?ml@")
_PIN_REASON = re.compile(r"^(?P<indent>[ \t]+)# Pin to the full commit SHA.*\n", re.MULTILINE)
_USES = re.compile(
    r"^(?P<indent>[ \t]+)uses: [\w.-]+/[\w.-]+(?P<workflow>/\.github/workflows/[\w.-]+)@\S+.*$", re.MULTILINE
)
_ROLLOUT_REF = re.compile(r"^(?P<indent>[ \t]+)rollout-ref: .*$", re.MULTILINE)
_SHA = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True, kw_only=True)
class Release:
    tag: str
    commit: str | None = None
    """None for a package not built from a release (a checkout): the callers are then pinned by tag."""


def installed_release() -> Release:
    """The release this package is: its version's tag, and the commit the release build stamped into it."""
    try:
        stamped = RELEASE_COMMIT.read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        stamped = ""
    return Release(tag=f"v{__version__}", commit=stamped if _SHA.fullmatch(stamped) else None)


def runner_input(runner: Iterable[str]) -> str:
    """The `runner:` input of a caller: the labels as the JSON the reusable workflows' fromJSON reads."""
    return json.dumps(list(runner))


def render_caller(text: str, *, runner: Iterable[str], release: Release) -> str:
    """A caller template with its `runner:` input set to the plan's labels, pinned to `release`: by its full
    commit SHA (and `rollout-ref` the same commit) when known, else by its tag as the template ships."""
    value = runner_input(runner).replace("'", "''")
    text = _RUNNER_INPUT.sub(lambda m: f"{m.group('indent')}runner: '{value}'", text)
    if release.commit is None:
        return _USES.sub(
            lambda m: (
                f"{m.group('indent')}uses: {REPOSITORY}{m.group('workflow')}@{release.tag}"
                " # zizmor: ignore[unpinned-uses]"
            ),
            _ROLLOUT_REF.sub(lambda m: f"{m.group('indent')}rollout-ref: {release.tag}", text),
        )
    text = _PIN_REASON.sub(
        lambda m: (
            f"{m.group('indent')}# model-rollout {release.tag}, pinned by its full commit SHA; "
            "rollout-ref installs the same commit.\n"
        ),
        text,
    )
    text = _USES.sub(
        lambda m: f"{m.group('indent')}uses: {REPOSITORY}{m.group('workflow')}@{release.commit} # {release.tag}", text
    )
    return _ROLLOUT_REF.sub(lambda m: f"{m.group('indent')}rollout-ref: {release.commit}", text)


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
