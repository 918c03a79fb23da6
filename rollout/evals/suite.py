"""Eval suites: a folder of YAML files (plus optional JSONL datasets) to frozen cases, checked up front.

Every problem (schema, unknown grader, bad regex or JSON Schema, duplicate id, missing dataset or
template field) is reported at once with its file, line and field, before any request is sent.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import string
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rollout import __version__
from rollout.documents import Document, FieldPath, format_path, load_schema, load_yaml, read_text, schema_problems
from rollout.errors import InputError, Problem
from rollout.evals.graders import JUDGE, Expectation, parse_expectation

JUDGE_URL_ENV = "ROLLOUT_JUDGE_URL"
JUDGE_MODEL_ENV = "ROLLOUT_JUDGE_MODEL"
DEFAULT_MAX_TOKENS = 256
DEFAULT_MAX_ROUNDS = 8  # the rounds benchmarks/README.md measured a sampled suite read at
MAX_DATASET_BYTES = 100_000_000
MAX_SUITE_FILE_BYTES = 20_000_000  # about 100,000 cases written out in YAML
CASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # as in suite.schema.json: an id becomes a pytest test id


@dataclass(frozen=True, kw_only=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True, kw_only=True)
class Case:
    id: str
    messages: tuple[Message, ...]
    expect: tuple[Expectation, ...]
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 0.0
    repeats: int = 1
    tags: tuple[str, ...] = ()
    file: str = ""
    line: int | None = None
    source: str = ""  # the suite file that declares the case (for a dataset case, not the .jsonl)

    @property
    def prompt(self) -> str:
        """The last user message: what a report shows as the question."""
        return next((m.content for m in reversed(self.messages) if m.role == "user"), self.messages[-1].content)


@dataclass(frozen=True, kw_only=True)
class Suite:
    name: str
    path: Path
    cases: tuple[Case, ...] = field(default_factory=tuple)
    max_rounds: int = DEFAULT_MAX_ROUNDS
    """The most watch rounds a sampled suite's repeats accumulate over; then its results are reused."""

    def with_repeats(self, repeats: int | None) -> Suite:
        if repeats is None:
            return self
        return replace(self, cases=tuple(replace(case, repeats=repeats) for case in self.cases))


def suite_digest(suite: Suite, *, env: Mapping[str, str]) -> str:
    """A digest of the suite as it runs: each case's id, messages, sampling settings, tags and graders (a
    judge's endpoint and model as resolved from `env`, a python grader's source file), and this release of
    rollout, which sends and grades them. Not the repeat count: more repeats of the same cases are the same
    suite. Equal digests, with the same model, revision and serving arguments at temperature 0, mean the
    answers and their scores cannot differ."""
    cases = sorted(
        (
            {
                "id": case.id,
                "messages": [[m.role, m.content] for m in case.messages],
                "max_tokens": case.max_tokens,
                "temperature": case.temperature,
                "tags": list(case.tags),
                "expect": [_grader_identity(exp, env) for exp in case.expect],
            }
            for case in suite.cases
        ),
        key=lambda case: str(case["id"]),
    )
    document = {"digest": "rollout.suite-digest/v1", "rollout": __version__, "suite": suite.name, "cases": cases}
    text = json.dumps(document, sort_keys=True, ensure_ascii=False, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _grader_identity(exp: Expectation, env: Mapping[str, str]) -> dict[str, Any]:
    identity: dict[str, Any] = {
        "kind": exp.kind,
        "value": exp.value,
        "options": dict(exp.options),
        "weight": exp.weight,
    }
    if exp.kind == JUDGE:
        identity["judge"] = {
            "url": exp.options.get("url") or env.get(JUDGE_URL_ENV, ""),
            "model": exp.options.get("model") or env.get(JUDGE_MODEL_ENV, ""),
        }
    elif exp.kind == "python":
        identity["source"] = _module_source_digest(str(exp.value).partition(":")[0])
    return identity


def _module_source_digest(module: str) -> str | None:
    """The grader's code can change while the suite's YAML does not."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    origin = spec.origin if spec is not None else None
    if origin is None or not Path(origin).is_file():
        return None
    return hashlib.sha256(Path(origin).read_bytes()).hexdigest()


def suite_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    return [path]


def load_suite(path: Path | str, *, env: Mapping[str, str]) -> Suite:
    """Read a suite folder (every *.yaml in it) or a single suite file; raise InputError with every problem."""
    path = Path(path)
    if not path.exists():
        raise InputError.at(str(path), "no eval suite here (a folder of *.yaml files, or one suite file)")
    files = suite_files(path)
    if not files:
        raise InputError.at(str(path), "this folder holds no *.yaml suite files")
    problems: list[Problem] = []
    cases: list[Case] = []
    names: list[str] = []
    caps: list[tuple[int, Document]] = []
    for file in files:
        try:
            document = load_yaml(file, display=str(file), max_bytes=MAX_SUITE_FILE_BYTES)
        except InputError as exc:
            problems += exc.problems or [Problem(file=str(file), message=exc.message)]
            continue
        file_cases, file_problems = _file_cases(document, file.parent, env)
        cases += file_cases
        problems += file_problems
        if isinstance(document.data, dict) and isinstance(document.data.get("name"), str):
            names.append(document.data["name"])
        if isinstance(document.data, dict) and isinstance(document.data.get("max_rounds"), int):
            caps.append((document.data["max_rounds"], document))
    problems += _duplicate_ids(cases) + _differing_caps(caps)
    if problems:
        raise InputError(problems)
    if not cases:
        raise InputError.at(str(path), "the suite has no cases")
    name = names[0] if names else (path.name if path.is_dir() else path.stem)
    max_rounds = caps[0][0] if caps else DEFAULT_MAX_ROUNDS
    return Suite(name=name, path=path, cases=tuple(cases), max_rounds=max_rounds)


def _differing_caps(caps: list[tuple[int, Document]]) -> list[Problem]:
    """A suite has one cap: every file that sets `max_rounds` must set the same."""
    if not caps:
        return []
    first, where = caps[0]
    return [
        document.problem(("max_rounds",), f"{value} differs from the {first} that {where.file} sets for this suite")
        for value, document in caps[1:]
        if value != first
    ]


def check_suites(paths: Iterable[Path], *, env: Mapping[str, str]) -> None:
    """Load every suite, reporting the problems of all of them together."""
    problems: list[Problem] = []
    for path in paths:
        try:
            load_suite(path, env=env)
        except InputError as exc:
            problems += exc.problems or [Problem(file=str(path), message=exc.message)]
    if problems:
        raise InputError(problems)


def _duplicate_ids(cases: list[Case]) -> list[Problem]:
    first: dict[str, Case] = {}
    problems = []
    for case in cases:
        if case.id in first:
            where = first[case.id]
            problems.append(
                Problem(
                    file=case.file,
                    line=case.line,
                    field="id",
                    message=f"duplicate case id {case.id!r} (first used at {where.file}:{where.line})",
                )
            )
        else:
            first[case.id] = case
    return problems


def _file_cases(document: Document, folder: Path, env: Mapping[str, str]) -> tuple[list[Case], list[Problem]]:
    if not isinstance(document.data, dict):
        return [], [Problem(file=document.file, line=1, message="a suite file is a mapping with cases: (or dataset:)")]
    problems = schema_problems(document, load_schema("suite.schema.json"))
    if problems:
        return [], problems + _unbroken_case_problems(document, problems, env, folder)
    data = document.data
    defaults = data.get("defaults", {})
    cases: list[Case] = []
    for i, raw in enumerate(data.get("cases", [])):
        case, case_problems = _case(document, ("cases", i), raw, defaults, env, folder)
        problems += case_problems
        if case is not None:
            cases.append(case)
    if "dataset" in data:
        dataset_cases, dataset_problems = _dataset_cases(document, data["dataset"], defaults, env, folder)
        cases += dataset_cases
        problems += dataset_problems
    return cases, problems


def _unbroken_case_problems(
    document: Document, schema: list[Problem], env: Mapping[str, str], folder: Path
) -> list[Problem]:
    """The grader problems of the cases the schema found nothing wrong with: one broken case must not hide
    the others' problems. (Their defaults are not applied: the file's cases are not used either way.)"""
    raw_cases = document.data.get("cases")
    if not isinstance(raw_cases, list):
        return []
    problems: list[Problem] = []
    for i, raw in enumerate(raw_cases):
        prefix = format_path(("cases", i))
        if any(p.field == prefix or p.field.startswith((f"{prefix}.", f"{prefix}[")) for p in schema):
            continue
        problems += _case(document, ("cases", i), raw, {}, env, folder)[1]
    return problems


def _case(
    document: Document,
    path: FieldPath,
    raw: Mapping[str, Any],
    defaults: Mapping[str, Any],
    env: Mapping[str, str],
    folder: Path,
    *,
    line: int | None = None,
) -> tuple[Case | None, list[Problem]]:
    problems: list[Problem] = []
    if ("prompt" in raw) == ("messages" in raw):
        problems.append(document.problem(path, "a case has either prompt: or messages: (exactly one)"))
    expect: list[Expectation] = []
    if any(isinstance(item, Mapping) and "python" in item for item in raw["expect"]):
        python_grader_path(folder)
    for j, item in enumerate(raw["expect"]):
        expectation, item_problems = parse_expectation(item)
        base = (*path, "expect", j)
        problems += [document.problem((*base, *sub), message, key=bool(sub)) for sub, message in item_problems]
        if expectation is not None:
            problems += _judge_problems(document, base, expectation, env)
            expect.append(expectation)
    if problems:
        return None, problems
    system = raw.get("system", defaults.get("system"))
    messages: tuple[Message, ...]
    if "prompt" in raw:
        messages = (Message(role="user", content=raw["prompt"]),)
    else:
        messages = tuple(Message(role=m["role"], content=m["content"]) for m in raw["messages"])
    if system is not None and messages[0].role != "system":
        messages = (Message(role="system", content=system), *messages)
    return Case(
        id=raw["id"],
        messages=messages,
        expect=tuple(expect),
        max_tokens=raw.get("max_tokens", defaults.get("max_tokens", DEFAULT_MAX_TOKENS)),
        temperature=float(raw.get("temperature", defaults.get("temperature", 0.0))),
        repeats=raw.get("repeats", defaults.get("repeats", 1)),
        tags=tuple(raw.get("tags", ())),
        file=document.file,
        line=line or document.line_of(path),
        source=document.file,
    ), []


def _judge_problems(document: Document, path: FieldPath, exp: Expectation, env: Mapping[str, str]) -> list[Problem]:
    if exp.kind != JUDGE:
        return []
    needs = [
        f"a judge {what}: {key}: in the item or ${variable}"
        for what, key, variable in (("endpoint", "url", JUDGE_URL_ENV), ("model", "model", JUDGE_MODEL_ENV))
        if key not in exp.options and not env.get(variable)
    ]
    return [document.problem((*path, JUDGE), f"llm_judge needs {need}") for need in needs]


def python_grader_path(folder: Path) -> None:
    """Custom graders may live beside the suite files; make them importable as plain modules."""
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


def _dataset_cases(
    document: Document, spec: Mapping[str, Any], defaults: Mapping[str, Any], env: Mapping[str, str], folder: Path
) -> tuple[list[Case], list[Problem]]:
    file = folder / spec["file"]
    display = str(file)
    if not file.is_file():
        return [], [document.problem(("dataset", "file"), f"dataset file not found: {display}")]
    problems = [
        document.problem(("dataset", key), message)
        for key in ("id", "prompt", "system")
        if key in spec
        for message in [_template_problem(spec[key])]
        if message
    ]
    if problems:
        return [], problems
    cases: list[Case] = []
    stem = file.stem
    for number, row in _rows(read_text(file, display=display, max_bytes=MAX_DATASET_BYTES), display):
        try:
            raw: dict[str, Any] = {
                "id": _fill(spec.get("id", f"{stem}-{number}"), row),
                "prompt": _fill(spec["prompt"], row),
                "expect": _fill(spec["expect"], row),
                "tags": list(spec.get("tags", ())),
            }
            if "system" in spec:
                raw["system"] = _fill(spec["system"], row)
        except KeyError as exc:
            problems.append(
                Problem(
                    file=display,
                    line=number,
                    message=f"the templates use {{{exc.args[0]}}} but this line has no such field",
                )
            )
            continue
        except (ValueError, IndexError) as exc:
            problems.append(document.problem(("dataset",), f"bad template: {exc} (write {{{{ and }}}} for braces)"))
            break
        if not CASE_ID.fullmatch(raw["id"]):
            problems.append(
                Problem(
                    file=display,
                    line=number,
                    field="id",
                    message=f"case id {raw['id']!r} may only "
                    "hold letters, digits, '.', '_' and '-' (choose the dataset's id: template)",
                )
            )
            continue
        case, case_problems = _case(document, ("dataset",), raw, defaults, env, folder, line=number)
        if case is not None:
            cases.append(replace(case, file=display))
        elif case_problems:
            # the same template fails the same way on every line: report it once, at the first line
            problems += [
                replace(p, message=f"{p.message} (first failing line: {display}:{number})") for p in case_problems
            ]
            break
    return cases, problems


def _rows(text: str, display: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    problems = []
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            problems.append(Problem(file=display, line=number, message=f"invalid JSON: {exc}"))
            continue
        if not isinstance(row, dict):
            problems.append(Problem(file=display, line=number, message="each line is a JSON object"))
            continue
        rows.append((number, row))
    if problems:
        raise InputError(problems)
    return iter(rows)


def _template_problem(template: str) -> str | None:
    try:
        list(string.Formatter().parse(template))
    except ValueError as exc:
        return f"bad template: {exc} (write {{{{ and }}}} for literal braces)"
    return None


def _fill(value: Any, row: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return value.format_map(row)
    if isinstance(value, list):
        return [_fill(v, row) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, row) for k, v in value.items()}
    return value
