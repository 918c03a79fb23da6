from __future__ import annotations

import random

import pytest

from rollout.routers.split import Expectation, check_split


def interval(green: int, blue: int, *, confidence: float) -> tuple[float, float]:
    check = check_split(
        Expectation(audience="all", green_percent=25, probes=green + blue),
        {"blue": blue, "green": green},
        confidence=confidence,
    )
    return check.low, check.high


def test_the_interval_is_wilsons_at_published_values() -> None:
    # Newcombe (1998), Statistics in Medicine 17:857, table II: 95% Wilson intervals.
    low, high = interval(0, 10, confidence=0.95)
    assert low == pytest.approx(0.0, abs=1e-12)
    assert high == pytest.approx(0.2775, abs=1e-4)
    low, high = interval(81, 263 - 81, confidence=0.95)
    assert low == pytest.approx(0.2553, abs=1e-4)
    assert high == pytest.approx(0.3662, abs=1e-4)


def test_the_interval_widens_with_confidence_and_narrows_with_probes() -> None:
    narrow = interval(50, 150, confidence=0.9)
    wide = interval(50, 150, confidence=0.999)
    assert wide[0] < narrow[0] and wide[1] > narrow[1]
    more = interval(500, 1500, confidence=0.999)
    assert more[1] - more[0] < wide[1] - wide[0]
    assert interval(0, 0, confidence=0.999) == (0.0, 1.0)


def test_a_correct_router_rarely_fails_and_a_wrong_one_always_does() -> None:
    rng = random.Random(6)
    expectation = Expectation(audience="all", green_percent=25, probes=200)

    def failures(true_share: float, runs: int) -> int:
        count = 0
        for _ in range(runs):
            green = sum(rng.random() < true_share for _ in range(200))
            count += not check_split(expectation, {"blue": 200 - green, "green": green}).ok
        return count

    assert failures(0.25, 1000) <= 10
    assert failures(0.50, 100) == 100


@pytest.mark.parametrize(
    ("intended", "counts", "ok"),
    [
        (0, {"blue": 200}, True),
        (0, {"blue": 199, "green": 1}, False),
        (100, {"green": 200}, True),
        (100, {"blue": 1, "green": 199}, False),
        (5, {"blue": 190, "green": 10}, True),
        (5, {"blue": 150, "green": 50}, False),
        (25, {"blue": 150, "green": 49, "HTTP 502": 1}, False),
        (25, {}, False),
    ],
)
def test_exact_weights_allow_no_stray_color_and_failures_fail(intended: int, counts: dict[str, int], ok: bool) -> None:
    check = check_split(Expectation(audience="all", green_percent=intended, probes=200), counts)
    assert check.ok is ok
    assert ("MISMATCH" in check.describe()) is not ok
