"""Promote green to blue in the plan's text, keeping every comment and the rest of the file as written.

The decommission PR must change `models:` only: blue takes green's spec and green goes away. The
YAML is composed (not loaded) to find where each entry starts and ends, and the lines are spliced:
green's lines, key renamed, replace blue's; trailing blank and comment lines stay where they are,
since they usually introduce what follows. A flow-style `models: {...}` is rewritten as one flow
mapping. The result is parsed back and compared with the intended data before it is used.
"""

from __future__ import annotations

from typing import Any

import yaml

from rollout.errors import InputError


def promote_green(text: str, *, file: str) -> str:
    """The plan text with `models.blue` set to `models.green`'s spec and `models.green` removed."""
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
        flow = yaml.safe_dump({"blue": before["models"]["green"]}, default_flow_style=True, sort_keys=False).strip()
        result = text[:start] + flow + text[end:]
    else:
        result = _splice(text, models)
    after = yaml.safe_load(result)
    expected = {**before, "models": {"blue": before["models"]["green"]}}
    if after != expected:
        raise InputError.at(
            file,
            "cannot promote green to blue by editing the text; do it by hand "
            "(blue takes green's spec, and green is removed)",
            field="models",
        )
    return result


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
