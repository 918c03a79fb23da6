"""llm_judge: ask a judge model on any OpenAI-compatible endpoint to score an answer against a rubric."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping

import httpx

from rollout.evals.graders import Expectation, GraderError
from rollout.evals.stream import BadResponse, parse_completion
from rollout.evals.suite import JUDGE_MODEL_ENV, JUDGE_URL_ENV
from rollout.evals.target import base_url
from rollout.retry import RETRY_STATUSES, RequestFailed, Retryable, RetryPolicy, retry_after_of, with_retries

INSTRUCTIONS = (
    "You grade an assistant's answer against a rubric. Think about whether the answer meets the rubric, "
    "then end your reply with one line 'SCORE: N', where N is a whole number from 0 (does not meet it at all) "
    "to 10 (meets it fully)."
)
_SCORE = re.compile(r"score\s*[:=]\s*(\d+(?:\.\d+)?)", re.IGNORECASE)


def judge_messages(rubric: str, question: str, answer: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": INSTRUCTIONS},
        {"role": "user", "content": f"Rubric:\n{rubric}\n\nQuestion:\n{question}\n\nAnswer:\n{answer}"},
    ]


def parse_verdict(reply: str, threshold: float | None = None) -> float:
    """The judge's 'SCORE: N' as a score in [0, 1]; with a threshold, 1 at or above it and 0 below."""
    found = _SCORE.findall(reply)
    if not found:
        raise GraderError(f"the judge gave no 'SCORE: N' line: {reply[:120]!r}")
    score = min(max(float(found[-1]) / 10, 0.0), 1.0)
    return score if threshold is None else float(score >= threshold)


async def judge(
    client: httpx.AsyncClient,
    exp: Expectation,
    *,
    question: str,
    answer: str,
    env: Mapping[str, str],
    policy: RetryPolicy,
    rng: random.Random,
) -> float:
    url = base_url(str(exp.options.get("url") or env.get(JUDGE_URL_ENV, "")))
    body = json.dumps(
        {
            "model": exp.options.get("model") or env[JUDGE_MODEL_ENV],
            "messages": judge_messages(exp.value, question, answer),
            "temperature": 0,
            "max_tokens": 256,
        }
    )

    async def ask() -> str:
        try:
            response = await client.post(
                f"{url}/v1/chat/completions", content=body, headers={"content-type": "application/json"}
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise Retryable(f"judge {url}: {exc}") from None
        except httpx.HTTPError as exc:
            raise RequestFailed(f"judge {url}: {type(exc).__name__}: {exc}") from None
        if response.status_code in RETRY_STATUSES:
            raise Retryable(f"judge {url}: HTTP {response.status_code}", retry_after=retry_after_of(response.headers))
        if response.status_code != 200:
            raise RequestFailed(f"judge {url}: HTTP {response.status_code}: {response.text[:200]}")
        try:
            return parse_completion(response.content)[0]
        except BadResponse as exc:
            raise RequestFailed(f"judge {url}: {exc}") from None

    try:
        reply = await with_retries(ask, policy, rng)
    except RequestFailed as exc:
        raise GraderError(f"llm_judge: {exc}") from None
    return parse_verdict(reply, exp.options.get("threshold"))
