from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollout.gates import stats


def test_wilson_matches_the_textbook_values() -> None:
    interval = stats.wilson(8, 10, confidence=0.95)
    assert interval.low == pytest.approx(0.4902, abs=1e-4)
    assert interval.high == pytest.approx(0.9433, abs=1e-4)
    assert stats.wilson(0, 0, confidence=0.95) == stats.Interval(low=0.0, high=1.0)


def test_clopper_pearson_matches_the_exact_values() -> None:
    half = stats.clopper_pearson(5, 10, confidence=0.95)
    assert half.low == pytest.approx(0.18709, abs=1e-5)
    assert half.high == pytest.approx(0.81291, abs=1e-5)
    none = stats.clopper_pearson(0, 10, confidence=0.95)
    assert none.low == 0.0 and none.high == pytest.approx(1 - 0.025 ** (1 / 10), abs=1e-9)
    every = stats.clopper_pearson(10, 10, confidence=0.95)
    assert every.high == 1.0 and every.low == pytest.approx(0.025 ** (1 / 10), abs=1e-9)


def test_exact_upper_bound_for_zero_failures_is_the_rule_of_three() -> None:
    assert stats.exact_upper_bound(0, 100, confidence=0.95) == pytest.approx(1 - 0.05 ** (1 / 100), abs=1e-9)
    assert stats.exact_upper_bound(0, 100, confidence=0.95) < 3 / 100
    assert stats.exact_upper_bound(3, 3, confidence=0.95) == 1.0


@pytest.mark.parametrize(
    ("x", "a", "b", "expected"),
    [
        (0.3, 1.0, 4.0, 1 - 0.7**4),
        (0.3, 5.0, 1.0, 0.3**5),
        (0.5, 7.0, 7.0, 0.5),
        (0.95, 2000.0, 100.0, None),
    ],
)
def test_regularized_beta_against_closed_forms(x: float, a: float, b: float, expected: float | None) -> None:
    value = stats.regularized_beta(x, a, b)
    if expected is None:  # symmetry I_x(a, b) = 1 - I_(1-x)(b, a) exercises both branches
        assert value == pytest.approx(1 - stats.regularized_beta(1 - x, b, a), abs=1e-12)
        assert 0.0 < value < 1.0
    else:
        assert value == pytest.approx(expected, abs=1e-12)


def test_beta_quantile_inverts_the_cdf() -> None:
    for p in (0.025, 0.5, 0.975):
        x = stats.beta_quantile(p, 3.0, 40.0)
        assert stats.regularized_beta(x, 3.0, 40.0) == pytest.approx(p, abs=1e-10)


def test_newcombe_interval_matches_the_published_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, method 10: 56/70 - 48/80.
    interval = stats.noninferiority_interval(56, 70, 48, 80, confidence=0.95)
    assert interval.low == pytest.approx(0.0524, abs=1e-4)
    assert interval.high == pytest.approx(0.3339, abs=1e-4)


@pytest.mark.parametrize(("n", "p"), [(20, 0.1), (1000, 0.3), (50_000, 0.9)])
def test_binomial_draws_have_the_right_mean_and_variance(n: int, p: float) -> None:
    rng = random.Random(5)
    draws = [stats.binomial(rng, n, p) for _ in range(20_000)]
    assert all(0 <= d <= n for d in draws)
    assert stats.mean(draws) == pytest.approx(n * p, rel=0.01, abs=0.02)
    assert stats.stdev(draws) ** 2 == pytest.approx(n * p * (1 - p), rel=0.05)


def test_bootstrap_is_reproducible_and_covers_the_mean() -> None:
    rng = random.Random(3)
    values = [rng.choice((-1.0, 0.0, 0.0, 0.0, 1.0)) for _ in range(400)]
    first = stats.bootstrap_mean(values, confidence=0.95)
    assert first == stats.bootstrap_mean(list(values), confidence=0.95)
    assert first.low < stats.mean(values) < first.high
    se = stats.stdev(values) / math.sqrt(len(values))
    assert first.half_width == pytest.approx(1.96 * se, rel=0.1)
    assert stats.bootstrap_mean(values, confidence=0.95, seed=4) != first


def test_both_resampling_paths_agree_on_the_same_distribution() -> None:
    # Few distinct values take the multinomial path; adding a unique jitter to each forces plain resampling.
    values = [float(i % 3 == 0) for i in range(600)]
    counted = stats.bootstrap_mean(values, confidence=0.9)
    jittered = stats.bootstrap_mean([v + i * 1e-9 for i, v in enumerate(values)], confidence=0.9)
    assert counted.low == pytest.approx(jittered.low, abs=0.01)
    assert counted.high == pytest.approx(jittered.high, abs=0.01)


def test_pseudo_cases_keep_an_all_agree_small_suite_from_a_zero_width_interval() -> None:
    assert stats.bootstrap_mean([0.0] * 50, confidence=0.95) == stats.Interval(low=0.0, high=0.0)
    padded = stats.bootstrap_mean([0.0] * 50, confidence=0.95, pseudo=(-1.0, 1.0))
    assert padded.low < -0.02 < 0.02 < padded.high


def test_quantile_is_the_inverted_cdf() -> None:
    ordered = [float(i) for i in range(1, 21)]
    assert stats.quantile(ordered, 0.95) == 19.0
    assert stats.quantile(ordered, 0.5) == 10.0
    assert stats.quantile([7.0], 0.95) == 7.0


def test_quantile_intervals_bracket_the_truth() -> None:
    rng = random.Random(9)
    slow = sorted(rng.expovariate(1 / 100) for _ in range(2000))
    fast = sorted(rng.expovariate(1 / 50) for _ in range(2000))
    true_p95 = -100 * math.log(0.05)
    single = stats.quantile_interval(slow, 0.95, confidence=0.95)
    assert single.low < true_p95 < single.high
    ratio = stats.quantile_ratio_interval(slow, fast, 0.95, confidence=0.95)
    assert ratio is not None and ratio.low < 2.0 < ratio.high
    assert stats.quantile_ratio_interval(slow, [0.0] * 10, 0.95, confidence=0.95) is None


def test_ratio_of_ratios_is_one_for_identical_colors_and_scales_with_time() -> None:
    same = [(1.0 + i % 3, 10.0, 1.0 + i % 3, 10.0) for i in range(50)]
    result = stats.ratio_of_ratios_interval(same, confidence=0.95)
    assert result is not None and result[0] == pytest.approx(1.0) and result[1].low <= 1.0 <= result[1].high
    slower = [(2 * a, t, b, u) for a, t, b, u in same]
    doubled = stats.ratio_of_ratios_interval(slower, confidence=0.95)
    assert doubled is not None and doubled[0] == pytest.approx(2.0)
    assert stats.ratio_of_ratios_interval([(0.0, 1.0, 1.0, 1.0)], confidence=0.95) is None


def test_samples_to_decide_scales_with_the_square_of_the_gap() -> None:
    assert stats.samples_to_decide(100, 0.04, 0.02) == 400
    assert stats.samples_to_decide(100, 0.01, 0.02) == 101
    assert stats.samples_to_decide(100, 0.04, 0.0) is None


def test_repeats_to_decide_only_when_noise_is_what_blurs() -> None:
    z = stats.z_value(0.95)
    # distance 0.02 over 100 cases: the variance budget is 0.02**2 * 100 / z**2.
    budget = 0.02**2 * 100 / z**2
    assert (
        stats.repeats_to_decide(
            cases=100, between_variance=budget / 2, within_variance=budget, distance=0.02, confidence=0.95
        )
        == 2
    )
    assert (
        stats.repeats_to_decide(
            cases=100, between_variance=budget * 2, within_variance=budget, distance=0.02, confidence=0.95
        )
        is None
    )


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from([-1.0, -0.5, 0.0, 0.25, 1.0]), min_size=1, max_size=300))
def test_bootstrap_interval_is_ordered_and_within_the_sample(values: list[float]) -> None:
    interval = stats.bootstrap_mean(values, confidence=0.95, pseudo=(-1.0, 1.0))
    assert -1.0 <= interval.low <= interval.high <= 1.0
    assert interval == stats.bootstrap_mean(values, confidence=0.95, pseudo=(-1.0, 1.0))
