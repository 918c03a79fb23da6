from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone

import pytest

from rollout.gates.live import ColorTraffic, LiveTraffic, Reading, histogram_of, live_gates, quantile_sequence
from rollout.plan import LiveErrors, LiveGate, LiveLatency, LiveSource
from rollout.serving.metrics import Histogram

END = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
NGINX = LiveSource(kind="nginx")


def gate(**overrides: object) -> LiveGate:
    settings: dict[str, object] = {
        "sources": (NGINX,),
        "min_requests": 100,
        "errors": LiveErrors(margin=0.02, ceiling=0.02),
    }
    settings.update(overrides)
    return LiveGate(**settings)  # type: ignore[arg-type]


def traffic(blue: ColorTraffic, green: ColorTraffic, *more: Reading) -> LiveTraffic:
    first = Reading(source="nginx access.log", traffic={"blue": blue, "green": green})
    return LiveTraffic(start=END - timedelta(hours=1), end=END, readings=(first, *more))


def outcomes(live: LiveTraffic, config: LiveGate) -> dict[str, str]:
    return {g.gate: g.outcome for g in live_gates(live, config)}


def test_five_percent_errors_against_none_fail_at_the_ceiling_on_a_quarter_of_the_traffic() -> None:
    config = gate(errors=LiveErrors(margin=0.02, ceiling=0.01))
    result = live_gates(traffic(ColorTraffic(requests=600, errors=0), ColorTraffic(requests=200, errors=10)), config)
    (errors,) = result
    assert errors.outcome == "fail"
    checks = {c["check"]: c["outcome"] for c in errors.details["checks"]}
    # the ceiling decides before the comparison with blue can: that is what it is for
    assert checks == {"error ceiling": "fail", "error rate vs blue": "inconclusive"}
    assert errors.details["measures"]["errors"] == {"blue": 0, "green": 10}
    assert errors.details["window"]["seconds"] == 3600


def test_equal_error_rates_pass_once_there_are_enough_requests() -> None:
    config = gate(errors=LiveErrors(margin=0.02, ceiling=0.10))
    few = traffic(ColorTraffic(requests=1200, errors=60), ColorTraffic(requests=400, errors=20))
    many = traffic(ColorTraffic(requests=6000, errors=300), ColorTraffic(requests=2000, errors=100))
    assert outcomes(few, config) == {"live-errors": "inconclusive"}
    assert "green requests at these rates would decide" in live_gates(few, config)[0].reason
    assert outcomes(many, config) == {"live-errors": "pass"}


def test_below_the_minimum_it_is_inconclusive_never_a_pass() -> None:
    result = live_gates(traffic(ColorTraffic(requests=5000, errors=0), ColorTraffic(requests=99, errors=0)), gate())
    assert [g.outcome for g in result] == ["inconclusive"]
    assert "at least 100 per color" in result[0].reason


def test_each_measure_comes_from_the_first_source_that_has_it_for_both_colors() -> None:
    vllm = Reading(
        source="vllm /metrics",
        traffic={
            "blue": ColorTraffic(requests=1, errors=1, ttft=histogram_of([0.1] * 200)),
            "green": ColorTraffic(requests=1, errors=1, ttft=histogram_of([0.1] * 200)),
        },
    )
    down = Reading(source="prometheus", unavailable="HTTP 503")
    live = traffic(ColorTraffic(requests=300, errors=0), ColorTraffic(requests=300, errors=0), down, vllm)
    merged, provenance = live.merged()
    assert merged["green"].requests == 300 and merged["green"].ttft is not None
    assert provenance == {"requests": "nginx access.log", "errors": "nginx access.log", "ttft": "vllm /metrics"}


def test_the_quantile_sequence_holds_the_true_p95_and_narrows() -> None:
    rng = random.Random(7)
    truth = -math.log(0.05)  # the p95 of an exponential with mean 1
    widths = []
    for n in (200, 2000, 20000):
        interval = quantile_sequence(histogram_of([rng.expovariate(1.0) for _ in range(n)]), 0.95, confidence=0.95)
        assert interval.low <= truth <= interval.high
        widths.append(interval.high - interval.low)
    assert widths == sorted(widths, reverse=True)


def test_a_bucketed_histogram_bounds_the_quantile_by_its_buckets() -> None:
    buckets = ((0.5, 0.0), (1.0, 500.0), (2.0, 990.0), (5.0, 1000.0), (math.inf, 1000.0))
    interval = quantile_sequence(Histogram(buckets=buckets, count=1000.0, sum=1200.0), 0.95, confidence=0.95)
    assert (interval.low, interval.high) == (1.0, 2.0)


def test_a_doubled_p95_fails_the_latency_ratio() -> None:
    rng = random.Random(3)
    blue = [rng.uniform(0.1, 1.0) for _ in range(3000)]
    green = [2 * v for v in blue[:1000]]
    live = traffic(
        ColorTraffic(requests=3000, errors=0, e2e=histogram_of(blue)),
        ColorTraffic(requests=1000, errors=0, e2e=histogram_of(green)),
    )
    config = gate(latency=LiveLatency(p95_ratio_max=1.2))
    result = {g.gate: g for g in live_gates(live, config)}
    assert result["live-latency"].outcome == "fail"
    assert result["live-latency"].estimate == pytest.approx(2.0, rel=0.05)
    same = traffic(
        ColorTraffic(requests=3000, errors=0, e2e=histogram_of(blue)),
        ColorTraffic(requests=1000, errors=0, e2e=histogram_of(blue[:1000])),
    )
    assert {g.gate: g.outcome for g in live_gates(same, config)}["live-latency"] == "pass"


def test_at_100_percent_only_greens_own_ceiling_applies() -> None:
    config = gate(latency=LiveLatency(p95_ratio_max=1.2), errors=LiveErrors(margin=0.02, ceiling=0.01))
    base = traffic(ColorTraffic(requests=0, errors=0), ColorTraffic(requests=400, errors=0))
    alone = LiveTraffic(start=base.start, end=base.end, readings=base.readings, blue_serves=False)
    assert outcomes(alone, config) == {"live-errors": "pass", "live-latency": "pass"}
    failing = traffic(ColorTraffic(requests=0, errors=0), ColorTraffic(requests=400, errors=20))
    failing = LiveTraffic(start=failing.start, end=failing.end, readings=failing.readings, blue_serves=False)
    assert outcomes(failing, config)["live-errors"] == "fail"
    few = traffic(ColorTraffic(requests=0, errors=0), ColorTraffic(requests=40, errors=0))
    few = LiveTraffic(start=few.start, end=few.end, readings=few.readings, blue_serves=False)
    assert outcomes(few, config) == {"live-errors": "inconclusive"}


def test_the_report_says_the_window_and_which_source_measured_what() -> None:
    from rollout.gates.report import render_report
    from rollout.gates.verdict import RunInfo, Verdict

    down = Reading(source="vllm /metrics", unavailable="no earlier scrape of this stage yet")
    results = live_gates(
        traffic(ColorTraffic(requests=600, errors=0), ColorTraffic(requests=200, errors=10), down), gate()
    )
    report = render_report(
        Verdict(outcome="fail", baseline=RunInfo(model="b"), candidate=RunInfo(model="g"), gates=tuple(results))
    )
    assert "| requests | 600 | 200 |" in report and "| errors | 0 | 10 |" in report
    assert "(1 h); measured by nginx access.log (requests, errors). vllm /metrics: no earlier scrape" in report
