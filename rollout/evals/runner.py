"""Run a suite against a target: streamed chat completions, graded as they finish.

Design for throughput on few cores: one worker coroutine per unit of concurrency, each owning an
httpx transport with a single keep-alive connection (rollout/evals/transport.py). A shared pool
makes every request scan and lock the pool (throughput fell as concurrency rose); private
connections never wait on each other. All of them share one TLS context, which is costly to build.
Each case's request body is encoded once and reused for every repeat; stream chunks are split on
bytes and decoded once per event.

A failed request is an error on that repeat, never a score; Ctrl-C keeps what finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import random
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from rollout.errors import RolloutError
from rollout.evals.graders import JUDGE, GraderError, combine, grade
from rollout.evals.judge import judge
from rollout.evals.results import CaseResult, EvalResults, ServerIdentity, load_results
from rollout.evals.reuse import PlannedRun, ReuseChoice, accumulate, decide_reuse, evidence_path, reused
from rollout.evals.stream import BadResponse, ChatStream, parse_completion
from rollout.evals.suite import Case, Suite, suite_digest
from rollout.evals.target import Target, identify_server
from rollout.evals.transport import KeepAliveTransport
from rollout.retry import RETRY_STATUSES, RequestFailed, Retryable, RetryPolicy, retry_after_of, with_retries

Progress = Callable[[int], None]
COMPLETIONS = "/v1/chat/completions"


@dataclass(frozen=True, kw_only=True)
class Settings:
    concurrency: int = 16
    timeout: float = 120.0
    """Seconds one answer may take, whole (and the longest wait for its next bytes)."""
    max_answer_bytes: int = 10_000_000
    """A body past this is an error on its repeat: max_tokens bounds a real answer far below it."""
    connect_timeout: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    seed: int | None = None


@dataclass(frozen=True, kw_only=True)
class Reply:
    text: str
    latency_ms: float
    ttft_ms: float | None
    output_tokens: int | None


@dataclass(frozen=True, kw_only=True)
class Graded:
    reply: Reply
    score: float


RepeatResult = Graded | str
"""One repeat of a case: its graded reply, or the error that ended it."""


def request_body(case: Case, model: str) -> bytes:
    return json.dumps(
        {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in case.messages],
            "max_tokens": case.max_tokens,
            "temperature": case.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        ensure_ascii=False,
    ).encode()


def jobs(cases: Sequence[Case]) -> Iterator[tuple[int, int]]:
    """(case, repeat) pairs, every case's first repeat before any second, so a stopped run covers the most cases."""
    for repeat in range(max((c.repeats for c in cases), default=0)):
        for index, case in enumerate(cases):
            if repeat < case.repeats:
                yield index, repeat


class Collector:
    """Repeat results as they arrive, kept by case and repeat so the results' order never depends on timing."""

    def __init__(
        self, suite: Suite, target: Target, *, server: ServerIdentity | None = None, suite_digest: str | None = None
    ) -> None:
        self.suite = suite
        self.target = target
        self.server = server
        self.suite_digest = suite_digest
        self.outcomes: list[list[RepeatResult | None]] = [[None] * case.repeats for case in suite.cases]
        self.started = datetime.now(timezone.utc)
        self.run_id = f"{self.started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"

    def record(self, case: int, repeat: int, outcome: RepeatResult) -> None:
        self.outcomes[case][repeat] = outcome

    def results(self, *, interrupted: bool = False) -> EvalResults:
        cases = tuple(
            case_result(case, slots)
            for case, slots in zip(self.suite.cases, self.outcomes, strict=True)
            if not interrupted or any(slot is not None for slot in slots)
        )
        return EvalResults(
            suite=self.suite.name,
            target=self.target.label,
            model=self.target.model,
            revision=self.target.revision,
            server=self.server,
            serving_digest=self.target.serving_digest,
            suite_digest=self.suite_digest,
            run_id=self.run_id,
            started_at=iso(self.started),
            finished_at=iso(datetime.now(timezone.utc)),
            interrupted=interrupted,
            cases=cases,
        )


def case_result(case: Case, slots: Sequence[RepeatResult | None]) -> CaseResult:
    graded = [slot for slot in slots if isinstance(slot, Graded)]
    errors = [f"repeat {i + 1}: {slot}" for i, slot in enumerate(slots) if isinstance(slot, str)]
    return CaseResult(
        id=case.id,
        scores=tuple(round(g.score, 6) for g in graded),
        latency_ms=tuple(round(g.reply.latency_ms, 2) for g in graded),
        ttft_ms=tuple(None if g.reply.ttft_ms is None else round(g.reply.ttft_ms, 2) for g in graded),
        output_tokens=tuple(g.reply.output_tokens for g in graded),
        errors=tuple(errors),
        prompt=case.prompt,
        outputs=tuple(g.reply.text for g in graded),
        tags=case.tags,
    )


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def run_suite(
    suite: Suite, target: Target, settings: Settings, *, env: Mapping[str, str], progress: Progress | None = None
) -> EvalResults:
    """Run the suite; on Ctrl-C return what finished, marked interrupted. The results record what the server
    says it serves beside what was asked for."""
    # direct, as the run's own transports connect: never through a proxy from the environment
    with httpx.Client(trust_env=False) as client:
        server = identify_server(target, client=client)
    collector = Collector(suite, target, server=server, suite_digest=suite_digest(suite, env=env))
    try:
        asyncio.run(run(suite, target, settings, collector=collector, env=env, progress=progress))
    except KeyboardInterrupt:
        return collector.results(interrupted=True)
    return collector.results()


def run_or_reuse(
    suite: Suite,
    target: Target,
    settings: Settings,
    *,
    env: Mapping[str, str],
    reuse: Path | None,
    progress: Progress | None = None,
) -> tuple[EvalResults, ReuseChoice | None]:
    """With `reuse` (a folder of recorded results, as `evidence_path` lays them out): reuse the recorded
    results without sending a request, add this round's repeats to them, or run afresh, as `decide_reuse`
    says. Without it, run. The choice says which, and why."""
    if reuse is None:
        return run_suite(suite, target, settings, env=env, progress=progress), None
    choice = reuse_choice(suite, target, env=env, reuse=reuse)
    if choice.action == "reuse":
        return settle(choice, None), choice
    return settle(choice, run_suite(suite, target, settings, env=env, progress=progress)), choice


def reuse_choice(suite: Suite, target: Target, *, env: Mapping[str, str], reuse: Path) -> ReuseChoice:
    """What to do with the recorded results of this suite on this target (`reuse` holds them, if any)."""
    recorded, unreadable = load_recorded(reuse, target.label, suite.name)
    choice = decide_reuse(recorded, planned_run(suite, target, env=env))
    return replace(choice, reason=unreadable) if unreadable else choice


def settle(choice: ReuseChoice, fresh: EvalResults | None) -> EvalResults:
    """This round's results: the recorded ones reused, this run's added to them, or this run's alone."""
    if choice.action == "reuse" and choice.recorded is not None:
        return reused(choice.recorded)
    assert fresh is not None, f"a {choice.action} choice runs the suite"
    if choice.action == "accumulate" and choice.recorded is not None and not fresh.interrupted:
        return accumulate(choice.recorded, fresh)
    return fresh


def planned_run(suite: Suite, target: Target, *, env: Mapping[str, str]) -> PlannedRun:
    return PlannedRun(
        suite=suite.name,
        target=target.label,
        model=target.model,
        revision=target.revision,
        serving_digest=target.serving_digest,
        suite_digest=suite_digest(suite, env=env),
        case_ids=tuple(case.id for case in suite.cases),
        sampled=any(case.temperature > 0 for case in suite.cases),
        max_rounds=suite.max_rounds,
    )


def load_recorded(folder: Path, target: str, suite: str) -> tuple[EvalResults | None, str | None]:
    """The recorded results of a suite on a target, if there are any; unreadable ones are run again, not an
    error (they are a cache of evidence, not evidence this round stands on), and the second value says why."""
    path = folder / evidence_path(target, suite)
    if not path.is_file():
        return None, None
    try:
        return load_results(path), None
    except RolloutError as exc:
        return None, f"the recorded results {path} cannot be read ({exc.message.splitlines()[0]})"


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """Everything about a request that does not change between requests, built once."""

    url: httpx.URL
    headers: Mapping[str, str]
    extensions: Mapping[str, Any]
    timeout: float
    max_bytes: int


def endpoint(target: Target, settings: Settings) -> Endpoint:
    timeouts = {
        "connect": settings.connect_timeout,
        "read": settings.timeout,
        "write": settings.timeout,
        "pool": settings.timeout,
    }
    headers = {
        "content-type": "application/json",
        "accept": "text/event-stream",
        "accept-encoding": "identity",
        **target.headers,
    }
    return Endpoint(
        url=httpx.URL(target.url + COMPLETIONS),
        headers=headers,
        extensions={"timeout": timeouts},
        timeout=settings.timeout,
        max_bytes=settings.max_answer_bytes,
    )


async def run(
    suite: Suite,
    target: Target,
    settings: Settings,
    *,
    collector: Collector,
    env: Mapping[str, str],
    progress: Progress | None = None,
) -> None:
    bodies = [request_body(case, target.model) for case in suite.cases]
    where = endpoint(target, settings)
    pending = jobs(suite.cases)
    rng = random.Random(settings.seed)
    tls = httpx.create_ssl_context()
    needs_judge = any(exp.kind == JUDGE for case in suite.cases for exp in case.expect)
    workers = max(1, min(settings.concurrency, sum(case.repeats for case in suite.cases)))
    async with contextlib.AsyncExitStack() as stack:
        judge_client = (
            await stack.enter_async_context(
                httpx.AsyncClient(verify=tls, timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout))
            )
            if needs_judge
            else None
        )
        transports = [
            await stack.enter_async_context(
                KeepAliveTransport(
                    ssl_context=tls, connect_timeout=settings.connect_timeout, read_timeout=settings.timeout
                )
            )
            for _ in range(workers)
        ]

        async def work(transport: KeepAliveTransport) -> None:
            for index, repeat in pending:
                case = suite.cases[index]
                try:
                    reply = await with_retries(
                        functools.partial(ask, transport, where, bodies[index]), settings.retry, rng
                    )
                    outcome: RepeatResult = Graded(reply=reply, score=await score(case, reply.text))
                except RequestFailed as exc:
                    outcome = str(exc)
                except GraderError as exc:
                    outcome = f"grading failed: {exc}"
                collector.record(index, repeat, outcome)
                if progress is not None:
                    progress(1)

        async def score(case: Case, text: str) -> float:
            scores = []
            for exp in case.expect:
                if exp.kind == JUDGE:
                    assert judge_client is not None
                    value = await judge(
                        judge_client, exp, question=case.prompt, answer=text, env=env, policy=settings.retry, rng=rng
                    )
                else:
                    value = grade(text, exp)
                scores.append((value, exp.weight))
            return combine(scores)

        await asyncio.gather(*(work(transport) for transport in transports))


async def ask(transport: httpx.AsyncBaseTransport, where: Endpoint, body: bytes) -> Reply:
    """One chat completion, streamed or not: Retryable for failures worth retrying, RequestFailed for the rest.

    The transport is used directly: the client layer (auth, redirects, cookies, event hooks) has nothing
    to do here and costs a quarter of the CPU. No wait for data may exceed the timeout (the transport's
    read timeout), nor may the whole answer (one timer, not a task, per request), nor its size.
    """
    try:
        if sys.version_info >= (3, 11):
            async with asyncio.timeout(where.timeout):
                return await _answer(transport, where, body)
        return await asyncio.wait_for(_answer(transport, where, body), where.timeout)
    except (asyncio.TimeoutError, TimeoutError):
        raise RequestFailed(f"no complete answer within {where.timeout:g}s") from None


async def _answer(transport: httpx.AsyncBaseTransport, where: Endpoint, body: bytes) -> Reply:
    started = time.perf_counter()
    first: float | None = None
    parser = ChatStream()
    received = 0
    request = httpx.Request("POST", where.url, content=body, headers=where.headers, extensions=dict(where.extensions))
    try:
        response = await transport.handle_async_request(request)
        try:
            if response.status_code != 200:
                detail = (await _body(response, ERROR_BYTES, cut=True))[:200].decode(errors="replace").strip()
                message = f"HTTP {response.status_code}" + (f": {detail}" if detail else "")
                if response.status_code in RETRY_STATUSES:
                    raise Retryable(message, retry_after=retry_after_of(response.headers))
                raise RequestFailed(message)
            if "text/event-stream" not in response.headers.get("content-type", ""):
                text, tokens = parse_completion(await _body(response, where.max_bytes))
                return Reply(
                    text=text, latency_ms=(time.perf_counter() - started) * 1000, ttft_ms=None, output_tokens=tokens
                )
            async for chunk in response.stream:  # type: ignore[union-attr]
                received += len(chunk)
                if received > where.max_bytes:
                    raise RequestFailed(_too_large(where.max_bytes))
                if parser.feed(chunk) and first is None:
                    first = time.perf_counter()
        finally:
            await response.aclose()
        text, tokens = parser.finish()
    except BadResponse as exc:
        raise RequestFailed(str(exc)) from None
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise Retryable(f"cannot connect: {exc or type(exc).__name__}") from None
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        reason = f"connection lost: {exc or type(exc).__name__}"
        if received:
            raise RequestFailed(f"{reason} (mid-stream)") from None
        raise Retryable(reason) from None
    except httpx.TimeoutException as exc:
        waited = "for the answer to continue" if received else "for an answer"
        raise RequestFailed(f"no data for {where.timeout:g}s waiting {waited} ({type(exc).__name__})") from None
    except httpx.HTTPError as exc:
        raise RequestFailed(f"{type(exc).__name__}: {exc}") from None
    now = time.perf_counter()
    return Reply(
        text=text,
        latency_ms=(now - started) * 1000,
        ttft_ms=None if first is None else (first - started) * 1000,
        output_tokens=tokens,
    )


ERROR_BYTES = 4096
"""Of an error response's body, the part read for its message."""


async def _body(response: httpx.Response, limit: int, *, cut: bool = False) -> bytes:
    """The response body up to `limit` bytes: cut there, or (an answer) RequestFailed past it."""
    parts: list[bytes] = []
    size = 0
    async for chunk in response.stream:  # type: ignore[union-attr]
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            if cut:
                break
            raise RequestFailed(_too_large(limit))
    return b"".join(parts)[:limit]


def _too_large(limit: int) -> str:
    return f"the answer is over {limit:,} bytes; max_tokens bounds a real one far below that"
