"""Promote green to blue in the plan's text, keeping every comment and the rest of the file as written.

The decommission PR changes `models:`: blue takes green's spec and green goes away; and, when asked,
`router.backends`, the names a color's Kubernetes objects have. The YAML is composed (not loaded) to
find where each entry starts and ends, and the lines are spliced: green's lines, key renamed, replace
blue's; trailing blank and comment lines stay where they are, since they usually introduce what
follows. `backends` is written as one flow-style line in place of its entry, or after the router's
last one. A flow-style `models: {...}` or `router: {...}` is rewritten as one flow mapping. The result
is parsed back and compared with the intended data before it is used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import yaml

from rollout.errors import InputError
from rollout.plan import Color, Plan
from rollout.serving.manifests import backend_name

FLOW_WIDTH = 1 << 16
"""Wide enough that a rewritten flow mapping stays on one line."""


@dataclass(frozen=True, kw_only=True)
class Promotion:
    text: str
    """The plan's new text."""
    plan: Plan
    """The plan that text says, which the merge makes the repository's."""


def promote(plan: Plan, text: str) -> Promotion:
    """The decommission's plan: green's spec as blue, as text and as a Plan.

    Under `supervisor: kubernetes` a color's objects are named for it (`router.backends`), and the promoted
    green's keep running under their names: blue takes them, and the next green the old blue's, so the
    merge moves no traffic and redeploys nothing. The other supervisors' servers are found again by the
    records in the state dir.
    """
    if plan.green is None:
        raise InputError.at(str(plan.path), "the plan names no green version to promote", field="models.green")
    backends: dict[Color, str] | None = None
    if plan.green.supervisor == "kubernetes":
        backends = {"blue": backend_name(plan, "green"), "green": backend_name(plan, "blue")}
    promoted = promote_green(text, file=str(plan.path), backends=backends)
    return Promotion(
        text=promoted,
        plan=replace(
            plan,
            blue=replace(plan.green, color="blue"),
            green=None,
            router=plan.router if backends is None else replace(plan.router, backends=backends),
            digest=hashlib.sha256(promoted.encode()).hexdigest(),
        ),
    )


def promote_green(text: str, *, file: str, backends: Mapping[Color, str] | None = None) -> str:
    """The plan text with `models.blue` set to `models.green`'s spec and `models.green` removed, and with
    `backends`, `router.backends` set to them."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        before = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError.at(file, f"cannot be read as YAML: {exc}") from None
    models = _child(root, "models", file)
    keys = [key.value for key, _ in models.value]
    if "green" not in keys or "blue" not in keys:
        raise InputError.at(file, "the plan names no green version to promote", field="models.green")
    if models.flow_style:
        start, end = models.start_mark.index, models.end_mark.index
        flow = _flow({"blue": before["models"]["green"]})
        result = text[:start] + flow + text[end:]
    else:
        result = _splice(text, models)
    expected = {**before, "models": {"blue": before["models"]["green"]}}
    if backends is not None:
        result = _set_backends(result, dict(backends), file)
        expected["router"] = {**before["router"], "backends": dict(backends)}
    after = yaml.safe_load(result)
    if after != expected:
        raise InputError.at(
            file,
            "cannot promote green to blue by editing the text; do it by hand "
            "(blue takes green's spec, and green is removed)",
            field="models",
        )
    return result


def _set_backends(text: str, backends: dict[Color, str], file: str) -> str:
    router = _child(yaml.compose(text, Loader=yaml.SafeLoader), "router", file)
    if router.flow_style:
        start, end = router.start_mark.index, router.end_mark.index
        return text[:start] + _flow({**yaml.safe_load(text)["router"], "backends": backends}) + text[end:]
    lines = text.splitlines(keepends=True)
    spans = _spans(lines, router)
    keys = [key.value for key, _ in router.value]
    line = " " * router.value[0][0].start_mark.column + f"backends: {_flow(backends)}\n"
    if "backends" in keys:
        entry = spans[keys.index("backends")]
        return "".join([*lines[: entry.start], line, *lines[entry.stop :]])
    end = spans[-1].stop
    if not lines[end - 1].endswith("\n"):
        lines[end - 1] += "\n"
    return "".join([*lines[:end], line, *lines[end:]])


def _flow(data: Mapping[Any, Any]) -> str:
    return yaml.safe_dump(dict(data), default_flow_style=True, sort_keys=False, width=FLOW_WIDTH).strip()


def _splice(text: str, models: yaml.MappingNode) -> str:
    lines = text.splitlines(keepends=True)
    spans = _spans(lines, models)
    keys = [key.value for key, _ in models.value]
    blue, green = spans[keys.index("blue")], spans[keys.index("green")]
    green_key = models.value[keys.index("green")][0]
    first = lines[green.start]
    renamed = first[: green_key.start_mark.column] + "blue" + first[green_key.end_mark.column :]
    moved = [renamed, *lines[green.start + 1 : green.stop]]
    if blue.start < green.start:
        return "".join(lines[: blue.start] + moved + lines[blue.stop : green.start] + lines[green.stop :])
    return "".join(lines[: green.start] + lines[green.stop : blue.start] + moved + lines[blue.stop :])


def _spans(lines: list[str], models: yaml.MappingNode) -> list[range]:
    """The lines of each entry of a block mapping, without trailing blank or comment lines."""
    end = models.end_mark.line + (1 if models.end_mark.column > 0 else 0)
    starts = [key.start_mark.line for key, _ in models.value]
    spans = []
    for i, start in enumerate(starts):
        stop = starts[i + 1] if i + 1 < len(starts) else min(end, len(lines))
        while stop > start + 1 and (not lines[stop - 1].strip() or lines[stop - 1].lstrip().startswith("#")):
            stop -= 1
        spans.append(range(start, stop))
    return spans


def _child(node: Any, name: str, file: str) -> yaml.MappingNode:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == name and isinstance(value, yaml.MappingNode):
                return value
    raise InputError.at(file, f"has no '{name}' mapping", field=name)
