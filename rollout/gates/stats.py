"""The statistics behind the gates: intervals that say how sure a comparison is. Pure, stdlib only.

- paired differences (quality): `discordance`, Tango's `paired_score` / `paired_interval` / `paired_excludes`,
  `paired_cases_to_decide`; a single look at one run of a suite;
- confidence sequences, valid at every look as evidence grows (docs/gates.md has the table):
  exact: `paired_sequence` (a mean of paired differences, safety), `rate_sequence` (a rate or a mean in [0, 1]);
  asymptotic: `mixture_half_width`, `normal_sequence`, `ratio_sequence`, `proportion_sequence` (feedback);
  `growth_to_decide` and `rate_cases_to_decide` say how much more evidence would decide;
- quantiles (latency): bootstrap draws from `random.Random(seed)` with a fixed seed; ratios of totals (cost):
  a jackknife interval with Student's `t_value`;
- `look_confidence`: the level a single-look interval is read at, on results that have been looked at before.

None of it depends on anything but its inputs, so the same results give the same verdict, byte for byte.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from statistics import NormalDist

SEED = 20261123
RESAMPLES = 2000
MAX_RESAMPLES = 50_000


@dataclass(frozen=True, kw_only=True)
class Interval:
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def z_value(confidence: float) -> float:
    """The two-sided normal quantile: 1.96 for 0.95."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def mean(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("the mean of no values")
    return math.fsum(values) / len(values)


def stdev(values: Sequence[float]) -> float:
    """Sample standard deviation; 0 for fewer than two values."""
    if len(values) < 2:
        return 0.0
    centre = mean(values)
    return math.sqrt(math.fsum((v - centre) ** 2 for v in values) / (len(values) - 1))


# Proportions ---------------------------------------------------------------------------------------------------------


def wilson(successes: int, n: int, *, confidence: float) -> Interval:
    """Wilson score interval for a proportion; the whole [0, 1] when there is no data."""
    if n <= 0:
        return Interval(low=0.0, high=1.0)
    z = z_value(confidence)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return Interval(low=max(0.0, centre - half), high=min(1.0, centre + half))


# Looks at accumulating results --------------------------------------------------------------------------------------
#
# The watch gates every round, and a sampled suite's results gain a run each round: the gates that read them with a
# single-look interval look again at more of the same cases. Each look's interval is valid at that look; spending
# keeps the whole series valid, however many rounds there are (a union bound: no assumption about how the looks
# depend on each other). The first look keeps the plan's level, so each side errs at most (1 - confidence) / 2
# there, as it always did; look k >= 2 errs at most (1 - confidence) / 2 * 6 / (pi^2 (k - 1)^2) per side, and those
# sum to (1 - confidence) / 2 over k = 2, 3, ... So over every look together each side errs at most 1 - confidence,
# the level the confidence sequences hold each side to.


def look_confidence(confidence: float, look: int) -> float:
    """The two-sided confidence for the `look`-th look at growing results: the plan's own at the first."""
    if look < 1:
        raise ValueError(f"looks count from 1, not {look}")
    if look == 1:
        return confidence
    return 1 - (1 - confidence) * 6 / (math.pi**2 * (look - 1) ** 2)


# Paired differences --------------------------------------------------------------------------------------------------
#
# Per-case differences green - blue of scores in [0, 1] lie in [-1, 1]. Their mean is the better mass minus the
# worse mass over the cases: for binary scores, the counts of improvements and regressions (the discordant pairs).
# Tango's score interval (1998) tests each hypothesised difference with the variance that difference implies
# (the restricted maximum-likelihood rates), not the observed one: 1 regression in 200 cases cannot show that the
# true regression rate is below 2%, because at 2% the spread is that of 4 expected regressions.


@dataclass(frozen=True, kw_only=True)
class Discordance:
    """Paired per-case differences as mass: `worse` sums the drops, `better` the gains (counts, for binary scores)."""

    worse: float
    better: float
    cases: int

    @property
    def difference(self) -> float:
        return (self.better - self.worse) / self.cases if self.cases else 0.0


def discordance(differences: Sequence[float]) -> Discordance:
    """The mass of per-case differences (each in [-1, 1]) below and above zero."""
    return Discordance(
        worse=math.fsum(-d for d in differences if d < 0),
        better=math.fsum(d for d in differences if d > 0),
        cases=len(differences),
    )


def paired_score(pairs: Discordance, difference: float) -> float:
    """Tango's score statistic for the hypothesis mean difference = `difference`; N(0, 1) under it.

    A graded difference d counts as |d| of a discordant pair: its variance is at most that of the
    pair it stands for (d² <= |d|), so the binary case is the widest and the test stays valid for graded scores.
    """
    n, worse, better, d = pairs.cases, pairs.worse, pairs.better, difference
    b = -better - worse + (2 * n - better + worse) * d
    c = -worse * d * (1 - d)
    # sqrt(b² - 8nc), without squaring b (tiny hypotheses would underflow to a wrong root).
    s = math.sqrt(8 * n * abs(c))
    root = math.hypot(b, s) if c <= 0 else math.sqrt(max(0.0, (abs(b) - s) * (abs(b) + s)))
    # The larger root of 2n p² + b p + c, in the form that does not cancel when b > 0.
    p_worse = max(0.0, -2 * c / (b + root) if b > 0 else (root - b) / (4 * n))
    variance = n * (2 * p_worse + d * (1 - d))
    observed = better - worse - n * d
    if variance <= 0.0:
        return math.copysign(math.inf, observed) if observed else 0.0
    return observed / math.sqrt(variance)


def paired_excludes(pairs: Discordance, difference: float, *, confidence: float) -> int:
    """+1 if the paired interval lies wholly above `difference`, -1 wholly below, 0 if it holds it.

    The score test at that one difference: the same answer as comparing the interval's ends (the score falls
    as the hypothesised difference rises), for a fraction of the cost.
    """
    score, z = paired_score(pairs, difference), z_value(confidence)
    return 1 if score > z else -1 if score < -z else 0


def paired_interval(pairs: Discordance, *, confidence: float) -> Interval:
    """Tango's score interval for the mean paired difference: every difference its score test does not reject."""
    if pairs.cases <= 0:
        return Interval(low=-1.0, high=1.0)
    z = z_value(confidence)
    centre = pairs.difference
    return Interval(
        low=_bisect(lambda d: paired_score(pairs, d) > z, -1.0, centre),
        high=_bisect(lambda d: paired_score(pairs, d) >= -z, centre, 1.0),
    )


def paired_cases_to_decide(pairs: Discordance, threshold: float, *, confidence: float) -> int | None:
    """How many cases, with the same mix of regressions and improvements, would put the interval off `threshold`.

    The restricted rates do not change when every count grows by the same factor, so the score grows as its root.
    """
    score = abs(paired_score(pairs, threshold))
    if score == 0.0 or not math.isfinite(score):
        return None
    return max(pairs.cases + 1, math.ceil(pairs.cases * (z_value(confidence) / score) ** 2))


def first_true(true: Callable[[int], bool], low: int, high: int) -> int:
    """The smallest integer in (low, high] where `true` holds, for a `true` that holds from some point on and at high."""
    while high - low > 1:
        middle = (low + high) // 2
        if true(middle):
            high = middle
        else:
            low = middle
    return high


def _bisect(inside: Callable[[float], bool], low: float, high: float) -> float:
    """The boundary between [low, x) where `inside` is True and [x, high] where it is False."""
    for _ in range(200):
        middle = (low + high) / 2
        if middle in (low, high):
            break
        if inside(middle):
            low = middle
        else:
            high = middle
    return (low + high) / 2


# An exact confidence sequence for a mean paired difference --------------------------------------------------------
#
# Where the hypothesis sits where the truth may be (safety: is green's failure rate above blue's at all?), score
# tests with few discordant cases reject too often (4 regressions and no improvement: 6% instead of 2.5%). Betting
# is exact: for values D in [-1, 1] with mean <= m, the wealth prod(1 + l (D - m)) has expectation <= 1 for any
# bet l in [0, 1 / (1 + m)], so it exceeds 1/alpha with probability <= alpha, at any number of cases (Ville).
# Ties (D = 0 at m = 0) leave the wealth unchanged: only the cases where the colors differ move it. Half the
# prior sits on the largest bet, so with no improvement 6 regressions decide, as the exact sign test's single look.

BETS = tuple((i + 0.5) / 20 for i in range(20))


def paired_sequence(differences: Sequence[float], *, confidence: float) -> Interval:
    """An exact confidence sequence for the mean of per-case differences in [-1, 1] (each side at half the level)."""
    counts = Counter(round(d, 12) for d in differences)
    if not counts:
        return Interval(low=-1.0, high=1.0)
    barrier = math.log(2 / (1 - confidence))
    mirrored = Counter({-value: count for value, count in counts.items()})
    centre = math.fsum(value * count for value, count in counts.items()) / sum(counts.values())
    return Interval(
        low=_bisect(lambda m: _log_wealth(counts, m) >= barrier, -1.0, centre),
        high=-_bisect(lambda m: _log_wealth(mirrored, m) >= barrier, -1.0, -centre),
    )


def _log_wealth(counts: Counter[float], mean: float) -> float:
    """log of the mixed wealth against "the mean is <= `mean`": half on the largest bet, half spread over BETS."""
    largest = 1 / (1 + mean)

    def log_product(bet: float) -> float:
        total = 0.0
        for value, count in counts.items():
            factor = 1 + bet * (value - mean)
            if factor <= 0:
                return -math.inf
            total += count * math.log(factor)
        return total

    logs = [log_product(largest) + math.log(0.5)] + [log_product(b * largest) + math.log(0.5 / len(BETS)) for b in BETS]
    top = max(logs)
    return top + math.log(math.fsum(math.exp(v - top) for v in logs)) if top > -math.inf else -math.inf


# Confidence sequences: intervals that hold at every look --------------------------------------------------------------
#
# A gate re-evaluated each watch round on growing evidence looks many times; an interval valid at one look is
# crossed by chance at some look far more often than its level says. A confidence sequence holds at all looks at
# once: with probability >= confidence it contains the truth at every sample size, however often it is read.


def mixture_half_width(standard_error: float, *, confidence: float, tuned_at: float) -> float:
    """The half-width of the two-sided normal-mixture confidence sequence around an asymptotically normal estimate.

    Robbins' normal mixture (Howard et al. 2021, eq. 14; Waudby-Smith et al. 2021, asymptotic CS): with I = 1/se²
    the information so far, |estimate - truth| stays below se * sqrt((1 + rI)/(rI) * log((1 + rI)/alpha²)) at
    every I at once, with probability >= confidence. `tuned_at` is the standard error at which the sequence is
    narrowest (r is chosen for it); anywhere near it costs little.
    """
    if standard_error <= 0.0:
        return 0.0
    if not math.isfinite(standard_error):
        return math.inf
    alpha = 1 - confidence
    twice_log = -2 * math.log(alpha)
    r_info = (twice_log + math.log(twice_log + 1)) * (tuned_at / standard_error) ** 2
    return standard_error * math.sqrt((1 + r_info) / r_info * (math.log1p(r_info) + twice_log))


def normal_sequence(estimate: float, standard_error: float, *, confidence: float, tuned_at: float) -> Interval:
    """The confidence sequence of a mean, a mean difference, or anything asymptotically normal with this error."""
    half = mixture_half_width(standard_error, confidence=confidence, tuned_at=tuned_at)
    return Interval(low=estimate - half, high=estimate + half)


def ratio_sequence(log_ratio: float, standard_error: float, *, confidence: float, tuned_at: float) -> Interval:
    """The confidence sequence of a ratio from its log and the log's standard error (delta method)."""
    half = mixture_half_width(standard_error, confidence=confidence, tuned_at=tuned_at)
    return Interval(low=math.exp(log_ratio - half), high=math.exp(log_ratio + half))


@dataclass(frozen=True, kw_only=True)
class Proportions:
    """Successes out of trials for the new (green) and the old (blue) version; the difference is new - old."""

    new: int
    new_n: int
    old: int
    old_n: int

    @property
    def difference(self) -> float:
        return self.new / self.new_n - self.old / self.old_n


def restricted_rates(counts: Proportions, difference: float) -> tuple[float, float]:
    """The maximum-likelihood (new, old) rates whose difference is `difference` (Farrington & Manning 1990)."""
    theta = counts.old_n / counts.new_n
    p_new, p_old, delta = counts.new / counts.new_n, counts.old / counts.old_n, difference
    a = 1 + theta
    b = -(1 + theta + p_new + theta * p_old + delta * (theta + 2))
    c = delta * delta + delta * (2 * p_new + theta + 1) + p_new + theta * p_old
    d = -p_new * delta * (1 + delta)
    v = b**3 / (27 * a**3) - b * c / (6 * a * a) + d / (2 * a)
    u = math.copysign(math.sqrt(max(0.0, b * b / (9 * a * a) - c / (3 * a))), v)
    angle = (math.pi + math.acos(max(-1.0, min(1.0, v / u**3)))) / 3 if u else math.pi / 3
    new = min(1.0 + min(0.0, delta), max(max(0.0, delta), 2 * u * math.cos(angle) - b / (3 * a)))
    return new, new - delta


def proportion_score(counts: Proportions, difference: float) -> tuple[float, float]:
    """(observed difference - `difference`, its standard error under that difference): the score test's parts."""
    new, old = restricted_rates(counts, difference)
    variance = new * (1 - new) / counts.new_n + old * (1 - old) / counts.old_n
    return counts.difference - difference, math.sqrt(max(0.0, variance))


def proportion_sequence_excludes(counts: Proportions, difference: float, *, confidence: float, tuned_at: float) -> int:
    """+1 if the score confidence sequence lies wholly above `difference`, -1 wholly below, 0 if it holds it."""
    distance, error = proportion_score(counts, difference)
    if abs(distance) <= mixture_half_width(error, confidence=confidence, tuned_at=tuned_at):
        return 0
    return 1 if distance > 0 else -1


def proportion_sequence(counts: Proportions, *, confidence: float, tuned_at: float) -> Interval:
    """The score confidence sequence for new - old: every difference whose own score test it does not exclude.

    Each hypothesised difference is judged with the standard error it implies, as Miettinen and Nurminen's score
    interval does, and with the normal-mixture boundary in place of the fixed normal quantile, so it holds at
    every look. Valid as the counts grow (asymptotically: the benchmark checks it at the sizes gates see).
    """
    centre = counts.difference

    def excludes(d: float) -> int:
        return proportion_sequence_excludes(counts, d, confidence=confidence, tuned_at=tuned_at)

    return Interval(
        low=_bisect(lambda d: excludes(d) == 1, -1.0, centre),
        high=_bisect(lambda d: excludes(d) != -1, centre, 1.0),
    )


def growth_to_decide(distance: float, standard_error: float, *, confidence: float, tuned_at: float) -> float | None:
    """By what factor the evidence must grow for the sequence to leave a threshold `distance` from the estimate.

    Assumes the estimate stays where it is and the standard error shrinks as 1/sqrt(evidence); None when the
    estimate sits on the threshold.
    """
    if distance == 0.0 or standard_error <= 0.0:
        return None

    def decides(factor: float) -> bool:
        return abs(distance) > mixture_half_width(
            standard_error / math.sqrt(factor), confidence=confidence, tuned_at=tuned_at
        )

    low, high = 1.0, 2.0
    while not decides(high):
        low, high = high, high * 2
        if high > 1e12:
            return None
    for _ in range(60):
        middle = math.sqrt(low * high)
        if decides(middle):
            high = middle
        else:
            low = middle
    return high


# An exact confidence sequence for a rate -----------------------------------------------------------------------------


def rate_sequence(
    failures: float, trials: float, *, confidence: float, prior: tuple[float, float] = (0.2, 2.0)
) -> Interval:
    """An exact confidence sequence for a mean of values in [0, 1]: a failure rate, per case, repeats averaged.

    The beta-binomial mixture martingale (Robbins 1970; Howard et al. 2021): for each rate m, the Beta-mixed
    likelihood ratio of the values against m. It is a test martingale for values in [0, 1] whose mean is m, not
    only 0/1 ones (x^t y^(1-t) <= t x + (1-t) y), so a case's repeats count as one value, its failure rate. No
    approximation: the interval holds with probability >= confidence at every size, however often it is read.
    The prior Beta(0.2, 2) leans towards small rates: 0 failures in 34 cases bounds the rate at 10.1% (exact
    one-sided 97.5%: 10.3%); with failures it is up to 1.5 times as wide as Clopper-Pearson's single look.
    """
    if trials <= 0:
        return Interval(low=0.0, high=1.0)
    a, b = prior
    k, n = failures, trials
    log_prior = math.lgamma(a + k) + math.lgamma(b + n - k) - math.lgamma(a + b + n) - _log_beta(a, b)
    barrier = -math.log(1 - confidence)

    def rejected(m: float) -> bool:
        return log_prior - k * math.log(m) - (n - k) * math.log1p(-m) >= barrier

    centre = min(max(k / n, 0.0), 1.0)
    low = 0.0 if centre <= 0.0 else _bisect(rejected, 0.0, centre)
    high = 1.0 if centre >= 1.0 else _bisect(lambda m: not rejected(m), centre, 1.0)
    return Interval(low=low, high=high)


def rate_cases_to_decide(failures: float, trials: float, bar: float, *, confidence: float) -> int | None:
    """How many cases, failing at the same rate, would put the rate's confidence sequence off `bar`."""
    rate = failures / trials if trials > 0 else 0.0
    if trials <= 0 or rate == bar:
        return None

    def decides(cases: float) -> bool:
        interval = rate_sequence(rate * cases, cases, confidence=confidence)
        return interval.high <= bar if rate < bar else interval.low > bar

    low, high = trials, 2 * trials
    while not decides(high):
        low, high = high, 2 * high
        if high > 1e9:
            return None
    while high - low > 1:
        middle = (low + high) / 2
        if decides(middle):
            high = middle
        else:
            low = middle
    return math.ceil(high)


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _percentiles(ordered: Sequence[float], confidence: float) -> Interval:
    tail = (1 - confidence) / 2
    last = len(ordered) - 1
    low = ordered[max(0, min(last, math.floor(tail * len(ordered))))]
    high = ordered[max(0, min(last, math.ceil((1 - tail) * len(ordered)) - 1))]
    return Interval(low=low, high=high)


# Quantiles of latencies ----------------------------------------------------------------------------------------------


def quantile(ordered: Sequence[float], q: float) -> float:
    """The sample q-quantile of sorted values: the ceil(q*n)-th smallest (the inverted-CDF definition)."""
    if not ordered:
        raise ValueError("the quantile of no values")
    return ordered[_rank(len(ordered), q) - 1]


def _rank(n: int, q: float) -> int:
    return min(n, max(1, math.ceil(q * n)))


def bootstrap_quantile_draws(
    ordered: Sequence[float], q: float, *, rng: random.Random, resamples: int = RESAMPLES
) -> list[float]:
    """Draws from the bootstrap distribution of the sample q-quantile, without resampling.

    The m-th smallest of n draws from the sample is the value at rank ceil(n*U) where U is the m-th
    smallest of n uniforms, and that is Beta(m, n-m+1): one beta draw replaces a resample and a sort.
    """
    n = len(ordered)
    m = _rank(n, q)
    return [ordered[min(n, max(1, math.ceil(n * rng.betavariate(m, n - m + 1)))) - 1] for _ in range(resamples)]


def tail_resamples(confidence: float) -> int:
    """Bootstrap draws enough for 50 in each tail of a percentile interval: RESAMPLES at 95%, more above, capped.

    A spent level's tail is narrow: at 99.94% (look 8) 2,000 draws put less than one draw in it, and the interval
    would end at the most extreme draw whatever the level.
    """
    return min(MAX_RESAMPLES, max(RESAMPLES, math.ceil(50 / ((1 - confidence) / 2) - 1e-6)))


def quantile_interval(
    ordered: Sequence[float], q: float, *, confidence: float, seed: int = SEED, resamples: int = RESAMPLES
) -> Interval:
    """Percentile bootstrap interval of the sample q-quantile of sorted values."""
    draws = bootstrap_quantile_draws(ordered, q, rng=random.Random(seed), resamples=resamples)
    return _percentiles(sorted(draws), confidence)


def quantile_ratio_interval(
    numerator: Sequence[float],
    denominator: Sequence[float],
    q: float,
    *,
    confidence: float,
    seed: int = SEED,
    resamples: int = RESAMPLES,
) -> Interval | None:
    """Percentile bootstrap interval of quantile(numerator) / quantile(denominator), both sorted.

    None when a resampled denominator is zero, where the ratio means nothing.
    """
    rng = random.Random(seed)
    tops = bootstrap_quantile_draws(numerator, q, rng=rng, resamples=resamples)
    bottoms = bootstrap_quantile_draws(denominator, q, rng=rng, resamples=resamples)
    if min(bottoms) <= 0:
        return None
    return _percentiles(sorted(t / b for t, b in zip(tops, bottoms, strict=True)), confidence)


# Ratios of totals ----------------------------------------------------------------------------------------------------


def ratio_of_ratios_interval(
    pairs: Sequence[tuple[float, float, float, float]], *, confidence: float
) -> tuple[float, Interval] | None:
    """(A/T) / (B/U) over per-case totals (a, t, b, u), with a jackknife interval on the log scale.

    The cost gate uses it for GPU-seconds per output token, green over blue, paired by case. The spread is the
    jackknife's (each case left out in turn) and the quantile Student's t with n - 1 degrees of freedom: a few
    long cases carry most of a total, and the delta method's spread then runs short (at 20 cases with heavy-tailed
    timings it promoted a green at the limit in 6.7% of rollouts at one look instead of 2.5%, the jackknife in
    3.8%; benchmarks/README.md). One case gives no spread: the interval is unbounded. None when any total is zero.
    """
    n = len(pairs)
    totals = [math.fsum(p[i] for p in pairs) for i in range(4)]
    if n == 0 or min(totals) <= 0:
        return None
    a, t, b, u = totals
    ratio = (a / t) / (b / u)
    if n == 1:
        return ratio, Interval(low=0.0, high=math.inf)
    left_out = [_log_ratio_of_ratios(a - pa, t - pt, b - pb, u - pu) for pa, pt, pb, pu in pairs]
    if None in left_out:
        return ratio, Interval(low=0.0, high=math.inf)
    logs = [v for v in left_out if v is not None]
    centre = math.fsum(logs) / n
    spread = t_value(confidence, n - 1) * math.sqrt((n - 1) / n * math.fsum((v - centre) ** 2 for v in logs))
    log_ratio = math.log(ratio)
    return ratio, Interval(low=math.exp(log_ratio - spread), high=math.exp(log_ratio + spread))


def _log_ratio_of_ratios(a: float, t: float, b: float, u: float) -> float | None:
    # A case holding all of a total leaves nothing when it is left out (rounding can leave a crumb either sign).
    if min(a, t, b, u) <= 0:
        return None
    return math.log(a / t) - math.log(b / u)


@cache
def t_value(confidence: float, degrees: int) -> float:
    """The two-sided Student t quantile: 2.01 for 0.95 at 49 degrees of freedom; z_value as they grow."""
    tail = 1 - confidence
    high = 2 * z_value(confidence)
    while _t_two_sided_tail(high, degrees) > tail:
        high *= 2
    return _bisect(lambda x: _t_two_sided_tail(x, degrees) > tail, 0.0, high)


def _t_two_sided_tail(x: float, degrees: int) -> float:
    """P(|T| > x) for Student's t: the regularized incomplete beta I_{d/(d+x^2)}(d/2, 1/2)."""
    return _incomplete_beta(degrees / (degrees + x * x), degrees / 2, 0.5)


def _incomplete_beta(x: float, a: float, b: float) -> float:
    """The regularized incomplete beta function I_x(a, b), by its continued fraction (Lentz's method)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    if x > (a + 1) / (a + b + 2):
        return 1 - _incomplete_beta(1 - x, b, a)
    front = math.exp(a * math.log(x) + b * math.log1p(-x) - _log_beta(a, b)) / a
    c, d = 1.0, 1 / _away_from_zero(1 - (a + b) * x / (a + 1))
    fraction = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 / _away_from_zero(1 + numerator * d)
            c = _away_from_zero(1 + numerator / c)
            fraction *= c * d
        if abs(c * d - 1) < 1e-15:
            break
    return front * fraction


def _away_from_zero(value: float) -> float:
    return value if abs(value) > 1e-300 else 1e-300


# Sample sizes --------------------------------------------------------------------------------------------------------


def paired_repeats_to_decide(
    differences: Sequence[float],
    noise: Sequence[float],
    threshold: float,
    *,
    repeats: int,
    look: int,
    confidence: float,
) -> int | None:
    """How many repeats per case, accumulated round by round at the rate so far, would decide; None if none would.

    `noise` is each case's variance of its difference from its repeats alone (their spread over their count).
    Each difference is taken as a true one plus that noise: the true ones keep the observed mean and spread as
    the differences do less the noise (by moments), and with R repeats the noise's variance falls by repeats / R.
    The discordant mass (worse + better) then shrinks as each case's expected |difference| does, normally, from
    what was observed; the mean stays. R decides when Tango's score test at the threshold does, at the level of
    the look on which R repeats are reached: the interval the gate reads. With few cases no number of repeats
    decides (an all-tie suite of 100 cases cannot show a 0.02 margin), and the answer says so.
    """
    n = len(differences)
    if n == 0 or repeats < 2 or not any(v > 0 for v in noise):
        return None
    centre = math.fsum(differences) / n
    spread = math.fsum((d - centre) ** 2 for d in differences)
    shrink = math.sqrt(max(0.0, 1 - math.fsum(noise) / spread)) if spread > 0 else 0.0
    cases = Counter((round(centre + shrink * (d - centre), 12), v) for d, v in zip(differences, noise, strict=True))
    observed = math.fsum(abs(d) for d in differences)
    balance = centre * n

    def absolute_mass(scale: float) -> float:
        total = 0.0
        for (truth, variance), count in cases.items():
            s = math.sqrt(variance * scale)
            if s > 0:
                u = truth / s
                total += count * (
                    truth * math.erf(u / math.sqrt(2)) + s * math.sqrt(2 / math.pi) * math.exp(-u * u / 2)
                )
            else:
                total += count * abs(truth)
        return total

    now = absolute_mass(1.0)

    def decides(rounds: int) -> bool:
        mass = max(abs(balance), observed * absolute_mass(look / rounds) / now if now > 0 else observed)
        pairs = Discordance(worse=(mass - balance) / 2, better=(mass + balance) / 2, cases=n)
        return abs(paired_score(pairs, threshold)) > z_value(look_confidence(confidence, rounds))

    low, high = look, look + 1
    while not decides(high):
        if high >= MAX_ROUNDS * look:
            return None
        low, high = high, look + 2 * (high - look)
    return math.ceil(repeats / look * first_true(decides, low, high) - 1e-9)


MAX_ROUNDS = 1024
"""paired_repeats_to_decide looks no further than this many times the rounds so far."""
