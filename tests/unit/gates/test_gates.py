from __future__ import annotations

import random
from pathlib import Path

import pytest

from rollout.evals.results import EvalResults
from rollout.gates.feedback import Feedback, Votes, feedback_gate
from rollout.gates.pairing import Paired, pair_cases
from rollout.gates.performance import cost_gate, latency_gate
from rollout.gates.quality import quality_gate
from rollout.gates.safety import bar_warning, safety_gate
from rollout.gates.verdict import combine, verdict_to_json
from rollout.plan import CostGate, FeedbackGate, FeedbackSource, LatencyGate, QualityGate, SafetyGate
from tests.unit.gates.builders import binary_suite, case, paired, results

QUALITY = QualityGate(suite=Path("quality"), margin=0.02, confidence=0.95)


def test_quality_passes_a_candidate_that_agrees_on_a_large_suite() -> None:
    result = quality_gate(binary_suite(1000, blue_right=800, green_right=801, both=790), QUALITY, suite="quality")
    assert result.outcome == "pass"
    assert result.interval is not None and result.interval[0] > -0.02
    assert result.estimate == pytest.approx(0.001)
    assert result.threshold == -0.02
    assert "stays above -0.020" in result.reason


def test_quality_fails_a_clear_regression_and_lists_the_cases_that_broke() -> None:
    suite = binary_suite(300, blue_right=240, green_right=200, both=195)
    result = quality_gate(suite, QUALITY, suite="quality")
    assert result.outcome == "fail"
    assert result.interval is not None and result.interval[1] < -0.02
    assert result.details["regressions"]["count"] == 45
    assert len(result.details["regressions"]["cases"]) == 20


def test_quality_is_inconclusive_on_a_small_suite_and_says_how_many_cases_would_decide() -> None:
    result = quality_gate(binary_suite(60, blue_right=45, green_right=44, both=40), QUALITY, suite="quality")
    assert result.outcome == "inconclusive"
    needed = result.details["needed"]["cases"]
    assert needed > 60 and f"about {needed} cases" in result.reason


def test_a_small_suite_where_both_colors_agree_everywhere_is_not_proof() -> None:
    result = quality_gate(binary_suite(50, blue_right=40, green_right=40, both=40), QUALITY, suite="quality")
    assert result.estimate == 0.0
    assert result.outcome == "inconclusive"


def test_one_regression_among_few_discordant_cases_does_not_pass() -> None:
    # The colors agree on 199 of 200 cases; the one that differs is a regression. A percentile bootstrap passed it.
    result = quality_gate(binary_suite(200, blue_right=180, green_right=179, both=179), QUALITY, suite="quality")
    assert result.outcome == "inconclusive"
    assert result.details["discordance"] == {"worse": 1.0, "better": 0.0}
    assert result.interval is not None and result.interval[0] < -0.02


def test_quality_suggests_repeats_when_sampling_noise_blurs_the_comparison() -> None:
    # Blue is a coin flip on half the cases, where green's two answers agree: noise that repeats average away.
    noisy = paired([[1.0, 0.0]] * 1000 + [[1.0, 1.0]] * 1000, [[1.0, 1.0], [0.0, 0.0]] * 500 + [[1.0, 1.0]] * 1000)
    result = quality_gate(noisy, QUALITY, suite="quality")
    assert result.outcome == "inconclusive"
    wanted = result.details["needed"]["repeats"]
    assert wanted > 2 and f"{wanted} repeats per case" in result.reason


def test_quality_does_not_suggest_repeats_that_the_interval_read_at_later_looks_cannot_show() -> None:
    # 100 cases cannot show a 0.02 margin even with every case tied (that takes 189): no number of repeats can.
    noisy = paired([[1.0, 0.0]] * 100, [[1.0, 0.0], [0.0, 1.0]] * 25 + [[1.0, 1.0], [0.0, 0.0]] * 25)
    result = quality_gate(noisy, QUALITY, suite="quality")
    assert result.outcome == "inconclusive" and result.details["needed"]["repeats"] is None
    assert "repeats" not in result.reason and "cases would decide" in result.reason


def test_a_later_look_at_accumulated_results_reads_a_stricter_interval() -> None:
    suite = binary_suite(1000, blue_right=800, green_right=796, both=780)
    first = quality_gate(suite, QUALITY, suite="quality", look=1)
    assert first == quality_gate(suite, QUALITY, suite="quality")
    assert first.outcome == "pass" and "look" not in first.details and "(95% CI" in first.reason
    second = quality_gate(suite, QUALITY, suite="quality", look=2)
    third = quality_gate(suite, QUALITY, suite="quality", look=3)
    assert second.outcome == "pass" and third.outcome == "inconclusive"
    assert first.interval and second.interval and third.interval
    assert third.interval[0] < second.interval[0] < first.interval[0] < first.interval[1] < third.interval[1]
    assert third.details["look"] == {"index": 3, "confidence": pytest.approx(0.9924, abs=1e-4)}
    assert "(look 3: 99.2% CI" in third.reason
    assert third.details["needed"]["cases"] > first.details.get("needed", {}).get("cases", 1000)


def test_quality_verdict_is_byte_for_byte_reproducible() -> None:
    from rollout.gates.verdict import RunInfo, Verdict

    def run() -> str:
        result = quality_gate(binary_suite(200, blue_right=150, green_right=148, both=140), QUALITY, suite="quality")
        return verdict_to_json(
            Verdict(
                outcome=combine([result.outcome]),
                baseline=RunInfo(model="b"),
                candidate=RunInfo(model="g"),
                gates=(result,),
            )
        )

    assert run() == run()


def test_missing_and_errored_cases_are_excluded_reported_and_never_passes() -> None:
    blue = [case(f"c{i}", [1.0]) for i in range(100)]
    green = [case(f"c{i}", [1.0]) for i in range(90)]
    green += [case(f"c{i}", [], errors=("timeout",)) for i in range(90, 95)]
    green += [case("extra", [1.0])]
    pairs = pair_cases(results("quality", "blue", "b", blue), results("quality", "green", "g", green))
    assert len(pairs.pairs) == 90
    assert pairs.missing_in_green == tuple(f"c{i}" for i in range(95, 100))
    assert pairs.errored == tuple(f"c{i}" for i in range(90, 95))
    assert pairs.missing_in_blue == ("extra",)
    result = quality_gate(pairs, QualityGate(suite=Path("q"), margin=0.2), suite="quality")
    assert result.outcome == "inconclusive"
    assert "11 of 101 cases could not be compared" in result.reason
    assert result.details["excluded"]["errored"] == {"count": 5, "ids": [f"c{i}" for i in range(90, 95)]}
    assert result.details["measures"]["cases compared"] == {"blue": 90, "green": 90}


def test_a_repeat_that_errored_sets_the_whole_case_aside() -> None:
    blue = [case("a", [1.0, 1.0]), case("b", [1.0, 1.0])]
    green = [case("a", [1.0], errors=("HTTP 500",)), case("b", [0.0, 1.0])]
    pairs = pair_cases(results("q", "blue", "b", blue), results("q", "green", "g", green))
    assert [p.id for p in pairs.pairs] == ["b"] and pairs.errored == ("a",)


def test_no_comparable_case_is_inconclusive() -> None:
    result = quality_gate(Paired(pairs=(), missing_in_green=("a",)), QUALITY, suite="quality")
    assert result.outcome == "inconclusive" and "no case" in result.reason


SAFETY = SafetyGate(suite=Path("safety"), max_failures=0)


def test_safety_passes_the_failures_blue_has_too() -> None:
    blue = [[1.0]] * 38 + [[0.0], [0.0]]
    green = [[1.0]] * 38 + [[0.0], [0.0]]
    result = safety_gate(paired(blue, green), SAFETY, suite="safety")
    assert result.outcome == "pass" and result.estimate == 0
    assert result.details["failure_rate"]["interval"][1] > 2 / 40


def test_safety_counts_a_case_s_repeats_as_one_failure_rate() -> None:
    # Blue failed one repeat in five of every case; green failed them all: 27.2 cases' worth of excess failures.
    blue = [[0.0, 1.0, 1.0, 1.0, 1.0]] * 34
    green = [[0.0] * 5] * 34
    result = safety_gate(paired(blue, green), SAFETY, suite="safety")
    assert result.outcome == "fail" and result.estimate == pytest.approx(27.2)
    assert result.interval is not None and result.interval[0] > 0
    assert "excess failures over blue +27.20" in result.reason


def test_safety_does_not_block_noise_that_more_repeats_only_average() -> None:
    # Three noisy cases fail one repeat in five on both colors, on different repeats.
    blue = [[1.0] * 5] * 31 + [[0.0, 1.0, 1.0, 1.0, 1.0]] * 3
    green = [[1.0] * 5] * 31 + [[1.0, 1.0, 1.0, 1.0, 0.0]] * 3
    assert safety_gate(paired(blue, green), SAFETY, suite="safety").outcome == "pass"
    # One new unsafe answer in one repeat is 0.5 of a case; it is reported, but chance explains it.
    lone = safety_gate(paired([[1.0, 1.0]] * 30, [[1.0, 1.0]] * 29 + [[1.0, 0.0]]), SAFETY, suite="safety")
    assert lone.outcome == "pass" and lone.estimate == 0.5 and lone.details["regressions"]["count"] == 1


def test_safety_fails_six_new_failures_that_blue_did_not_have() -> None:
    blue = [[1.0]] * 100
    six = safety_gate(paired(blue, [[0.0]] * 6 + [[1.0]] * 94), SAFETY, suite="safety")
    five = safety_gate(paired(blue, [[0.0]] * 5 + [[1.0]] * 95), SAFETY, suite="safety")
    assert six.outcome == "fail" and five.outcome == "pass"
    allowed = safety_gate(
        paired(blue, [[0.0]] * 6 + [[1.0]] * 94), SafetyGate(suite=Path("s"), max_failures=3), suite="safety"
    )
    assert allowed.outcome == "pass"


def test_safety_bar_bounds_green_s_failure_rate_exactly() -> None:
    clean = paired([[1.0]] * 34, [[1.0]] * 34)
    loose = safety_gate(clean, SafetyGate(suite=Path("s"), max_failure_rate=0.15), suite="safety")
    assert loose.outcome == "pass" and "bar 15.0%: below it" in loose.reason
    assert loose.details["failure_rate"]["interval"][1] == pytest.approx(0.1008, abs=1e-4)
    tight = safety_gate(clean, SafetyGate(suite=Path("s"), max_failure_rate=0.05), suite="safety")
    cases = tight.details["needed"]["cases"]
    assert tight.outcome == "inconclusive" and f"about {cases} such cases would decide" in tight.reason
    failing = paired([[1.0]] * 34, [[0.0]] * 10 + [[1.0]] * 24)
    over = safety_gate(failing, SafetyGate(suite=Path("s"), max_failures=20, max_failure_rate=0.05), suite="safety")
    assert over.outcome == "fail" and "above it" in over.reason


def test_safety_spends_its_level_over_the_looks_at_accumulated_repeats() -> None:
    clean = paired([[1.0]] * 34, [[1.0]] * 34)
    config = SafetyGate(suite=Path("s"), max_failure_rate=0.105)
    first = safety_gate(clean, config, suite="safety", look=1)
    assert first == safety_gate(clean, config, suite="safety")
    assert first.outcome == "pass" and "look" not in first.details
    later = safety_gate(clean, config, suite="safety", look=3)
    assert later.outcome == "inconclusive" and later.details["look"]["index"] == 3
    assert later.details["failure_rate"]["interval"][1] > first.details["failure_rate"]["interval"][1]
    assert "exact look 3: 99.2% confidence sequence" in later.reason
    assert first.interval and later.interval and later.interval[1] > first.interval[1]


def test_a_bar_no_suite_of_this_size_can_show_is_named_with_the_cases_it_takes() -> None:
    config = SafetyGate(suite=Path("s"), max_failure_rate=0.05)
    warning = bar_warning(config, [("harmful",)] * 17 + [("benign",)] * 17)
    assert warning is not None and "so the gate would hold forever; it takes" in warning
    assert warning.startswith("gates.safety.max_failure_rate 5.0% cannot be shown on 17 harmful cases")
    assert bar_warning(config, [()] * 100) is None
    assert bar_warning(SafetyGate(suite=Path("s")), [()] * 5) is None


def test_safety_bar_reads_only_the_harmful_cases_when_there_are_any() -> None:
    blue = [case("h1", [1.0], tags=("harmful",)), case("b1", [1.0], tags=("benign",))]
    green = [case("h1", [1.0], tags=("harmful",)), case("b1", [0.0], tags=("benign",))]
    result = safety_gate(
        pair_cases(results("s", "blue", "b", blue), results("s", "green", "g", green)),
        SafetyGate(suite=Path("s"), max_failure_rate=0.5),
        suite="safety",
    )
    assert result.details["failure_rate"]["estimate"] == 0.0 and result.details["failure_rate"]["cases"] == 1
    assert "on 1 harmful cases" in result.reason


def test_safety_reports_harmful_and_benign_separately() -> None:
    blue = [case("h1", [1.0], tags=("harmful",)), case("b1", [1.0], tags=("benign",))]
    green = [
        case("h1", [0.0], tags=("harmful",), outputs=("Sure, here is how",), prompt="bad thing"),
        case("b1", [0.0], tags=("benign",)),
    ]
    result = safety_gate(
        pair_cases(results("s", "blue", "b", blue), results("s", "green", "g", green)), SAFETY, suite="safety"
    )
    measures = result.details["measures"]
    assert measures["unsafe completions on harmful prompts"] == {"blue": "0 of 1", "green": "1 of 1"}
    assert measures["refusals of benign prompts"] == {"blue": "0 of 1", "green": "1 of 1"}
    assert result.details["regressions"]["cases"][0] == {
        "id": "h1",
        "prompt": "bad thing",
        "blue": "",
        "green": "Sure, here is how",
    }


def _perf(
    blue_ms: float,
    green_ms: float,
    *,
    n: int = 200,
    blue_tokens: int = 50,
    green_tokens: int = 50,
    green_ttft: float = 100.0,
) -> Paired:
    pairs = []
    for i in range(n):
        wobble = 0.8 + 0.4 * ((i * 37) % 100) / 100
        pairs.append(
            (
                case(
                    f"c{i}",
                    [1.0],
                    latency_ms=(blue_ms * wobble,),
                    ttft_ms=(100.0 * wobble,),
                    output_tokens=(blue_tokens,),
                ),
                case(
                    f"c{i}",
                    [1.0],
                    latency_ms=(green_ms * wobble,),
                    ttft_ms=(green_ttft * wobble,),
                    output_tokens=(green_tokens,),
                ),
            )
        )
    from rollout.gates.pairing import CasePair

    return Paired(pairs=tuple(CasePair(id=b.id, blue=b, green=g) for b, g in pairs))


LATENCY = LatencyGate(p95_ratio_max=1.2, ttft_p95_ms_max=1500)


def test_latency_passes_equal_timings_and_reports_percentiles() -> None:
    result = latency_gate(_perf(500, 500), LATENCY)
    assert result.outcome == "pass"
    assert result.estimate == pytest.approx(1.0)
    assert result.details["measures"]["p95 latency ms"]["green"] == pytest.approx(
        result.details["measures"]["p95 latency ms"]["blue"]
    )
    assert result.details["measures"]["p50 tokens/s"]["blue"] > 0
    ratios = result.details["ratios"]
    assert set(ratios) == {"p50 latency", "p95 latency", "p50 TTFT", "p95 TTFT"}
    assert ratios["p50 latency"]["estimate"] == pytest.approx(1.0)
    assert ratios["p50 latency"]["interval"][0] <= 1.0 <= ratios["p50 latency"]["interval"][1]


def test_latency_fails_a_slower_green_and_a_slow_first_token() -> None:
    slower = latency_gate(_perf(500, 800), LATENCY)
    assert slower.outcome == "fail" and slower.threshold == 1.2 and "over 1.20" in slower.reason
    late = latency_gate(_perf(500, 500, green_ttft=3000), LATENCY)
    assert late.outcome == "fail" and late.threshold == 1500


def test_latency_with_too_few_timings_or_no_limits() -> None:
    assert latency_gate(_perf(500, 500, n=5), LATENCY).outcome == "inconclusive"
    assert latency_gate(_perf(500, 900), LatencyGate()).outcome == "pass"


def test_cost_compares_gpu_seconds_per_token_and_prices() -> None:
    equal = cost_gate(_perf(500, 500), CostGate(ratio_max=1.1, gpu_hour_usd={"blue": 2.0, "green": 2.0}))
    assert equal.outcome == "pass" and equal.estimate == pytest.approx(1.0)
    assert equal.details["measures"]["$ per 1M output tokens (one stream)"]["blue"] == pytest.approx(
        2.0 / 3600 / (50 / 0.5) * 1e6, rel=0.05
    )
    pricier = cost_gate(_perf(500, 500), CostGate(ratio_max=1.1, gpu_hour_usd={"blue": 2.0, "green": 3.0}))
    assert pricier.outcome == "fail" and pricier.estimate == pytest.approx(1.5)
    wordier = cost_gate(_perf(500, 500, green_tokens=100), CostGate(ratio_max=1.1))
    assert wordier.outcome == "pass" and wordier.estimate == pytest.approx(0.5)
    assert "same price assumed" in wordier.reason


def test_cost_on_one_case_holds_without_an_interval() -> None:
    lone = cost_gate(_perf(500, 500, n=1), CostGate(ratio_max=1.1))
    assert lone.outcome == "inconclusive" and lone.interval is None and "one case carries" in lone.reason
    assert lone.estimate == pytest.approx(1.0)


def test_latency_and_cost_widen_their_intervals_at_a_later_look() -> None:
    rng = random.Random(7)

    def timed(color: str, ms: float) -> EvalResults:
        cases = [
            case(f"c{i}", [1.0], latency_ms=(ms * rng.uniform(0.8, 1.2),), ttft_ms=(100.0,), output_tokens=(50,))
            for i in range(200)
        ]
        return results("q", color, color, cases)

    noisy = pair_cases(timed("blue", 500), timed("green", 550))
    for judge in (
        lambda look: latency_gate(noisy, LATENCY, look=look),
        lambda look: cost_gate(noisy, CostGate(ratio_max=1.1), look=look),
    ):
        first, later = judge(1), judge(4)
        assert first.interval and later.interval and "look" not in first.details
        assert later.interval[0] < first.interval[0] and later.interval[1] > first.interval[1]
        assert later.details["look"]["index"] == 4 and "look 4: 99.7% CI" in later.reason


def test_latency_draws_enough_to_resolve_a_late_look_s_narrow_tails() -> None:
    # 2,000 draws put less than one in each tail from look 7 on: the interval would stop at the extreme draws.
    timings = _perf(500, 520, n=400)
    looks = [latency_gate(timings, LATENCY, look=look).details["ratios"]["p95 latency"]["interval"] for look in (8, 12)]
    assert looks[1][0] < looks[0][0] and looks[0][1] < looks[1][1]


FEEDBACK = FeedbackGate(source=FeedbackSource(kind="jsonl", path=Path("votes.jsonl")), margin=0.03, min_samples=300)


@pytest.mark.parametrize(
    ("blue", "green", "outcome"),
    [
        (Votes(up=4000, down=1000), Votes(up=4050, down=950), "pass"),
        (Votes(up=4000, down=1000), Votes(up=3300, down=1700), "fail"),
        (Votes(up=400, down=100), Votes(up=390, down=110), "inconclusive"),
        (Votes(up=4000, down=1000), Votes(up=250, down=20), "inconclusive"),
    ],
)
def test_feedback_non_inferiority(blue: Votes, green: Votes, outcome: str) -> None:
    result = feedback_gate(Feedback(source="x", votes={"b": blue, "g": green}), FEEDBACK, blue="b", green="g")
    assert result.outcome == outcome
    if green.total < 300:
        assert "270 of the 300 needed" in result.reason and result.estimate is None


def test_feedback_reads_a_confidence_sequence_and_says_how_many_votes_would_decide() -> None:
    votes = {"b": Votes(up=4560, down=1140), "g": Votes(up=238, down=62)}
    result = feedback_gate(Feedback(source="x", votes=votes), FEEDBACK, blue="b", green="g")
    assert result.outcome == "inconclusive" and "95% confidence sequence" in result.reason
    more = result.details["needed"]["votes"]
    assert more["green"] > 300 and more["blue"] > 5700
    assert f"about {more['green']:,} votes for green" in result.reason
    # The same rates at the counts it asks for decide.
    grown = {
        "b": Votes(up=more["blue"] * 4560 // 5700, down=more["blue"] * 1140 // 5700),
        "g": Votes(up=more["green"] * 238 // 300, down=more["green"] * 62 // 300),
    }
    decided = feedback_gate(Feedback(source="x", votes=grown), FEEDBACK, blue="b", green="g")
    assert decided.outcome == "pass"


def test_feedback_unavailable_holds_and_says_why() -> None:
    result = feedback_gate(Feedback(source="x", unavailable="HTTP 503"), FEEDBACK, blue="b", green="g")
    assert result.outcome == "inconclusive" and "HTTP 503" in result.reason
