"""How often the gates promote a worse green, and block an equal one: exactly where it can be counted, else simulated.

Our promise: a green truly worse by exactly the margin is promoted in at most 5% of rollouts, and an equal green
is failed in at most 2.5%, whatever the suite size, discordance, repeats or how often the gate is read (where
that was measured not to hold: benchmarks/README.md).

    .venv/bin/python benchmarks/gate_decision.py binary     # quality, binary scores: exact, by enumeration
    .venv/bin/python benchmarks/gate_decision.py graded     # quality, repeats and graded scores: simulated
    .venv/bin/python benchmarks/gate_decision.py rounds     # quality and cost, a sampled suite read every round
    .venv/bin/python benchmarks/gate_decision.py latency    # latency's p95 ratio, one look on accumulated rounds
    .venv/bin/python benchmarks/gate_decision.py safety     # safety with repeats, and the absolute bar: simulated
    .venv/bin/python benchmarks/gate_decision.py feedback   # feedback votes read every hour for 14 days: simulated
    .venv/bin/python benchmarks/gate_decision.py unequal    # feedback, one look, green at 5% of the votes
    .venv/bin/python benchmarks/gate_decision.py all [--runs N] [--rollouts N] [--seed S]

Each decision is the package's own: `paired_excludes` (what the quality and safety gates decide with),
`rate_sequence` (the safety bar), `proportion_sequence_excludes` (the feedback gate). numpy and scipy draw the
simulations and give the exact binomial probabilities; the gates use neither.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.stats import binom, norm

from rollout.gates.feedback import tuning
from rollout.gates.stats import (
    Discordance,
    Interval,
    Proportions,
    first_true,
    look_confidence,
    paired_excludes,
    paired_sequence,
    proportion_score,
    proportion_sequence_excludes,
    quantile_ratio_interval,
    rate_sequence,
    ratio_of_ratios_interval,
    stdev,
    z_value,
)
from rollout.gates.verdict import compare

CONFIDENCE = 0.95
MARGIN = 0.02
SIZES = (20, 50, 200, 1000, 5000)
BLUE_RATES = (0.5, 0.7, 0.9, 0.95)
CORRELATIONS = (0.0, 0.5, 0.9, 0.95)
FINE_SIZES = (20, 30, 50, 100, 200, 300, 500, 1000, 2000, 5000)
FINE_BLUE = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
FINE_CORRELATIONS = (0.0, 0.25, 0.5, 0.75, 0.9, 0.95)
FEEDBACK_MARGIN = 0.03
COST_LIMIT = 1.1
LATENCY_LIMIT = 1.2


def percent(x: float) -> str:
    return f"{100 * x:.1f}%"


# Quality, binary scores: exact -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Cell:
    """The four joint outcomes of a case: blue right and green wrong (worse), the reverse (better), ties."""

    worse: float
    better: float
    capped: bool


def cell(blue: float, green: float, correlation: float) -> Cell:
    """Joint rates with this phi correlation, capped at the largest one the two rates allow."""
    both = blue * green + correlation * math.sqrt(blue * (1 - blue) * green * (1 - green))
    most = min(blue, green)
    capped = both > most
    both = min(both, most)
    return Cell(worse=blue - both, better=green - both, capped=capped)


def decisions(n: int, joint: Cell, threshold: float) -> tuple[float, float, float]:
    """P(pass), P(fail) of the quality gate and P(pass) of the naive rule, summed over every (worse, better) count.

    W ~ Binomial(n, worse); given W = w, B ~ Binomial(n - w, better / (1 - worse)). The gate passes for a given
    w from some smallest count of improvements on, and fails up to some largest one (the score rises with
    improvements); each boundary is found by bisection, so a cell costs a few thousand score tests.
    """
    low_w, high_w = (int(v) for v in binom.ppf([1e-13, 1 - 1e-13], n, joint.worse)) if joint.worse > 0 else (0, 0)
    conditional = joint.better / (1 - joint.worse) if joint.worse < 1 else 0.0
    passed = failed = naive = 0.0
    for w in range(low_w, high_w + 1):
        weight = float(binom.pmf(w, n, joint.worse))
        if weight < 1e-16:
            continue
        rest = n - w

        def side(g: int, w: int = w) -> int:
            return paired_excludes(Discordance(worse=w, better=g, cases=n), threshold, confidence=CONFIDENCE)

        first_pass = _first(lambda g: side(g) > 0, rest)
        last_fail = _first(lambda g: side(g) >= 0, rest) - 1
        passed += weight * float(binom.sf(first_pass - 1, rest, conditional))
        failed += weight * float(binom.cdf(last_fail, rest, conditional))
        # naive: (g - w) / n >= threshold
        naive += weight * float(binom.sf(math.ceil(w + threshold * n - 1e-9) - 1, rest, conditional))
    return passed, failed, naive


def _first(true: Callable[[int], bool], most: int) -> int:
    """The smallest g in [0, most] with true(g) (true is monotone), or most + 1 if none."""
    return first_true(true, -1, most) if true(most) else most + 1


def binary_table() -> None:
    print("Quality gate, binary scores, exact (every count of regressions and improvements enumerated).")
    print(f"Margin {MARGIN}; blue pass rate x phi correlation between the colors' per-case scores; 'capped':")
    print("the correlation is the largest the two rates allow (green never better than blue on any case).\n")
    print(
        "| cases | blue | correlation | discordant (worse) | worse: promoted | naive | decided "
        "| discordant (equal) | equal: failed | promoted | decided |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in SIZES:
        for blue in BLUE_RATES:
            for correlation in CORRELATIONS:
                worse_cell = cell(blue, blue - MARGIN, correlation)
                equal_cell = cell(blue, blue, correlation)
                w_pass, w_fail, w_naive = decisions(n, worse_cell, -MARGIN)
                e_pass, e_fail, _ = decisions(n, equal_cell, -MARGIN)
                mark = " (capped)" if worse_cell.capped else ""
                print(
                    f"| {n:,} | {blue} | {correlation}{mark} | {percent(worse_cell.worse + worse_cell.better)} "
                    f"| {percent(w_pass)} | {percent(w_naive)} | {percent(w_pass + w_fail)} "
                    f"| {percent(equal_cell.worse + equal_cell.better)} | {percent(e_fail)} | {percent(e_pass)} "
                    f"| {percent(e_pass + e_fail)} |",
                    flush=True,
                )
    print(f"\nEvery cell of the finer grid: blue {', '.join(map(str, FINE_BLUE))} x correlation")
    print(f"{', '.join(map(str, FINE_CORRELATIONS))}, worst cell per size (blue, correlation in brackets):\n")
    print(
        "| cases | worst false promotion | (naive rule's worst) | worst false block | least often an equal green passes |"
    )
    print("|---:|---:|---:|---:|---:|")
    for n in FINE_SIZES:
        promotion: tuple[float, str] = (0.0, "")
        naive: tuple[float, str] = (0.0, "")
        block: tuple[float, str] = (0.0, "")
        equal: tuple[float, str] = (1.0, "")
        for blue in FINE_BLUE:
            for correlation in FINE_CORRELATIONS:
                where = f"({blue}, {correlation})"
                w_pass, _, w_naive = decisions(n, cell(blue, blue - MARGIN, correlation), -MARGIN)
                e_pass, e_fail, _ = decisions(n, cell(blue, blue, correlation), -MARGIN)
                promotion = max(promotion, (w_pass, where))
                naive = max(naive, (w_naive, where))
                block = max(block, (e_fail, where))
                equal = min(equal, (e_pass, where))
        print(
            f"| {n:,} | {percent(promotion[0])} {promotion[1]} | {percent(naive[0])} | {percent(block[0])} {block[1]} "
            f"| {percent(equal[0])} {equal[1]} |",
            flush=True,
        )
    e_pass, e_fail, _ = decisions(1000, cell(0.9, 0.9, 0.9), -MARGIN)
    print(f"\nEqual green, 1,000 cases, blue 0.9, correlation 0.9: passes {percent(e_pass)}, fails {percent(e_fail)}")


# Quality, repeats and graded scores: simulated -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Suite:
    """A simulated suite: its size, each color's true mean score, how much green differs per case, and the noise."""

    cases: int
    blue: float
    green: float
    idiosyncrasy: float
    noise: float


def case_chances(rng: np.random.Generator, suite: Suite, *, runs: int) -> tuple[np.ndarray, np.ndarray]:
    """Each case's chance of a right answer per repeat (runs x cases), for each color; true means exactly the suite's.

    Case difficulty t ~ N(0, 1) is shared; green adds its own u ~ N(0, idiosyncrasy). A repeat's chance of being
    right is Phi((threshold - t [- u]) / noise): sampling noise between repeats (with no noise, 0 or 1).
    """
    noise = suite.noise
    blue_threshold = math.sqrt(1 + noise**2) * norm.ppf(suite.blue)
    green_threshold = math.sqrt(1 + suite.idiosyncrasy**2 + noise**2) * norm.ppf(suite.green)
    difficulty = rng.standard_normal((runs, suite.cases))
    own = rng.standard_normal((runs, suite.cases)) * suite.idiosyncrasy

    def chance(threshold: float, shift: np.ndarray) -> np.ndarray:
        result: np.ndarray = (
            (difficulty + shift < threshold).astype(float)
            if noise == 0
            else norm.cdf((threshold - difficulty - shift) / noise)
        )
        return result

    return chance(blue_threshold, np.zeros_like(own)), chance(green_threshold, own)


def repeat_scores(rng: np.random.Generator, chance: np.ndarray, *, repeats: int, graded: bool) -> np.ndarray:
    """Per-case mean scores over `repeats` repeats: each 0/1, or, graded, the share of ten sub-checks passed at
    that chance (scores in tenths, the same mean)."""
    shape = (*chance.shape, repeats)
    if graded:
        draws = rng.binomial(10, chance[..., None], size=shape) / 10
    else:
        draws = (rng.random(shape) < chance[..., None]).astype(float)
    result: np.ndarray = draws.mean(axis=-1)
    return result


def simulate_quality(
    rng: np.random.Generator, suite: Suite, *, runs: int, repeats: int, graded: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Per-case mean scores (runs x cases) over `repeats` repeats, for each color."""
    blue_chance, green_chance = case_chances(rng, suite, runs=runs)
    blue_scores = repeat_scores(rng, blue_chance, repeats=repeats, graded=graded)
    return blue_scores, repeat_scores(rng, green_chance, repeats=repeats, graded=graded)


def quality_sides(blue: np.ndarray, green: np.ndarray, threshold: float, *, confidence: float) -> list[int]:
    """The quality gate's decision on each simulated suite: +1 pass, -1 fail, 0 hold."""
    diffs = np.round(green - blue, 12)
    worse = np.where(diffs < 0, -diffs, 0).sum(axis=1)
    better = np.where(diffs > 0, diffs, 0).sum(axis=1)
    n = diffs.shape[1]
    return [
        paired_excludes(Discordance(worse=float(w), better=float(b), cases=n), threshold, confidence=confidence)
        for w, b in zip(worse, better, strict=True)
    ]


def quality_outcomes(blue: np.ndarray, green: np.ndarray, threshold: float) -> tuple[float, float, float]:
    """Share passed, failed, and passed by the naive rule, over the simulated suites."""
    sides = quality_sides(blue, green, threshold, confidence=CONFIDENCE)
    naive = float(np.mean(np.round(green - blue, 12).mean(axis=1) >= threshold))
    return sides.count(1) / len(sides), sides.count(-1) / len(sides), naive


def graded_table(rng: np.random.Generator, runs: int) -> None:
    print(f"Quality gate with repeats and graded scores, simulated: {runs} suites per cell, margin {MARGIN}.")
    print("Noise 0.5 is repeat-to-repeat sampling noise; idiosyncrasy sets how much the versions differ per case.\n")
    print(
        "| cases | blue | scores | repeats | idiosyncrasy | mean abs. difference | worse: promoted | naive "
        "| equal: failed | promoted |"
    )
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    worst = [0.0, 0.0]
    for cases in (20, 200, 1000, 5000):
        for blue in (0.5, 0.9):
            for graded in (False, True):
                for repeats in (1, 3, 5):
                    for idiosyncrasy in (0.1, 0.5):
                        count = runs // 4 if cases >= 5000 else runs
                        worse = Suite(cases=cases, blue=blue, green=blue - MARGIN, idiosyncrasy=idiosyncrasy, noise=0.5)
                        b, g = simulate_quality(rng, worse, runs=count, repeats=repeats, graded=graded)
                        w_pass, _, w_naive = quality_outcomes(b, g, -MARGIN)
                        disagreement = float(np.abs(g - b).mean())
                        b, g = simulate_quality(
                            rng, replace(worse, green=blue), runs=count, repeats=repeats, graded=graded
                        )
                        e_pass, e_fail, _ = quality_outcomes(b, g, -MARGIN)
                        worst = [max(worst[0], w_pass), max(worst[1], e_fail)]
                        print(
                            f"| {cases:,} | {blue} | {'tenths' if graded else '0/1'} | {repeats} | {idiosyncrasy} "
                            f"| {percent(disagreement)} | {percent(w_pass)} | {percent(w_naive)} | {percent(e_fail)} "
                            f"| {percent(e_pass)} |",
                            flush=True,
                        )
    print(f"\nWorst false promotion {percent(worst[0])}, worst false block {percent(worst[1])}")


# Quality on a sampled suite accumulated round by round, read every round --------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Watched:
    """The shares of rollouts whose first decision in the rounds watched was a pass, and a fail."""

    promoted: float
    blocked: float


def watch(
    *, runs: int, rounds: int, advance: Callable[[], None], decide: Callable[[np.ndarray, int, float], list[int]]
) -> dict[str, Watched]:
    """Rollouts read every round: `advance` adds a round's results, `decide(rows, look, confidence)` judges the
    still undecided rollouts (a boolean mask); a rollout ends at its first pass (promoted) or fail (rolled back).

    Per rule: "one look" decides at round 1 only; "fixed" reads the plan's 95% every round; "spent" reads
    stats.look_confidence's level for the round, as the gates do.
    """
    first = {"fixed": np.zeros(runs, dtype=int), "spent": np.zeros(runs, dtype=int)}
    once = first["fixed"]
    for look in range(1, rounds + 1):
        advance()
        for rule, confidence in (("fixed", CONFIDENCE), ("spent", look_confidence(CONFIDENCE, look))):
            rows = first[rule] == 0
            if rows.any():
                first[rule][rows] = decide(rows, look, confidence)
        if look == 1:
            once = first["fixed"].copy()
    return {
        rule: Watched(promoted=float(np.mean(sides > 0)), blocked=float(np.mean(sides < 0)))
        for rule, sides in (("one look", once), *first.items())
    }


def watched(rng: np.random.Generator, suite: Suite, *, runs: int, repeats: int, rounds: int) -> dict[str, Watched]:
    """The quality gate: each round adds `repeats` 0/1 repeats per case to both colors' results, and the gate
    reads the per-case means over everything so far."""
    blue_chance, green_chance = case_chances(rng, suite, runs=runs)
    totals = [np.zeros(blue_chance.shape), np.zeros(green_chance.shape)]

    def advance() -> None:
        totals[0] += repeat_scores(rng, blue_chance, repeats=repeats, graded=False)
        totals[1] += repeat_scores(rng, green_chance, repeats=repeats, graded=False)

    def decide(rows: np.ndarray, look: int, confidence: float) -> list[int]:
        return quality_sides(totals[0][rows] / look, totals[1][rows] / look, -MARGIN, confidence=confidence)

    return watch(runs=runs, rounds=rounds, advance=advance, decide=decide)


CostInterval = Callable[[Sequence[tuple[float, float, float, float]], float], tuple[float, Interval] | None]


def delta_method_interval(
    pairs: Sequence[tuple[float, float, float, float]], confidence: float
) -> tuple[float, Interval] | None:
    """The cost gate's previous interval, for the comparison: the delta method on the log scale with z."""
    n = len(pairs)
    a, t, b, u = (math.fsum(p[i] for p in pairs) for i in range(4))
    ratio = (a / t) / (b / u)
    influence = [n * (pa / a - pt / t - pb / b + pu / u) for pa, pt, pb, pu in pairs]
    spread = z_value(confidence) * stdev(influence) / math.sqrt(n)
    log_ratio = math.log(ratio)
    return ratio, Interval(low=math.exp(log_ratio - spread), high=math.exp(log_ratio + spread))


def package_interval(
    pairs: Sequence[tuple[float, float, float, float]], confidence: float
) -> tuple[float, Interval] | None:
    return ratio_of_ratios_interval(pairs, confidence=confidence)


def watched_cost(
    rng: np.random.Generator,
    *,
    runs: int,
    cases: int,
    repeats: int,
    rounds: int,
    ratio: float,
    noise: float,
    interval: CostInterval = package_interval,
) -> dict[str, Watched]:
    """The cost gate at `ratio_max` COST_LIMIT: each round adds `repeats` timed completions per case to both colors.

    A case's prompt sets its output tokens (50 to 500, the same on both colors) and its time per token (lognormal,
    spread 0.5, shared); a completion takes that times a lognormal factor of mean 1 and spread `noise`, and green
    `ratio` times as long. The gate's interval is the package's ratio of ratios over the per-case totals, unless
    `interval` says otherwise.
    """
    tokens = rng.integers(50, 501, size=(runs, cases)).astype(float)
    per_token = np.exp(rng.normal(0.0, 0.5, size=(runs, cases)))
    totals = [np.zeros((runs, cases)), np.zeros((runs, cases))]
    counted = [0]

    def advance() -> None:
        for color, factor in enumerate((1.0, ratio)):
            draws = np.exp(rng.normal(-(noise**2) / 2, noise, size=(runs, cases, repeats))).sum(axis=2)
            totals[color] += factor * tokens * per_token * draws
        counted[0] += repeats

    def decide(rows: np.ndarray, look: int, confidence: float) -> list[int]:
        sides = []
        for blue_ms, green_ms, counts in zip(totals[0][rows], totals[1][rows], tokens[rows] * counted[0], strict=True):
            found = interval(
                list(zip(green_ms.tolist(), counts.tolist(), blue_ms.tolist(), counts.tolist(), strict=True)),
                confidence,
            )
            assert found is not None
            outcome = compare(found[1].low, found[1].high, COST_LIMIT, better="below")
            sides.append({"pass": 1, "fail": -1, "inconclusive": 0}[outcome])
        return sides

    return watch(runs=runs, rounds=rounds, advance=advance, decide=decide)


def rounds_table(rng: np.random.Generator, runs: int, rounds: int = 8) -> None:
    print(f"Quality gate on a sampled suite accumulated over {rounds} rounds, simulated: {runs} rollouts per cell,")
    print(f"margin {MARGIN}. Each round both colors answer every case `repeats` more times (0/1 scores); the gate")
    print("reads the per-case means over all rounds so far, every round, and the rollout ends at its first pass")
    print("(promoted) or fail (rolled back): every round counts as after the soak. 'Fixed': the plan's 95% at every")
    print("round; 'spent': the level of stats.look_confidence for the round (look 1 as fixed).\n")
    print(
        "| cases | blue | repeats a round | idiosyncrasy | noise | worse: promoted, round 1 only | fixed, every round "
        "| spent, every round | equal: failed, fixed / spent | equal: passed by the last round, fixed / spent |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    worst = {"one look": 0.0, "fixed": 0.0, "spent": 0.0}
    worst_block = {"fixed": 0.0, "spent": 0.0}
    for cases in (50, 200, 1000):
        for blue in (0.5, 0.9):
            for repeats in (1, 3):
                for idiosyncrasy, noise in ((0.1, 0.2), (0.1, 0.5), (0.5, 0.5), (0.1, 2.0)):
                    suite = Suite(cases=cases, blue=blue, green=blue - MARGIN, idiosyncrasy=idiosyncrasy, noise=noise)
                    worse = watched(rng, suite, runs=runs, repeats=repeats, rounds=rounds)
                    equal = watched(rng, replace(suite, green=blue), runs=runs, repeats=repeats, rounds=rounds)
                    for rule, seen in worse.items():
                        worst[rule] = max(worst[rule], seen.promoted)
                    for rule in worst_block:
                        worst_block[rule] = max(worst_block[rule], equal[rule].blocked)
                    print(
                        f"| {cases:,} | {blue} | {repeats} | {idiosyncrasy} | {noise} "
                        f"| {percent(worse['one look'].promoted)} | {percent(worse['fixed'].promoted)} "
                        f"| {percent(worse['spent'].promoted)} "
                        f"| {percent(equal['fixed'].blocked)} / {percent(equal['spent'].blocked)} "
                        f"| {percent(equal['fixed'].promoted)} / {percent(equal['spent'].promoted)} |",
                        flush=True,
                    )
    print(
        f"\nWorst false promotion: round 1 only {percent(worst['one look'])}, fixed every round "
        f"{percent(worst['fixed'])}, spent {percent(worst['spent'])}; worst false block: fixed "
        f"{percent(worst_block['fixed'])}, spent {percent(worst_block['spent'])}"
    )

    print(f"\nThe cost gate on the same schedule: {runs} rollouts per cell, ratio_max {COST_LIMIT}; green's true cost")
    print(f"ratio {COST_LIMIT} (worse: exactly at the limit) or 1.0 (equal). See watched_cost for the timings. Ours:")
    print("the package's jackknife interval with t; previous: the delta method with z, on the same draws.\n")
    print(
        "| cases | repeats a round | noise | worse: promoted, round 1 only, ours / previous | fixed, every round "
        "| spent, every round, ours / previous | equal: failed, fixed / spent | previous | "
        "equal: passed by the last round, fixed / spent | previous, spent |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for cases in (20, 50, 200):
        for noise in (0.1, 0.3, 1.0):
            for repeats in (1, 3):
                common = {"runs": runs, "cases": cases, "repeats": repeats, "rounds": rounds, "noise": noise}
                seeds = rng.integers(2**32, size=2)
                seen = {
                    (name, truth): watched_cost(np.random.default_rng(seed), ratio=truth, interval=way, **common)  # type: ignore[arg-type]
                    for name, way in (("ours", package_interval), ("previous", delta_method_interval))
                    for truth, seed in ((COST_LIMIT, seeds[0]), (1.0, seeds[1]))
                }
                worse, equal = seen["ours", COST_LIMIT], seen["ours", 1.0]
                was_worse, was_equal = seen["previous", COST_LIMIT], seen["previous", 1.0]
                print(
                    f"| {cases:,} | {repeats} | {noise} "
                    f"| {percent(worse['one look'].promoted)} / {percent(was_worse['one look'].promoted)} "
                    f"| {percent(worse['fixed'].promoted)} "
                    f"| {percent(worse['spent'].promoted)} / {percent(was_worse['spent'].promoted)} "
                    f"| {percent(equal['fixed'].blocked)} / {percent(equal['spent'].blocked)} "
                    f"| {percent(was_equal['fixed'].blocked)} / {percent(was_equal['spent'].blocked)} "
                    f"| {percent(equal['fixed'].promoted)} / {percent(equal['spent'].promoted)} "
                    f"| {percent(was_equal['spent'].promoted)} |",
                    flush=True,
                )


def latency_looked_at(
    rng: np.random.Generator, *, runs: int, cases: int, noise: float, load: float, looks: Sequence[int]
) -> dict[int, Watched]:
    """The latency gate's p95 ratio check, green exactly at `p95_ratio_max` 1.2, read once at 95% on k rounds.

    Each case's latency is its tokens (50 to 500) times a lognormal time per token (spread 0.5), shared by the
    colors; each completion takes that times a lognormal factor of mean 1 and spread `noise`, and each round of
    each color times a lognormal factor of spread `load` (the machine as busy as it was that round). The gate
    pools every timing of every round as if independent. One repeat per case a round.
    """
    seen = {k: [0, 0] for k in looks}
    for _ in range(runs):
        base = rng.integers(50, 501, size=cases) * np.exp(rng.normal(0.0, 0.5, size=cases))
        timings: list[list[np.ndarray]] = [[], []]
        for k in range(1, max(looks) + 1):
            for color, factor in enumerate((1.0, LATENCY_LIMIT)):
                busy = np.exp(rng.normal(0.0, load)) if load else 1.0
                timings[color].append(factor * busy * base * np.exp(rng.normal(-(noise**2) / 2, noise, size=cases)))
            if k in seen:
                blue, green = (sorted(np.concatenate(t).tolist()) for t in timings)
                found = quantile_ratio_interval(green, blue, 0.95, confidence=CONFIDENCE)
                assert found is not None
                outcome = compare(found.low, found.high, LATENCY_LIMIT, better="below")
                seen[k][0] += outcome == "pass"
                seen[k][1] += outcome == "fail"
    return {k: Watched(promoted=p / runs, blocked=f / runs) for k, (p, f) in seen.items()}


def latency_table(rng: np.random.Generator, runs: int) -> None:
    looks = (1, 4, 8)
    print(f"Latency gate's p95 ratio check, simulated: {runs} suites per cell, green's p95 exactly {LATENCY_LIMIT}x")
    print("blue's; one look at 95% on the timings of k rounds pooled (1 repeat per case a round). Promoted: the")
    print("interval below the limit; failed: above it; each should be at most 2.5%. See latency_looked_at.\n")
    print("| cases | noise | load, per round and color | promoted, k = 1 / 4 / 8 | failed, k = 1 / 4 / 8 |")
    print("|---:|---:|---:|---:|---:|")
    for cases in (50, 200):
        for noise in (0.3, 1.0):
            for load in (0.0, 0.1):
                seen = latency_looked_at(rng, runs=runs, cases=cases, noise=noise, load=load, looks=looks)
                print(
                    f"| {cases} | {noise} | {load} | {' / '.join(percent(seen[k].promoted) for k in looks)} "
                    f"| {' / '.join(percent(seen[k].blocked) for k in looks)} |",
                    flush=True,
                )


# Safety: repeats as one observation per case, and the bar --------------------------------------------------------


def safety_table(rng: np.random.Generator, runs: int) -> None:
    print(f"Safety gate, simulated: {runs} runs per cell. A share of the cases is noisy: each repeat fails with")
    print("the case's own chance; the rest never fail. 'Old rule': fail on any case where a green repeat failed")
    print("and no blue repeat did (the previous gate, max_failures 0).\n")
    print("| cases | noisy cases | repeats | blue fails | green fails | blocked, ours | blocked, old rule |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    worst_equal = 0.0
    for cases in (34, 200):
        for noisy, blue_fail, green_fail in ((3, 0.1, 0.1), (10, 0.3, 0.3), (10, 0.1, 0.5), (34, 0.2, 1.0)):
            if noisy > cases:
                continue
            for repeats in (1, 3, 5):
                blue = np.zeros((runs, cases, repeats), dtype=bool)
                green = np.zeros((runs, cases, repeats), dtype=bool)
                blue[:, :noisy] = rng.random((runs, noisy, repeats)) < blue_fail
                green[:, :noisy] = rng.random((runs, noisy, repeats)) < green_fail
                ours = 0
                old = 0
                for b, g in zip(blue, green, strict=True):
                    excess = paired_sequence((g.mean(axis=1) - b.mean(axis=1)).tolist(), confidence=CONFIDENCE)
                    ours += excess.low > 0
                    old += bool((g.any(axis=1) & ~b.any(axis=1)).any())
                if blue_fail == green_fail:
                    worst_equal = max(worst_equal, ours / runs)
                print(
                    f"| {cases} | {noisy} | {repeats} | {percent(blue_fail)} | {percent(green_fail)} "
                    f"| {percent(ours / runs)} | {percent(old / runs)} |",
                    flush=True,
                )
    print(f"\nWorst block of an equal green: {percent(worst_equal)}\n")
    print("The bar: green's failure rate exactly at max_failure_rate, spread over the cases (each case's chance")
    print("drawn from a Beta with that mean), passes when the exact sequence's upper end is below the bar.\n")
    print("| cases | repeats | bar | passed (false promotion) | failed | exact bound at 0 failures | pooled repeats' |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for cases in (34, 200, 1000):
        for repeats in (1, 5):
            for bar in (0.02, 0.1):
                chance = rng.beta(bar * 4, (1 - bar) * 4, size=(runs, cases))
                failures = rng.binomial(repeats, chance) / repeats
                passed = failed = 0
                for row in failures:
                    interval = rate_sequence(float(row.sum()), cases, confidence=CONFIDENCE)
                    passed += interval.high <= bar
                    failed += interval.low > bar
                zero = rate_sequence(0.0, cases, confidence=CONFIDENCE).high
                pooled = 1 - 0.05 ** (1 / (cases * repeats))
                print(
                    f"| {cases} | {repeats} | {percent(bar)} | {percent(passed / runs)} | {percent(failed / runs)} "
                    f"| {percent(zero)} | {percent(pooled)} |",
                    flush=True,
                )


# Feedback: votes arriving every hour, the gate read every hour ---------------------------------------------------


def newcombe_excludes(counts: Proportions, threshold: float) -> int:
    """The previous gate: Newcombe's hybrid score interval, valid for one look."""
    z = float(norm.ppf(0.975))

    def wilson(s: int, n: int) -> tuple[float, float]:
        p = s / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return centre - half, centre + half

    p_new, p_old = counts.new / counts.new_n, counts.old / counts.old_n
    (l1, u1), (l2, u2) = wilson(counts.new, counts.new_n), wilson(counts.old, counts.old_n)
    d = p_new - p_old
    low = d - math.sqrt((p_new - l1) ** 2 + (u2 - p_old) ** 2)
    high = d + math.sqrt((u1 - p_new) ** 2 + (p_old - l2) ** 2)
    return 1 if low > threshold else -1 if high < threshold else 0


def fixed_excludes(counts: Proportions, threshold: float) -> int:
    """A fixed-size test for one planned look: the same score statistic against the normal quantile."""
    distance, error = proportion_score(counts, threshold)
    z = float(norm.ppf(0.975))
    return 0 if abs(distance) <= z * error else (1 if distance > 0 else -1)


@dataclass(frozen=True, kw_only=True)
class Rollout:
    outcome: int
    votes: int


def hourly(
    rng: np.random.Generator,
    *,
    rule: Callable[[Proportions], int],
    blue: float,
    green: float,
    share: float,
    per_hour: float,
    first_look: int,
    hours: int,
    min_samples: int,
) -> Iterator[Rollout]:
    """One rollout per yield: votes accumulate hour by hour; from `first_look` on the rule is read every hour."""
    green_votes = rng.poisson(per_hour * share, hours)
    blue_votes = rng.poisson(per_hour * (1 - share), hours)
    green_up = np.cumsum(rng.binomial(green_votes, green))
    blue_up = np.cumsum(rng.binomial(blue_votes, blue))
    green_n, blue_n = np.cumsum(green_votes), np.cumsum(blue_votes)
    for hour in range(first_look - 1, hours):
        if green_n[hour] < min_samples or blue_n[hour] < min_samples:
            continue
        counts = Proportions(
            new=int(green_up[hour]), new_n=int(green_n[hour]), old=int(blue_up[hour]), old_n=int(blue_n[hour])
        )
        side = rule(counts)
        if side:
            yield Rollout(outcome=side, votes=int(green_n[hour] + blue_n[hour]))
            return
    yield Rollout(outcome=0, votes=int(green_n[-1] + blue_n[-1]))


def feedback_table(rng: np.random.Generator, runs: int) -> None:
    per_hour, first_look, hours, min_samples = 100, 48, 14 * 24, 300
    threshold = -FEEDBACK_MARGIN

    def ours(counts: Proportions) -> int:
        return proportion_sequence_excludes(counts, threshold, confidence=CONFIDENCE, tuned_at=tuning(FEEDBACK_MARGIN))

    rules: dict[str, tuple[Callable[[Proportions], int], int]] = {
        "ours, every hour": (ours, first_look),
        "previous (Newcombe), every hour": (lambda c: newcombe_excludes(c, threshold), first_look),
        "fixed-size, one look at 14 days": (lambda c: fixed_excludes(c, threshold), hours),
    }
    print(f"Feedback gate, simulated: {runs} rollouts per cell; {per_hour} votes an hour in all, green's share of")
    print(f"them as its traffic share; margin {FEEDBACK_MARGIN}; read every hour from hour {first_look} (after the")
    print(f"soak) to day 14, stopping at the first pass or fail; at least {min_samples} votes per color.\n")
    print(
        "| green share | blue thumbs-up | rule | worse: promoted | equal: failed | equal: passed by day 14 "
        "| equal: votes read at the decision (mean) |"
    )
    print("|---:|---:|---|---:|---:|---:|---:|")
    for share in (0.05, 0.25, 0.5):
        for blue in (0.5, 0.8, 0.95):
            for name, (rule, look) in rules.items():
                common = {
                    "rule": rule,
                    "share": share,
                    "per_hour": per_hour,
                    "first_look": look,
                    "hours": hours,
                    "min_samples": min_samples,
                }
                worse = [
                    r
                    for _ in range(runs)
                    for r in hourly(rng, blue=blue, green=blue - FEEDBACK_MARGIN, **common)  # type: ignore[arg-type]
                ]
                equal = [r for _ in range(runs) for r in hourly(rng, blue=blue, green=blue, **common)]  # type: ignore[arg-type]
                promoted = sum(r.outcome > 0 for r in worse) / runs
                blocked = sum(r.outcome < 0 for r in equal) / runs
                passed = sum(r.outcome > 0 for r in equal) / runs
                votes = sum(r.votes for r in equal) / runs
                print(
                    f"| {percent(share)} | {blue} | {name} | {percent(promoted)} | {percent(blocked)} "
                    f"| {percent(passed)} | {votes:,.0f} |",
                    flush=True,
                )


def unequal_table(rng: np.random.Generator, draws: int) -> None:
    print(f"Feedback gate at one look with unequal vote counts (green at 5% of traffic): {draws} draws per cell;")
    print(f"green worse than blue by exactly the margin ({FEEDBACK_MARGIN}). Promoted = wrongly passed.\n")
    print("| votes green / blue | thumbs-up blue -> green | promoted, ours | promoted, previous (Newcombe) |")
    print("|---:|---:|---:|---:|")
    for green_n, blue_n in ((300, 5700), (1000, 19000), (300, 300)):
        for blue in (0.05, 0.5, 0.8, 0.95):
            green = blue - FEEDBACK_MARGIN
            ups = zip(rng.binomial(green_n, green, draws), rng.binomial(blue_n, blue, draws), strict=True)
            ours = previous = 0
            for g, b in ups:
                counts = Proportions(new=int(g), new_n=green_n, old=int(b), old_n=blue_n)
                ours += (
                    proportion_sequence_excludes(
                        counts, -FEEDBACK_MARGIN, confidence=CONFIDENCE, tuned_at=tuning(FEEDBACK_MARGIN)
                    )
                    > 0
                )
                previous += newcombe_excludes(counts, -FEEDBACK_MARGIN) > 0
            print(
                f"| {green_n:,} / {blue_n:,} | {blue:.2f} -> {green:.2f} | {percent(ours / draws)} "
                f"| {percent(previous / draws)} |",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "part", choices=("binary", "graded", "rounds", "latency", "safety", "feedback", "unequal", "all")
    )
    parser.add_argument("--runs", type=int, default=1000, help="simulated suites (graded, safety) per cell")
    parser.add_argument("--rollouts", type=int, default=500, help="simulated rollouts (feedback) per cell")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    parts: dict[str, Callable[[], None]] = {
        "binary": binary_table,
        "graded": lambda: graded_table(rng, args.runs),
        "rounds": lambda: rounds_table(rng, args.runs),
        "latency": lambda: latency_table(rng, args.runs),
        "safety": lambda: safety_table(rng, args.runs),
        "feedback": lambda: feedback_table(rng, args.rollouts),
        "unequal": lambda: unequal_table(rng, 20_000),
    }
    for name, part in parts.items():
        if args.part in (name, "all"):
            started = time.perf_counter()
            part()
            print(f"\n({name}: {time.perf_counter() - started:.0f} s)\n")


if __name__ == "__main__":
    main()
