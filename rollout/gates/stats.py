"""The statistics behind the gates: intervals that say how sure a comparison is. Pure, stdlib only.

Every random draw comes from `random.Random(seed)` with a fixed seed, so the same inputs give the same
interval, and therefore the same verdict, byte for byte.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

SEED = 20261123
RESAMPLES = 2000


@dataclass(frozen=True, kw_only=True)
class Interval:
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


@dataclass(frozen=True, kw_only=True)
class SampleSize:
    """What would decide an inconclusive comparison: this many cases, or (where known) this many repeats."""

    cases: int | None
    repeats: int | None = None


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


# Paired bootstrap of a mean ------------------------------------------------------------------------------------------


def bootstrap_mean(
    values: Sequence[float],
    *,
    confidence: float,
    pseudo: Sequence[float] = (),
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Interval:
    """Percentile bootstrap interval of the mean of `values` (for paired data: the per-case differences).

    `pseudo` values join the sample before resampling. The quality gate adds one at each end of the
    possible range, the bounded-score analogue of the Agresti-Coull "add two" rule: without them a small
    suite on which the two colors happen to agree everywhere would bootstrap to the interval [0, 0],
    and a candidate that fails 1 case in 30 would pass 50 cases unseen a fifth of the time.
    """
    # Rounding far below any score's precision merges values that differ only by float noise ((0.1 + 0.7) / 5
    # against (0.3 + 0.5) / 5), so graded scores averaged over repeats keep few distinct values too.
    sample = [round(v, 12) for v in (*values, *pseudo)]
    if not sample:
        raise ValueError("a bootstrap needs at least one value")
    rng = random.Random(seed)
    n = len(sample)
    counts = Counter(sample)
    if len(counts) * 16 <= n:
        sums = _multinomial_sums(rng, counts, n, resamples)
    else:
        sums = [math.fsum(rng.choices(sample, k=n)) for _ in range(resamples)]
    return _percentiles(sorted(s / n for s in sums), confidence)


def _multinomial_sums(rng: random.Random, counts: Counter[float], n: int, resamples: int) -> list[float]:
    # Resampling n cases with replacement only changes how often each distinct value is drawn, and those
    # counts are multinomial: draw them as a chain of binomials. Scores from binary graders averaged over a
    # few repeats take a handful of distinct values, so 10,000 cases cost a dozen draws per resample.
    items = sorted(counts.items())
    tails = [0] * len(items)
    left = 0
    for i in range(len(items) - 1, -1, -1):
        left += items[i][1]
        tails[i] = left
    sums = []
    for _ in range(resamples):
        remaining = n
        total = 0.0
        for (value, count), tail in zip(items[:-1], tails[:-1], strict=True):
            drawn = binomial(rng, remaining, count / tail)
            total += value * drawn
            remaining -= drawn
        total += items[-1][0] * remaining
        sums.append(total)
    return sums


def _percentiles(ordered: Sequence[float], confidence: float) -> Interval:
    tail = (1 - confidence) / 2
    last = len(ordered) - 1
    low = ordered[max(0, min(last, math.floor(tail * len(ordered))))]
    high = ordered[max(0, min(last, math.ceil((1 - tail) * len(ordered)) - 1))]
    return Interval(low=low, high=high)


def binomial(rng: random.Random, n: int, p: float) -> int:
    """One Binomial(n, p) draw: waiting times for small n*p, else Hormann's BTRS (1993) rejection sampler."""
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    if p > 0.5:
        return n - binomial(rng, n, 1.0 - p)
    if n * p < 10.0:
        log_q = math.log1p(-p)
        successes = trials = 0
        while True:
            trials += math.floor(math.log(1.0 - rng.random()) / log_q) + 1
            if trials > n:
                return successes
            successes += 1
    return _btrs(rng, n, p)


def _btrs(rng: random.Random, n: int, p: float) -> int:
    q = 1.0 - p
    spq = math.sqrt(n * p * q)
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    v_r = 0.92 - 4.2 / b
    alpha = (2.83 + 5.1 / b) * spq
    lpq = math.log(p / q)
    m = math.floor((n + 1) * p)
    h = math.lgamma(m + 1) + math.lgamma(n - m + 1)
    while True:
        u = rng.random() - 0.5
        v = rng.random()
        us = 0.5 - abs(u)
        if us <= 0.0:
            continue
        k = math.floor((2 * a / us + b) * u + c)
        if k < 0 or k > n:
            continue
        if us >= 0.07 and v <= v_r:
            return k
        v *= alpha / (a / (us * us) + b)
        if v <= 0.0 or math.log(v) <= h - math.lgamma(k + 1) - math.lgamma(n - k + 1) + (k - m) * lpq:
            return k


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


def clopper_pearson(successes: int, n: int, *, confidence: float) -> Interval:
    """Exact (Clopper-Pearson) two-sided interval for a proportion."""
    if n <= 0:
        return Interval(low=0.0, high=1.0)
    tail = (1 - confidence) / 2
    low = 0.0 if successes == 0 else beta_quantile(tail, successes, n - successes + 1)
    high = 1.0 if successes == n else beta_quantile(1 - tail, successes + 1, n - successes)
    return Interval(low=low, high=high)


def exact_upper_bound(successes: int, n: int, *, confidence: float) -> float:
    """One-sided exact upper bound: the true rate is below it with this confidence (3/n-ish for 0 of n)."""
    if n <= 0 or successes >= n:
        return 1.0
    return beta_quantile(confidence, successes + 1, n - successes)


def noninferiority_interval(
    successes_new: int, n_new: int, successes_old: int, n_old: int, *, confidence: float
) -> Interval:
    """Newcombe's hybrid score interval for p_new - p_old, built from the two Wilson intervals."""
    p_new = successes_new / n_new if n_new else 0.0
    p_old = successes_old / n_old if n_old else 0.0
    new = wilson(successes_new, n_new, confidence=confidence)
    old = wilson(successes_old, n_old, confidence=confidence)
    difference = p_new - p_old
    return Interval(
        low=difference - math.sqrt((p_new - new.low) ** 2 + (old.high - p_old) ** 2),
        high=difference + math.sqrt((new.high - p_new) ** 2 + (p_old - old.low) ** 2),
    )


def regularized_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b), the regularized incomplete beta function (the Beta(a, b) CDF), by Lentz's continued fraction."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(x, a, b) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(1.0 - x, b, a) / b


def _beta_fraction(x: float, a: float, b: float) -> float:
    tiny = 1e-300
    c = 1.0
    d = 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 100_000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            step = c * d
            result *= step
        if abs(step - 1.0) < 1e-15:
            break
    return result


def beta_quantile(probability: float, a: float, b: float) -> float:
    """The x with I_x(a, b) = probability, by bisection (the CDF is monotone, so this always converges)."""
    low, high = 0.0, 1.0
    for _ in range(200):
        middle = (low + high) / 2
        if middle in (low, high):
            break
        if regularized_beta(middle, a, b) < probability:
            low = middle
        else:
            high = middle
    return (low + high) / 2


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


def quantile_interval(ordered: Sequence[float], q: float, *, confidence: float, seed: int = SEED) -> Interval:
    """Percentile bootstrap interval of the sample q-quantile of sorted values."""
    draws = bootstrap_quantile_draws(ordered, q, rng=random.Random(seed))
    return _percentiles(sorted(draws), confidence)


def quantile_ratio_interval(
    numerator: Sequence[float], denominator: Sequence[float], q: float, *, confidence: float, seed: int = SEED
) -> Interval | None:
    """Percentile bootstrap interval of quantile(numerator) / quantile(denominator), both sorted.

    None when a resampled denominator is zero, where the ratio means nothing.
    """
    rng = random.Random(seed)
    tops = bootstrap_quantile_draws(numerator, q, rng=rng)
    bottoms = bootstrap_quantile_draws(denominator, q, rng=rng)
    if min(bottoms) <= 0:
        return None
    return _percentiles(sorted(t / b for t, b in zip(tops, bottoms, strict=True)), confidence)


# Ratios of totals ----------------------------------------------------------------------------------------------------


def ratio_of_ratios_interval(
    pairs: Sequence[tuple[float, float, float, float]], *, confidence: float
) -> tuple[float, Interval] | None:
    """(A/T) / (B/U) over per-case totals (a, t, b, u), with a delta-method interval on the log scale.

    The cost gate uses it for GPU-seconds per output token, green over blue, paired by case.
    None when any total is zero.
    """
    n = len(pairs)
    totals = [math.fsum(p[i] for p in pairs) for i in range(4)]
    if n == 0 or min(totals) <= 0:
        return None
    a, t, b, u = totals
    ratio = (a / t) / (b / u)
    influence = [n * (pa / a - pt / t - pb / b + pu / u) for pa, pt, pb, pu in pairs]
    spread = z_value(confidence) * stdev(influence) / math.sqrt(n)
    log_ratio = math.log(ratio)
    return ratio, Interval(low=math.exp(log_ratio - spread), high=math.exp(log_ratio + spread))


# Sample sizes --------------------------------------------------------------------------------------------------------


def samples_to_decide(n: int, half_width: float, distance: float) -> int | None:
    """How many samples would shrink the interval's half-width below its distance from the threshold.

    Half-widths shrink as 1/sqrt(n). None when the estimate sits on the threshold, where no finite
    sample decides.
    """
    if distance <= 0 or half_width <= 0 or n <= 0:
        return None
    return max(n + 1, math.ceil(n * (half_width / distance) ** 2))


def repeats_to_decide(
    *, cases: int, between_variance: float, within_variance: float, distance: float, confidence: float
) -> int | None:
    """How many repeats per case would decide, with the same cases; None if repeats alone cannot.

    A per-case mean over r repeats varies as between + within / r; only the within-case part (the
    sampling noise of the model) shrinks with more repeats.
    """
    if distance <= 0 or within_variance <= 0 or cases <= 0:
        return None
    z = z_value(confidence)
    room = distance * distance * cases / (z * z) - between_variance
    if room <= 0:
        return None
    return math.ceil(within_variance / room)
