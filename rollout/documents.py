"""Read YAML and JSON inputs safely, keeping the line of every value for error messages.

PyYAML's constructor shares aliased nodes, so a "billion laughs" file costs little memory until
something walks it; we build the data ourselves and stop after a fixed number of nodes. Files are
size-checked before they are parsed, so a 50 MB upload fails at once instead of after a minute.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from rollout.errors import InputError, Problem

FieldPath = tuple[str | int, ...]

MAX_NODES = 200_000
# libyaml composes nodes (with the same marks) several times faster; a 2,000-case suite parses in 60 ms, not 350
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, kw_only=True)
class Document:
    """Parsed data plus the 1-based line of every value (and of every mapping key)."""

    file: str
    data: Any
    lines: Mapping[FieldPath, int] = field(default_factory=dict)
    key_lines: Mapping[FieldPath, int] = field(default_factory=dict)

    def line_of(self, path: FieldPath, *, key: bool = False) -> int | None:
        if key and path in self.key_lines:
            return self.key_lines[path]
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)

    def problem(self, path: FieldPath, message: str, *, key: bool = False) -> Problem:
        return Problem(file=self.file, line=self.line_of(path, key=key), field=format_path(path), message=message)


def format_path(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def read_text(path: Path, *, display: str | None = None, max_bytes: int = 1_000_000) -> str:
    """Return the file's text, or raise InputError for missing, huge, binary or non-UTF-8 files."""
    name = display or str(path)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise InputError.at(name, "is a directory, not a file")
        if size > max_bytes:
            raise InputError.at(name, f"file is too large ({size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB)")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError.at(name, "file not found") from None
    except PermissionError:
        raise InputError.at(name, "permission denied") from None
    if b"\x00" in raw:
        raise InputError.at(name, "is a binary file, not text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError.at(name, f"is not UTF-8 text (bad byte at offset {exc.start})") from None


def load_yaml(path: Path, *, display: str | None = None, max_bytes: int = 1_000_000) -> Document:
    name = display or str(path)
    return parse_yaml(read_text(path, display=name, max_bytes=max_bytes), file=name)


def parse_yaml(text: str, *, file: str) -> Document:
    if not text.strip():
        raise InputError.at(file, "file is empty")
    loader = _LOADER(text)
    try:
        root = loader.get_single_node()
    except RecursionError:
        raise InputError.at(file, _TOO_DEEP) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise InputError.at(file, f"invalid YAML: {exc.problem or exc.context}", line=line) from None
    except yaml.YAMLError as exc:
        raise InputError.at(file, f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    if root is None:
        raise InputError.at(file, "file is empty")
    builder = _Builder(file)
    try:
        data = builder.build(root, ())
    except RecursionError:
        raise InputError.at(file, _TOO_DEEP) from None
    if builder.problems:
        raise InputError(builder.problems)
    return Document(file=file, data=data, lines=builder.lines, key_lines=builder.key_lines)


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[FieldPath, int] = {}
        self.key_lines: dict[FieldPath, int] = {}
        self.problems: list[Problem] = []
        self.visited = 0
        self.scalars = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: FieldPath) -> Any:
        self.visited += 1
        if self.visited > MAX_NODES:
            raise InputError.at(
                self.file,
                f"document expands to more than {MAX_NODES:,} values (recursive or exponential aliases?)",
                line=node.start_mark.line + 1,
            )
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            self.scalars.flatten_mapping(node)
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = self.build_key(key_node, path)
                if key in out:
                    self.problems.append(
                        Problem(
                            file=self.file,
                            line=key_node.start_mark.line + 1,
                            field=format_path((*path, key)),
                            message="duplicate key",
                        )
                    )
                child = (*path, key)
                self.key_lines[child] = key_node.start_mark.line + 1
                out[key] = self.build(value_node, child)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        value = self.scalars.construct_object(node, deep=True)
        if hasattr(value, "isoformat"):  # dates stay the text the user wrote
            return str(node.value)
        return value

    def build_key(self, node: yaml.Node, path: FieldPath) -> str:
        if not isinstance(node, yaml.ScalarNode):
            self.problems.append(
                Problem(
                    file=self.file,
                    line=node.start_mark.line + 1,
                    field=format_path(path),
                    message="mapping keys must be plain strings",
                )
            )
            return f"<{type(node).__name__}>"
        value = self.scalars.construct_object(node)
        return value if isinstance(value, str) else str(node.value)


def load_json(path: Path, *, display: str | None = None, max_bytes: int = 200_000_000) -> Any:
    name = display or str(path)
    text = read_text(path, display=name, max_bytes=max_bytes)
    if not text.strip():
        raise InputError.at(name, "file is empty")
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise InputError.at(name, _TOO_DEEP) from None
    except json.JSONDecodeError as exc:
        raise InputError.at(name, f"invalid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno) from None
    except ValueError as exc:
        raise InputError.at(name, f"invalid JSON: {exc}") from None
    return data


# The parsers and the schema checks recurse; a file nested deeper than they can follow (a results file of
# 100,000 nested lists) is refused whole, as bad input.
_TOO_DEEP = "nested too deeply to read"


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def schema_problems(document: Document, schema: Mapping[str, Any]) -> list[Problem]:
    """Every schema violation in the document, each with its line and a message for a person."""
    validator = jsonschema.Draft202012Validator(schema)
    try:
        problems = [_explain(document, error) for error in validator.iter_errors(document.data)]
    except RecursionError:
        return [Problem(file=document.file, message=_TOO_DEEP)]
    return sorted(problems, key=lambda p: (p.line or 0, p.field, p.message))


def _explain(document: Document, error: jsonschema.ValidationError) -> Problem:
    path: FieldPath = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        patterns = schema.get("patternProperties", {})
        if extra and not patterns:
            key = extra[0]
            hint = difflib.get_close_matches(key, allowed, n=1)
            suggestion = f" (did you mean '{hint[0]}'?)" if hint else f" (expected one of: {', '.join(allowed)})"
            return document.problem((*path, key), f"unknown key '{key}'{suggestion}", key=True)
    if error.validator == "required":
        return document.problem(path, error.message.replace("is a required property", "is required"))
    if error.validator == "enum":
        options = [str(o) for o in error.validator_value]  # type: ignore[union-attr]
        hint = difflib.get_close_matches(str(error.instance), options, n=1)
        suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
        return document.problem(path, f"{error.instance!r} is not one of {', '.join(options)}{suggestion}")
    if error.validator == "pattern" and "x-expected" in schema:
        return document.problem(path, f"{_short(repr(error.instance), 80)} is not {schema['x-expected']}")
    if error.validator in ("oneOf", "anyOf") and error.context:
        deepest = max(error.context, key=lambda e: len(e.absolute_path))
        return (
            _explain(document, deepest)
            if deepest.absolute_path != error.absolute_path
            else document.problem(path, deepest.message)
        )
    return document.problem(path, _short(error.message))


def _short(message: str, limit: int = 200) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"


def require_schema(document: Document, schema: Mapping[str, Any]) -> None:
    problems = schema_problems(document, schema)
    if problems:
        raise InputError(problems)


def load_schema(name: str) -> dict[str, Any]:
    """A JSON Schema shipped in rollout/schemas/."""
    schema: dict[str, Any] = json.loads((Path(__file__).parent / "schemas" / name).read_text())
    return schema


def check_unique(document: Document, items: Sequence[Mapping[str, Any]], base: FieldPath, key: str) -> list[Problem]:
    seen: dict[Any, int] = {}
    problems = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping) or key not in item:
            continue
        value = item[key]
        if value in seen:
            problems.append(
                document.problem((*base, i, key), f"{value!r} is already used by {format_path((*base, seen[value]))}")
            )
        else:
            seen[value] = i
    return problems
