from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rollout.serving.metrics import (
    E2E,
    ITL,
    TTFT,
    Histogram,
    ServerMetrics,
    parse_metrics,
    quantile,
    summarize,
    tokens_per_second,
)
from tests.unit.serving.conftest import FIXTURES

RECORDED = (FIXTURES / "vllm-metrics.txt").read_text()
MULTIPROCESS = (FIXTURES / "vllm-metrics-multiprocess.txt").read_text()
INF = math.inf


def test_the_fixtures_are_what_vllms_prometheus_client_prints(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(FIXTURES / "vllm_metrics.py"), str(tmp_path)], check=True, timeout=60)
    assert (tmp_path / "vllm-metrics.txt").read_text() == RECORDED
    assert (tmp_path / "vllm-metrics-multiprocess.txt").read_text() == MULTIPROCESS


def test_one_api_server_prints_created_series_and_every_finished_reason() -> None:
    assert 'vllm:generation_tokens_created{engine="0",model_name="llama-3.1-8b"}' in RECORDED
    assert "vllm:e2e_request_latency_seconds_created" in RECORDED
    assert "_created" not in MULTIPROCESS
    for text in (RECORDED, MULTIPROCESS):
        reasons = re.findall(r'vllm:request_success_total\{[^}]*finished_reason="(\w+)"', text)
        assert reasons == ["stop", "length", "abort", "error", "repetition"]


@pytest.mark.parametrize("text", [RECORDED, MULTIPROCESS], ids=["one-api-server", "multiprocess"])
def test_recorded_vllm_metrics_give_interpolated_percentiles(text: str) -> None:
    summary = summarize(parse_metrics(text))
    # TTFT: 90 of 200 requests at <= 60 ms, 130 at <= 80 ms; the 100th sits a quarter into that bucket
    assert summary.ttft.p50 == pytest.approx(0.065)
    assert summary.ttft.p95 == pytest.approx(0.25)
    # e2e: 184 requests at <= 2.0 s, 192 at <= 2.5 s; the 190th is 6/8 of the way
    assert summary.e2e.p50 == pytest.approx(1.0)
    assert summary.e2e.p95 == pytest.approx(2.375)
    assert summary.itl.p50 == pytest.approx(0.0175)
    assert summary.itl.p95 == pytest.approx(0.05)
    assert (summary.ttft.count, summary.itl.count) == (200, 12000)
    assert summary.generation_tokens == 12200


def test_other_models_series_are_left_out() -> None:
    assert summarize(parse_metrics(RECORDED, model="llama-3.1-8b")).e2e.count == 200
    other = parse_metrics(RECORDED, model="someone-else")
    assert other.generation_tokens == 0
    assert summarize(other).e2e.p95 is None


def test_series_of_several_engines_are_summed() -> None:
    text = (
        "\n".join(
            [
                "# TYPE vllm:e2e_request_latency_seconds histogram",
                *(
                    f'vllm:e2e_request_latency_seconds_bucket{{engine="{e}",le="{le}",model_name="m"}} {n}'
                    for e in ("0", "1")
                    for le, n in (("1.0", 1), ("2.0", 2), ("+Inf", 2))
                ),
                *(f'vllm:e2e_request_latency_seconds_count{{engine="{e}",model_name="m"}} 2' for e in ("0", "1")),
                "# TYPE vllm:generation_tokens_total counter",
                'vllm:generation_tokens_total{engine="0",model_name="m"} 5',
                'vllm:generation_tokens_total{engine="1",model_name="m"} 7',
            ]
        )
        + "\n"
    )
    metrics = parse_metrics(text)
    assert metrics.histograms[E2E].buckets == ((1.0, 2.0), (2.0, 4.0), (INF, 4.0))
    assert metrics.histograms[E2E].count == 4
    assert metrics.generation_tokens == 12


def test_quantile_in_the_first_bucket_interpolates_from_zero() -> None:
    assert quantile(Histogram(buckets=((0.1, 10.0), (INF, 10.0)), count=10, sum=0.5), 0.5) == pytest.approx(0.05)


def test_quantile_in_the_inf_bucket_is_the_highest_finite_bound() -> None:
    assert quantile(Histogram(buckets=((1.0, 1.0), (5.0, 2.0), (INF, 10.0)), count=10, sum=99), 0.95) == 5.0


def test_quantile_of_an_empty_histogram_is_unknown() -> None:
    assert quantile(Histogram(buckets=((1.0, 0.0), (INF, 0.0)), count=0, sum=0), 0.5) is None
    assert quantile(Histogram(buckets=(), count=0, sum=0), 0.5) is None


@pytest.mark.parametrize("q", [0.0, 1.0, -0.1, 1.5])
def test_quantile_outside_the_open_unit_interval_is_refused(q: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        quantile(Histogram(buckets=((1.0, 1.0), (INF, 1.0)), count=1, sum=1), q)


def test_a_window_between_two_scrapes_sees_only_the_requests_in_it() -> None:
    before = ServerMetrics(
        histograms={TTFT: Histogram(buckets=((0.1, 100.0), (1.0, 100.0), (INF, 100.0)), count=100, sum=5)},
        generation_tokens=1000,
    )
    after = ServerMetrics(
        histograms={TTFT: Histogram(buckets=((0.1, 100.0), (1.0, 110.0), (INF, 110.0)), count=110, sum=12)},
        generation_tokens=1600,
    )
    window = after.minus(before)
    # every request in the window was slow: the cumulative p50 (fast) must not hide that
    assert summarize(window).ttft.p50 == pytest.approx(0.55)
    assert summarize(after).ttft.p50 == pytest.approx(0.055)
    assert window.generation_tokens == 600
    assert tokens_per_second(before, after, 30.0) == pytest.approx(20.0)


def test_throughput_needs_a_positive_window() -> None:
    same = ServerMetrics(generation_tokens=5)
    assert tokens_per_second(same, same, 0) is None


def test_text_that_is_not_prometheus_is_refused() -> None:
    with pytest.raises(ValueError, match="Prometheus text format"):
        parse_metrics('vllm:e2e_request_latency_seconds_bucket{le="1.0" 3\n')


def test_itl_and_e2e_names_are_vllms() -> None:
    assert {E2E, TTFT, ITL} <= set(parse_metrics(RECORDED).histograms)


def test_requests_and_engine_errors_come_from_the_finished_reasons() -> None:
    summed = parse_metrics((FIXTURES / "vllm-metrics.txt").read_text(), model="llama-3.1-8b")
    assert (summed.requests, summed.errors) == (200, 0)
    text = (
        "# TYPE vllm:request_success_total counter\n"
        'vllm:request_success_total{engine="0",finished_reason="stop",model_name="m"} 90.0\n'
        'vllm:request_success_total{engine="0",finished_reason="abort",model_name="m"} 4.0\n'
        'vllm:request_success_total{engine="0",finished_reason="error",model_name="m"} 6.0\n'
    )
    later = parse_metrics(text, model="m")
    assert (later.requests, later.errors) == (100, 6)
    window = later.minus(summed)
    assert not later.restarted_since(parse_metrics(text.replace("90.0", "10.0"), model="m"))
    assert later.restarted_since(parse_metrics(text.replace("90.0", "900.0"), model="m"))
    assert window.errors == 6
