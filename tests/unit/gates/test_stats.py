from __future__ import annotations

import itertools
import math
import random
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar
from scipy.stats import beta, binom, norm

from rollout.gates import stats
from rollout.gates.wording import level

Z = stats.z_value(0.95)


def test_wilson_matches_the_textbook_values() -> None:
    interval = stats.wilson(8, 10, confidence=0.95)
    assert interval.low == pytest.approx(0.4902, abs=1e-4)
    assert interval.high == pytest.approx(0.9433, abs=1e-4)
    assert stats.wilson(0, 0, confidence=0.95) == stats.Interval(low=0.0, high=1.0)


def _restricted_worse_rate(worse: float, better: float, n: int, d: float) -> float:
    """The rate of regressions maximising the multinomial likelihood given better - worse rates = d, numerically."""

    def negative_log_likelihood(q: float) -> float:
        return -(worse * math.log(q) + better * math.log(q + d) + (n - worse - better) * math.log(1 - 2 * q - d))

    found = minimize_scalar(
        negative_log_likelihood,
        bounds=(max(0.0, -d) + 1e-12, (1 - d) / 2 - 1e-12),
        method="bounded",
        options={"xatol": 1e-13},
    )
    return float(found.x)


@pytest.mark.parametrize(
    ("worse", "better", "n", "d"),
    [(1, 0, 200, -0.02), (5, 3, 100, 0.01), (10, 2, 1000, -0.02), (3.4, 1.2, 40, -0.05), (40, 55, 300, 0.1)],
)
def test_tango_score_uses_the_restricted_maximum_likelihood_variance(
    worse: float, better: float, n: int, d: float
) -> None:
    q = _restricted_worse_rate(worse, better, n, d)
    expected = (better - worse - n * d) / math.sqrt(n * ((q + q + d) - d * d))
    assert stats.paired_score(stats.Discordance(worse=worse, better=better, cases=n), d) == pytest.approx(
        expected, rel=1e-6
    )


def test_one_regression_in_200_cases_does_not_show_a_regression_rate_under_2_percent() -> None:
    # At a true difference of -2% the spread is that of 4 expected regressions, not of the 1 seen.
    pairs = stats.Discordance(worse=1, better=0, cases=200)
    interval = stats.paired_interval(pairs, confidence=0.95)
    assert interval.low < -0.02 < 0 < interval.high
    assert stats.paired_excludes(pairs, -0.02, confidence=0.95) == 0
    assert stats.paired_score(pairs, interval.low) == pytest.approx(Z, abs=1e-6)
    assert stats.paired_score(pairs, interval.high) == pytest.approx(-Z, abs=1e-6)


def test_tango_pass_region_grows_with_improvements_and_shrinks_with_regressions() -> None:
    # The exact benchmark finds each boundary by bisection; that needs this monotonicity, checked here outright.
    n = 40
    for w in range(n + 1):
        sides = [
            stats.paired_excludes(stats.Discordance(worse=w, better=g, cases=n), -0.02, confidence=0.95)
            for g in range(n - w + 1)
        ]
        assert sides == sorted(sides)
        if w < n:
            fewer = [
                stats.paired_excludes(stats.Discordance(worse=w + 1, better=g, cases=n), -0.02, confidence=0.95)
                for g in range(n - w)
            ]
            assert all(a <= b for a, b in zip(fewer, sides, strict=False))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 60), st.integers(0, 60), st.integers(120, 400), st.floats(-0.3, 0.3))
def test_the_score_test_at_a_threshold_agrees_with_the_interval(worse: int, better: int, n: int, t: float) -> None:
    pairs = stats.Discordance(worse=worse, better=better, cases=n)
    interval = stats.paired_interval(pairs, confidence=0.95)
    side = stats.paired_excludes(pairs, t, confidence=0.95)
    if min(abs(t - interval.low), abs(t - interval.high)) > 1e-9:
        assert side == (1 if interval.low > t else -1 if interval.high < t else 0)


def test_cases_to_decide_is_the_size_at_which_the_same_mix_decides() -> None:
    pairs = stats.Discordance(worse=5, better=4, cases=100)
    cases = stats.paired_cases_to_decide(pairs, -0.02, confidence=0.95)
    assert cases is not None
    grown = cases / 100
    scaled = stats.Discordance(worse=5 * grown, better=4 * grown, cases=cases)
    assert stats.paired_excludes(scaled, -0.02, confidence=0.95) == 1
    fewer = (cases - 2) / 100
    assert (
        stats.paired_excludes(
            stats.Discordance(worse=5 * fewer, better=4 * fewer, cases=cases - 2), -0.02, confidence=0.95
        )
        == 0
    )
    assert stats.paired_cases_to_decide(stats.Discordance(worse=2, better=0, cases=100), -0.02, confidence=0.95) is None


def test_paired_sequence_is_exact_for_a_sign_test_at_every_count_of_discordant_cases() -> None:
    # Equal colors: each discordant case is a regression with probability 1/2. Exact, for each count: from all
    # regressions down, every count that shows green worse, until one does not (fewer regressions show less).
    for m in range(1, 61):
        wrong = 0.0
        for w in range(m, -1, -1):
            if stats.paired_sequence([1.0] * w + [-1.0] * (m - w), confidence=0.95).low <= 0:
                break
            wrong += binom.pmf(w, m, 0.5)
        assert wrong <= 0.025


def test_paired_sequence_counts_only_the_cases_that_differ() -> None:
    six = stats.paired_sequence([1.0] * 6 + [0.0] * 194, confidence=0.95)
    five = stats.paired_sequence([1.0] * 5 + [0.0] * 195, confidence=0.95)
    assert six.low > 0 >= five.low
    assert stats.paired_sequence([1.0] * 6 + [0.0] * 994, confidence=0.95).low > 0
    graded = stats.paired_sequence([0.8] * 34, confidence=0.95)
    assert 0.5 < graded.low < 0.8 < graded.high <= 1.0
    assert stats.paired_sequence([], confidence=0.95) == stats.Interval(low=-1.0, high=1.0)


@pytest.mark.parametrize(
    ("new", "new_n", "old", "old_n", "d"),
    [(280, 300, 5400, 5700, -0.03), (6, 300, 285, 5700, -0.03), (0, 300, 20, 400, -0.03), (150, 300, 160, 300, 0.05)],
)
def test_farrington_manning_rates_maximise_the_likelihood(new: int, new_n: int, old: int, old_n: int, d: float) -> None:
    def negative_log_likelihood(p: float) -> float:
        q = p - d
        return -(
            new * math.log(p) + (new_n - new) * math.log1p(-p) + old * math.log(q) + (old_n - old) * math.log1p(-q)
        )

    found = minimize_scalar(
        negative_log_likelihood,
        bounds=(max(0.0, d) + 1e-12, min(1.0, 1 + d) - 1e-12),
        method="bounded",
        options={"xatol": 1e-13},
    )
    p, q = stats.restricted_rates(stats.Proportions(new=new, new_n=new_n, old=old, old_n=old_n), d)
    assert p == pytest.approx(float(found.x), abs=1e-6) and p - q == pytest.approx(d)


def test_mixture_boundary_is_narrowest_near_where_it_is_tuned_and_never_below_a_single_look() -> None:
    tuned = stats.mixture_half_width(0.01, confidence=0.95, tuned_at=0.01) / 0.01
    assert tuned == pytest.approx(3.035, abs=1e-3)
    for se in (0.001, 0.003, 0.03, 0.1):
        assert stats.mixture_half_width(se, confidence=0.95, tuned_at=0.01) / se > tuned > Z
    assert stats.mixture_half_width(0.0, confidence=0.95, tuned_at=0.01) == 0.0


def test_normal_sequence_holds_at_every_look_of_a_random_walk() -> None:
    # 2,000 walks of 2,000 steps, read at every step: the two-sided 95% sequence is left by at most 5% of them.
    rng = np.random.default_rng(3)
    steps = 2000
    sums = np.cumsum(rng.standard_normal((2000, steps)), axis=1)
    t = np.arange(1, steps + 1)
    half = np.array([stats.mixture_half_width(1 / math.sqrt(k), confidence=0.95, tuned_at=0.05) for k in t])
    left = (np.abs(sums / t) > half).any(axis=1).mean()
    naive = (np.abs(sums / t) > Z / np.sqrt(t)).any(axis=1).mean()
    assert left <= 0.05 < naive
    ratio = stats.ratio_sequence(math.log(1.1), 0.02, confidence=0.95, tuned_at=0.02)
    assert ratio.low < 1.1 < ratio.high and ratio.low > 1.0


def test_proportion_sequence_contains_the_estimate_and_decides_as_its_ends() -> None:
    counts = stats.Proportions(new=250, new_n=300, old=4600, old_n=5700)
    interval = stats.proportion_sequence(counts, confidence=0.95, tuned_at=0.01)
    assert interval.low < counts.difference < interval.high
    for t in (interval.low - 0.01, interval.low + 0.01, interval.high + 0.01):
        side = stats.proportion_sequence_excludes(counts, t, confidence=0.95, tuned_at=0.01)
        assert side == (1 if interval.low > t else -1 if interval.high < t else 0)
    distance, error = stats.proportion_score(counts, interval.low - 0.005)
    factor = stats.growth_to_decide(distance, error, confidence=0.95, tuned_at=0.01)
    assert factor is not None and factor < 1.0001
    assert stats.growth_to_decide(0.0, error, confidence=0.95, tuned_at=0.01) is None


@pytest.mark.parametrize(("n", "rate"), [(34, 0.02), (34, 0.1), (200, 0.02), (200, 0.3), (1000, 0.01)])
def test_rate_sequence_misses_a_true_rate_at_most_5_percent_of_the_time_exactly(n: int, rate: float) -> None:
    missed = sum(
        binom.pmf(k, n, rate)
        for k in range(n + 1)
        if not (lambda i: i.low <= rate <= i.high)(stats.rate_sequence(k, n, confidence=0.95))
    )
    assert missed <= 0.05


def test_rate_sequence_bounds_zero_failures_like_the_exact_single_look() -> None:
    none = stats.rate_sequence(0, 34, confidence=0.95)
    assert none.low == 0.0 and none.high == pytest.approx(0.1008, abs=1e-4)
    # Clopper-Pearson's one-sided 97.5% bound for 0 of 34, for comparison:
    assert none.high < float(beta.ppf(0.975, 1, 34))
    every = stats.rate_sequence(34, 34, confidence=0.95)
    assert every.high == 1.0 and every.low > 0.7
    assert stats.rate_sequence(0, 0, confidence=0.95) == stats.Interval(low=0.0, high=1.0)


def test_rate_cases_to_decide_is_the_size_at_which_the_same_rate_decides() -> None:
    cases = stats.rate_cases_to_decide(0, 34, 0.05, confidence=0.95)
    assert cases is not None
    assert (
        stats.rate_sequence(0, cases, confidence=0.95).high
        <= 0.05
        < stats.rate_sequence(0, cases - 1, confidence=0.95).high
    )
    assert stats.rate_cases_to_decide(5, 100, 0.05, confidence=0.95) is None


def test_the_first_look_keeps_the_plan_s_level_and_the_later_ones_spend_as_much_again() -> None:
    assert stats.look_confidence(0.95, 1) == 0.95
    assert stats.look_confidence(0.9, 1) == 0.9
    levels = [stats.look_confidence(0.95, k) for k in range(1, 200_001)]
    assert all(a < b < 1 for a, b in itertools.pairwise(levels[:1000]))
    assert stats.look_confidence(0.95, 2) == pytest.approx(1 - 0.05 * 6 / math.pi**2)
    # Every look together errs at most twice the first look's error: 5% per side for a 95% plan.
    spent = math.fsum(1 - c for c in levels[1:])
    assert 0.0499 < spent < 0.05
    with pytest.raises(ValueError, match="looks count from 1"):
        stats.look_confidence(0.95, 0)


def test_bootstrap_draws_keep_50_in_each_tail_up_to_a_cap() -> None:
    assert stats.tail_resamples(0.95) == stats.RESAMPLES == 2000
    assert stats.tail_resamples(0.9) == 2000
    assert stats.tail_resamples(stats.look_confidence(0.95, 3)) == 13160
    assert stats.tail_resamples(stats.look_confidence(0.95, 8)) == stats.MAX_RESAMPLES


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


def test_ratio_of_ratios_is_unbounded_where_one_case_carries_a_whole_total() -> None:
    lone = stats.ratio_of_ratios_interval([(2.0, 1.0, 1.0, 1.0)], confidence=0.95)
    assert lone is not None and lone[0] == pytest.approx(2.0) and lone[1] == stats.Interval(low=0.0, high=math.inf)
    carried = stats.ratio_of_ratios_interval([(2.0, 1.0, 1.0, 1.0), (0.0, 1.0, 1.0, 1.0)], confidence=0.95)
    assert carried is not None and carried[1].high == math.inf


def test_ratio_of_ratios_widens_by_the_jackknife_where_few_cases_carry_the_totals() -> None:
    # Nine short cases and one long one: the delta method's spread ignores that leaving the long one out moves the
    # ratio far; the jackknife's does not.
    pairs = [(1.0 + 0.1 * (i % 2), 1.0, 1.0, 1.0) for i in range(9)] + [(30.0, 1.0, 20.0, 1.0)]
    found = stats.ratio_of_ratios_interval(pairs, confidence=0.95)
    assert found is not None
    ratio, interval = found
    a, t, b, u = (math.fsum(p[i] for p in pairs) for i in range(4))
    influence = [10 * (pa / a - pt / t - pb / b + pu / u) for pa, pt, pb, pu in pairs]
    delta = stats.z_value(0.95) * stats.stdev(influence) / math.sqrt(10)
    assert math.log(interval.high / ratio) > 2 * delta


def test_t_value_matches_the_tables_and_tends_to_z() -> None:
    assert stats.t_value(0.95, 1) == pytest.approx(12.7062, abs=1e-4)
    assert stats.t_value(0.95, 49) == pytest.approx(2.0096, abs=1e-4)
    assert stats.t_value(0.99, 9) == pytest.approx(3.2498, abs=1e-4)
    assert stats.t_value(0.95, 10**7) == pytest.approx(stats.z_value(0.95), abs=1e-5)


def _predicted(differences: list[float], noise: list[float], scale: float) -> stats.Discordance:
    """The masses paired_repeats_to_decide predicts when every case's truth is the mean (all the spread is noise):
    the observed discordant mass, shrunk as the expected |difference| is, by scipy's numerical expectation."""
    centre = sum(differences) / len(differences)

    def expected(factor: float) -> float:
        return sum(
            count * (float(norm.expect(abs, loc=centre, scale=math.sqrt(v * factor))) if v else abs(centre))
            for v, count in Counter(noise).items()
        )

    mass = sum(abs(d) for d in differences) * expected(scale) / expected(1.0)
    balance = centre * len(differences)
    return stats.Discordance(worse=(mass - balance) / 2, better=(mass + balance) / 2, cases=len(differences))


@pytest.mark.parametrize(("noisy", "looks"), [(1000, 1), (1000, 2), (1400, 1)])
def test_repeats_to_decide_are_where_tango_s_test_at_that_look_s_level_first_decides(noisy: int, looks: int) -> None:
    # Half the 2,000 cases differ by +-0.5, all of it the repeats' noise (its variance is the spread): the truths
    # are all the mean, and more repeats only shrink the masses around it.
    differences = [0.5, -0.5] * (noisy // 2) + [0.0] * (2000 - noisy)
    noise = [0.25] * noisy + [0.0] * (2000 - noisy)
    repeats = 2 * looks
    wanted = stats.paired_repeats_to_decide(differences, noise, -0.02, repeats=repeats, look=looks, confidence=0.95)
    assert wanted is not None and wanted > repeats
    rounds = wanted // 2

    def decides(at: int) -> bool:
        pairs = stats.discordance(differences) if at == looks else _predicted(differences, noise, looks / at)
        return abs(stats.paired_score(pairs, -0.02)) > stats.z_value(stats.look_confidence(0.95, at))

    assert decides(rounds) and not decides(rounds - 1)


def test_repeats_cannot_decide_without_noise_or_where_an_all_tie_suite_could_not() -> None:
    args = {"repeats": 2, "look": 1, "confidence": 0.95}
    assert stats.paired_repeats_to_decide([0.5, -0.5] * 50, [0.0] * 100, -0.02, **args) is None
    assert stats.paired_repeats_to_decide([0.5, -0.5] * 50, [0.25] * 100, -0.02, **args) is None
    assert stats.paired_repeats_to_decide([0.5, -0.5] * 50, [0.25] * 100, -0.02, **{**args, "repeats": 1}) is None


@pytest.mark.parametrize(
    ("confidence", "look", "said"),
    [(0.95, 1, "95%"), (0.9, 1, "90%"), (0.99, 1, "99%"), (0.999, 1, "99.9%")]
    + [(stats.look_confidence(0.95, k), k, f"look {k}: {s}") for k, s in ((2, "97.0%"), (3, "99.2%"), (8, "99.94%"))],
)
def test_a_level_shows_the_decimals_that_tell_it_from_100_percent(confidence: float, look: int, said: str) -> None:
    assert level(confidence, look) == said
