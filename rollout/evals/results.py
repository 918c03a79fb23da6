"""Eval results (rollout.eval-results/v1): the file `rollout eval` writes and `rollout gate` reads."""

from __future__ import annotations

import contextlib
import gc
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollout.documents import Document, load_schema, read_text, require_schema, schema_problems
from rollout.errors import InputError, Problem

RESULTS_SCHEMA = "rollout.eval-results/v1"


@dataclass(frozen=True, kw_only=True, slots=True)
class CaseResult:
    id: str
    scores: tuple[float, ...] = ()
    latency_ms: tuple[float, ...] = ()
    ttft_ms: tuple[float | None, ...] = ()
    output_tokens: tuple[int | None, ...] = ()
    errors: tuple[str, ...] = ()
    prompt: str | None = None
    outputs: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def mean(self) -> float | None:
        return sum(self.scores) / len(self.scores) if self.scores else None


@dataclass(frozen=True, kw_only=True)
class ServerIdentity:
    """What the server said it serves when the run began, beside `model` and `revision`, which are what the
    plan asked for: the ids /v1/models lists, the `root` (weights) vLLM lists for the model asked for, and the
    release /version reports (vLLM has it; other servers may not)."""

    models: tuple[str, ...] = ()
    root: str | None = None
    version: str | None = None


@dataclass(frozen=True, kw_only=True)
class ReusedFrom:
    """The run whose results a later round took over instead of asking again (rollout.evals.reuse)."""

    run_id: str
    at: str
    """When that run finished."""


@dataclass(frozen=True, kw_only=True)
class EvalResults:
    suite: str
    target: str
    model: str
    revision: str | None = None
    server: ServerIdentity | None = None
    serving_digest: str | None = None
    """The digest of the serving arguments the plan gave the target color (rollout.plan.serving_args_digest)."""
    suite_digest: str | None = None
    """The digest of the suite as it was run: its cases, prompts, graders and sampling settings."""
    rounds: int = 1
    """How many runs these results hold; above 1 when a sampled suite's repeats were accumulated."""
    reused_from: ReusedFrom | None = None
    """Set when these are an earlier run's results, reused because nothing they depend on changed."""
    run_id: str = ""
    started_at: str = ""
    finished_at: str = ""
    interrupted: bool = False
    cases: tuple[CaseResult, ...] = field(default_factory=tuple)

    def by_id(self) -> dict[str, CaseResult]:
        return {case.id: case for case in self.cases}


def results_to_dict(results: EvalResults) -> dict[str, Any]:
    data: dict[str, Any] = {
        "schema": RESULTS_SCHEMA,
        "suite": results.suite,
        "target": results.target,
        "model": results.model,
        "revision": results.revision,
        "serving_digest": results.serving_digest,
        "suite_digest": results.suite_digest,
        "rounds": results.rounds,
        "run_id": results.run_id,
        "started_at": results.started_at,
        "finished_at": results.finished_at,
    }
    if results.server is not None:
        data["server"] = {
            "models": list(results.server.models),
            "root": results.server.root,
            "version": results.server.version,
        }
    if results.reused_from is not None:
        data["reused_from"] = {"run_id": results.reused_from.run_id, "at": results.reused_from.at}
    if results.interrupted:
        data["interrupted"] = True
    data["cases"] = [_case_to_dict(case) for case in results.cases]
    return data


def _case_to_dict(case: CaseResult) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": case.id,
        "scores": list(case.scores),
        "latency_ms": list(case.latency_ms),
        "ttft_ms": list(case.ttft_ms),
        "output_tokens": list(case.output_tokens),
        "errors": list(case.errors),
    }
    if case.prompt is not None:
        data["prompt"] = case.prompt
    if case.outputs:
        data["outputs"] = list(case.outputs)
    if case.tags:
        data["tags"] = list(case.tags)
    return data


def results_to_json(results: EvalResults) -> str:
    return json.dumps(results_to_dict(results), indent=1, allow_nan=False, ensure_ascii=False) + "\n"


def results_from_dict(data: Mapping[str, Any], *, file: str = "<results>") -> EvalResults:
    reader = _CaseReader(file)
    raw = data.get("cases")
    cases = [reader.check(i, reader.hook(case)) for i, case in enumerate(raw)] if isinstance(raw, list) else None
    return _results(data, cases, reader)


def load_results(path: Path, *, display: str | None = None) -> EvalResults:
    """Each case becomes a CaseResult as soon as the parser has read it: a million cases never exist as
    dicts all at once."""
    file = display or str(path)
    text = read_text(path, display=file, max_bytes=MAX_BYTES)
    if not text.strip():
        raise InputError.at(file, "file is empty")
    reader = _CaseReader(file)
    try:
        with _gc_paused():
            data = json.loads(text, object_hook=reader.hook, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InputError.at(file, f"invalid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno) from None
    except RecursionError:
        raise InputError.at(file, "invalid JSON: nested too deeply") from None
    except ValueError as exc:
        raise InputError.at(file, f"invalid JSON: {exc}") from None
    del text  # before the checks allocate
    if not isinstance(data, dict):
        raise InputError.at(file, "eval results are a JSON object with 'schema', 'suite', 'cases', ...")
    raw = data.get("cases")
    with _gc_paused():
        cases = [reader.check(i, case) for i, case in enumerate(raw)] if isinstance(raw, list) else None
    return _results(data, cases, reader)


MAX_BYTES = 1_000_000_000
"""A million cases with prompts and answers fit; anything larger is not results."""
MAX_LISTED_PROBLEMS = 20
_INF = math.inf
_SHARED_LIMIT = 10_000


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def _results(data: Mapping[str, Any], cases: list[CaseResult] | None, reader: _CaseReader) -> EvalResults:
    schema = load_schema("eval-results.schema.json")
    header = {**data, "cases": []} if cases is not None else {k: _plain(v) for k, v in data.items()}
    require_schema(Document(file=reader.file, data=header), schema)
    if reader.problems:
        raise InputError(reader.problems[:MAX_LISTED_PROBLEMS])
    assert cases is not None
    return EvalResults(
        suite=data["suite"],
        target=data["target"],
        model=data["model"],
        revision=data.get("revision"),
        server=_server(data.get("server")),
        serving_digest=data.get("serving_digest"),
        suite_digest=data.get("suite_digest"),
        rounds=data.get("rounds", 1),
        reused_from=_reused_from(data.get("reused_from")),
        run_id=data.get("run_id", ""),
        started_at=data.get("started_at", ""),
        finished_at=data.get("finished_at", ""),
        interrupted=bool(data.get("interrupted", False)),
        cases=tuple(cases),
    )


def _reused_from(data: Mapping[str, Any] | None) -> ReusedFrom | None:
    return None if data is None else ReusedFrom(run_id=data["run_id"], at=data["at"])


def _server(data: Mapping[str, Any] | None) -> ServerIdentity | None:
    if data is None:
        return None
    return ServerIdentity(models=tuple(data.get("models", ())), root=data.get("root"), version=data.get("version"))


def _plain(value: Any) -> Any:
    return _case_to_dict(value) if isinstance(value, CaseResult) else value


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    # Building a million cases would otherwise run the cyclic collector over them thousands of times;
    # they hold no cycles.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _CaseReader:
    """Freezes each case the parser reads (`hook`), then checks the list of them (`check`).

    A direct structural check is fast; only a case that fails it pays for jsonschema's precise messages.
    Equal small tuples (scores of 0 and 1, token counts, tags) are shared: a million cases hold a few.
    """

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.seen: set[str] = set()
        self.shared: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self.case_schema: Mapping[str, Any] | None = None

    def hook(self, raw: dict[str, Any]) -> Any:
        """A JSON object that is a valid case, as a CaseResult; any other object as it is."""
        return _plain_case(raw, self.shared) or raw

    def check(self, index: int, case: Any) -> CaseResult:
        if type(case) is not CaseResult:
            self._explain(index, case)
            return _BAD
        if case.id in self.seen:
            self.problems.append(self._problem(index, "id", f"duplicate case id {case.id!r}"))
        self.seen.add(case.id)
        repeats = len(case.scores)
        for key, values in (
            ("latency_ms", case.latency_ms),
            ("ttft_ms", case.ttft_ms),
            ("output_tokens", case.output_tokens),
            ("outputs", case.outputs),
        ):
            if values and len(values) != repeats:
                self.problems.append(
                    self._problem(
                        index,
                        key,
                        f"case {case.id!r} has {len(values)} {key} for {repeats} scores: these lists hold "
                        "one value per scored repeat",
                    )
                )
        return case

    def _problem(self, index: int, field: str, message: str) -> Problem:
        return Problem(file=self.file, field=f"cases[{index}].{field}", message=message)

    def _explain(self, index: int, raw: Any) -> None:
        if len(self.problems) >= MAX_LISTED_PROBLEMS:
            self.problems.append(Problem(file=self.file, field=f"cases[{index}]", message="is not a valid case"))
            return
        if self.case_schema is None:
            self.case_schema = load_schema("eval-results.schema.json")["properties"]["cases"]["items"]
        found = schema_problems(Document(file=self.file, data=_plain(raw)), self.case_schema)
        if not found and isinstance(raw, dict):
            bad = next((k for k in ("scores", "latency_ms", "ttft_ms") if not _finite(raw.get(k, ()))), None)
            if bad is not None:
                found = [Problem(file=self.file, field=bad, message="values must be finite numbers")]
        for problem in found or [Problem(file=self.file, message="is not a valid case")]:
            where = f"cases[{index}]" + (
                "" if not problem.field else ("" if problem.field.startswith("[") else ".") + problem.field
            )
            self.problems.append(Problem(file=self.file, field=where, message=problem.message))


_BAD = CaseResult(id="")
"""Stands in for a case that failed its checks; the load raises before any caller sees it."""


def _finite(values: Any) -> bool:
    return not isinstance(values, list) or all(not isinstance(v, float) or math.isfinite(v) for v in values)


def _plain_case(raw: Any, shared: dict[tuple[Any, ...], tuple[Any, ...]]) -> CaseResult | None:
    """The case, if its values have the schema's types and ranges (finite numbers); else None."""
    get = raw.get
    case_id = get("id")
    scores = get("scores")
    if type(case_id) is not str or not case_id or type(scores) is not list:
        return None
    floats = True
    for value in scores:
        kind = type(value)
        if kind is not float:
            if kind is not int:
                return None
            floats = False
        if not 0 <= value <= 1:
            return None
    latency = get("latency_ms", _EMPTY)
    ttft = get("ttft_ms", _EMPTY)
    tokens = get("output_tokens", _EMPTY)
    errors = get("errors", _EMPTY)
    outputs = get("outputs", _EMPTY)
    tags = get("tags", _EMPTY)
    prompt = get("prompt")
    if not (
        _numbers(latency)
        and _numbers(ttft, optional=True)
        and _counts(tokens)
        and (errors is _EMPTY or _strings(errors))
        and (outputs is _EMPTY or _strings(outputs))
        and (tags is _EMPTY or _strings(tags))
        and (prompt is None or type(prompt) is str)
    ):
        return None
    scored = tuple(scores) if floats else tuple(float(s) for s in scores)
    counted = tuple(tokens)
    tagged = tuple(tags)
    return CaseResult(
        id=case_id,
        scores=shared.get(scored) or _share(scored, shared),
        latency_ms=tuple(latency),
        ttft_ms=tuple(ttft),
        output_tokens=shared.get(counted) or _share(counted, shared),
        errors=tuple(errors),
        prompt=prompt,
        outputs=tuple(outputs),
        tags=shared.get(tagged) or _share(tagged, shared),
    )


_EMPTY: tuple[()] = ()


def _share(values: tuple[Any, ...], shared: dict[tuple[Any, ...], tuple[Any, ...]]) -> tuple[Any, ...]:
    if len(shared) < _SHARED_LIMIT:
        shared[values] = values
    return values


def _numbers(values: Any, *, optional: bool = False) -> bool:
    if type(values) is not list:
        return values is _EMPTY
    for value in values:
        kind = type(value)
        if kind is float or kind is int:
            if not 0 <= value < _INF:
                return False
        elif value is not None or not optional:
            return False
    return True


def _counts(values: Any) -> bool:
    if type(values) is not list:
        return values is _EMPTY
    return all((type(v) is int and v >= 0) or v is None for v in values)


def _strings(values: Any) -> bool:
    if type(values) is not list:
        return False
    return all(type(v) is str for v in values)
