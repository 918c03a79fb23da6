"""The runner against a misbehaving server on loopback: every failure is an error on its case, never a crash."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from rollout.evals.results import CaseResult
from rollout.evals.runner import Settings, run_suite
from rollout.evals.suite import load_suite
from rollout.evals.target import Target
from rollout.retry import RetryPolicy
from tests.support.openai_stub import Stub, openai_stub

SCENARIOS = [
    "ok",
    "flaky",
    "after",
    "storm",
    "bad",
    "malformed",
    "empty",
    "nonjson",
    "plain",
    "hang",
    "drip",
    "reset",
    "midreset",
]


@pytest.fixture(scope="module")
def stub() -> Iterator[Stub]:
    with openai_stub() as server:
        yield server


def prompt(case_id: str, tmp_path: Path) -> str:
    """The stub reads the scenario before the colon; the rest keeps each test's attempt counts apart."""
    return f"{case_id.partition('-')[0]}:{case_id}-{tmp_path.name}"


def run_scenarios(
    tmp_path: Path,
    stub: Stub,
    scenarios: list[str],
    *,
    concurrency: int = 4,
    repeats: int = 1,
    max_answer_bytes: int = 10_000_000,
) -> dict[str, CaseResult]:
    lines = ["cases:"]
    for name in scenarios:
        lines += [f"  - id: {name}", f"    prompt: '{prompt(name, tmp_path)}'", "    expect: [{contains: Paris}]"]
    (tmp_path / "suite.yaml").write_text("\n".join(lines) + "\n")
    suite = load_suite(tmp_path / "suite.yaml", env={}).with_repeats(repeats)
    settings = Settings(
        concurrency=concurrency,
        timeout=2.0,
        connect_timeout=2.0,
        retry=RetryPolicy(retries=3, backoff=0.01, max_backoff=0.05),
        seed=1,
        max_answer_bytes=max_answer_bytes,
    )
    results = run_suite(suite, Target(label=stub.url, url=stub.url, model="stub-model"), settings, env={})
    assert [c.id for c in results.cases] == scenarios
    return results.by_id()


def test_each_failure_is_kept_on_its_case(tmp_path: Path, stub: Stub) -> None:
    cases = run_scenarios(tmp_path, stub, SCENARIOS)
    for name in ("ok", "flaky", "after", "reset", "plain"):
        assert cases[name].scores == (1.0,), (name, cases[name].errors)
        assert cases[name].errors == ()
        assert cases[name].output_tokens == (7,)
        assert cases[name].outputs == ("The capital of France is Paris.",)
    expected = {
        "storm": "HTTP 429: rate limited (gave up after 4 attempts)",
        "bad": "HTTP 400",
        "malformed": "malformed stream chunk",
        "empty": "no choices",
        "nonjson": "not JSON",
        "hang": "no complete answer within 2s",
        "drip": "no complete answer within 2s",
        "midreset": "mid-stream",
    }
    for name, fragment in expected.items():
        case = cases[name]
        assert case.scores == () and case.latency_ms == (), name
        assert len(case.errors) == 1 and case.errors[0].startswith("repeat 1: ") and fragment in case.errors[0], (
            name,
            case.errors,
        )


def test_every_answer_streamed_or_not_is_bounded_in_time_and_size(tmp_path: Path, stub: Stub) -> None:
    cases = run_scenarios(
        tmp_path, stub, ["plaindrip", "huge", "hugestream", "hugeerror", "ok", "plain"], max_answer_bytes=1_000_000
    )
    expected = {
        "plaindrip": "no complete answer within 2s",
        "huge": "the answer is over 1,000,000 bytes",
        "hugestream": "the answer is over 1,000,000 bytes",
        "hugeerror": "HTTP 400: too long: xxx",
    }
    for name, fragment in expected.items():
        assert cases[name].scores == (), name
        assert len(cases[name].errors) == 1 and fragment in cases[name].errors[0], (name, cases[name].errors)
    assert len(cases["hugeerror"].errors[0]) < 300
    assert cases["ok"].scores == cases["plain"].scores == (1.0,), "a bounded read still reads whole answers"


def test_streams_measure_time_to_first_token(tmp_path: Path, stub: Stub) -> None:
    cases = run_scenarios(tmp_path, stub, ["ok", "plain"])
    ok = cases["ok"]
    assert ok.ttft_ms[0] is not None and 0 < ok.ttft_ms[0] <= ok.latency_ms[0]
    assert cases["plain"].ttft_ms == (None,)


def test_retries_are_counted_per_attempt(tmp_path: Path, stub: Stub) -> None:
    run_scenarios(tmp_path, stub, ["flaky", "storm", "bad"])
    attempts = stub.state.attempts
    assert attempts[prompt("flaky", tmp_path)] == 3
    assert attempts[prompt("storm", tmp_path)] == 4
    assert attempts[prompt("bad", tmp_path)] == 1


def test_retry_after_is_honoured(tmp_path: Path, stub: Stub) -> None:
    run_scenarios(tmp_path, stub, ["after"])
    times = [t for text, t in stub.state.seen if text == prompt("after", tmp_path)]
    assert len(times) == 2
    assert times[1] - times[0] >= 0.95


def test_a_429_storm_ends_as_errors_on_every_case(tmp_path: Path, stub: Stub) -> None:
    cases = run_scenarios(tmp_path, stub, [f"storm-{i}" for i in range(6)], concurrency=6, repeats=2)
    for case in cases.values():
        assert case.scores == ()
        assert [e.split(":")[0] for e in case.errors] == ["repeat 1", "repeat 2"]


def test_repeats_each_get_a_score(tmp_path: Path, stub: Stub) -> None:
    cases = run_scenarios(tmp_path, stub, ["ok"], repeats=3)
    assert cases["ok"].scores == (1.0, 1.0, 1.0)
    assert len(cases["ok"].latency_ms) == 3


def test_an_unreachable_server_is_an_error_per_case(tmp_path: Path) -> None:
    (tmp_path / "suite.yaml").write_text("cases: [{id: a, prompt: x, expect: [{contains: x}]}]\n")
    suite = load_suite(tmp_path / "suite.yaml", env={})
    settings = Settings(timeout=2.0, retry=RetryPolicy(retries=1, backoff=0.01))
    results = run_suite(suite, Target(label="down", url="http://127.0.0.1:9", model="m"), settings, env={})
    assert results.cases[0].scores == ()
    assert "cannot connect" in results.cases[0].errors[0]


def test_llm_judge_and_custom_graders_score_through_the_runner(tmp_path: Path, stub: Stub) -> None:
    (tmp_path / "suite.yaml").write_text(f"""\
cases:
  - id: judged
    prompt: "ok:judged-{tmp_path.name}"
    expect:
      - llm_judge: Names the capital of France correctly.
        model: judge-in-the-item
      - contains: Paris
        weight: 3
  - id: judged-by-env
    prompt: "ok:env-{tmp_path.name}"
    expect: [{{llm_judge: Names the capital of France., threshold: 0.7}}]
  - id: custom
    prompt: "ok:custom-{tmp_path.name}"
    expect: [{{python: "tests.unit.evals.custom_graders:ends_with_period"}}]
  - id: custom-broken
    prompt: "ok:broken-{tmp_path.name}"
    expect: [{{python: "tests.unit.evals.custom_graders:raises"}}]
""")
    env = {"ROLLOUT_JUDGE_URL": stub.url + "/v1", "ROLLOUT_JUDGE_MODEL": "judge-from-env"}
    suite = load_suite(tmp_path / "suite.yaml", env=env)
    results = run_suite(suite, Target(label="stub", url=stub.url, model="m"), Settings(concurrency=2), env=env).by_id()
    assert results["judged"].scores[0] == pytest.approx((0.8 + 3 * 1.0) / 4)
    assert results["judged-by-env"].scores == (1.0,)
    assert sorted(stub.state.judge_models) == ["judge-from-env", "judge-in-the-item"]
    assert results["custom"].scores == (1.0,)
    assert results["custom-broken"].scores == ()
    assert (
        "grading failed: python grader tests.unit.evals.custom_graders:raises: RuntimeError: boom"
        in results["custom-broken"].errors[0]
    )


def test_connections_are_kept_alive_per_worker(tmp_path: Path) -> None:
    with openai_stub() as fresh:
        cases = run_scenarios(tmp_path, fresh, [f"ok-{i}" for i in range(12)], concurrency=2, repeats=2)
        assert all(case.scores == (1.0, 1.0) for case in cases.values())
        assert len(fresh.state.peers) == 2


def test_a_server_closing_each_connection_is_fine(tmp_path: Path) -> None:
    with openai_stub() as fresh:
        cases = run_scenarios(tmp_path, fresh, [f"close-{i}" for i in range(6)], concurrency=2)
        assert all(case.scores == (1.0,) and not case.errors for case in cases.values())
        assert len(fresh.state.peers) == 6


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_https_targets_are_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    with openai_stub(tls=(cert, key)) as secure:
        untrusted = run_scenarios(tmp_path, secure, ["ok"])["ok"]
        assert untrusted.scores == () and "CERTIFICATE_VERIFY_FAILED" in untrusted.errors[0]
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        trusted = run_scenarios(tmp_path, secure, ["ok", "ok-2"])
        assert [case.scores for case in trusted.values()] == [(1.0,), (1.0,)]
