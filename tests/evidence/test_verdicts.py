from __future__ import annotations

import pytest

from gameday.evidence.intervals import Interval, bootstrap_quantile, wilson, wilson_bounds
from gameday.evidence.verdicts import judge, trials_to_settle
from gameday.run_record import Threshold

AT_LEAST_90 = Threshold(op=">=", value=0.9)
TTD_TARGET = Threshold(op="<=", value=1.0)


def _boot(estimate: float, low: float, high: float, n: int = 10) -> Interval:
    return Interval(estimate=estimate, low=low, high=high, n=n, method="bootstrap-percentile")


def test_inside_the_target_passes_outside_fails_straddling_is_inconclusive() -> None:
    assert judge(_boot(0.5, 0.4, 0.6), TTD_TARGET).verdict == "pass"
    assert judge(_boot(1.5, 1.2, 1.9), TTD_TARGET).verdict == "fail"
    straddle = judge(_boot(0.9, 0.7, 1.2), TTD_TARGET)
    assert straddle.verdict == "inconclusive" and straddle.more_trials is not None
    assert judge(wilson(50, 50), AT_LEAST_90).verdict == "pass"
    assert judge(wilson(2, 10), AT_LEAST_90).verdict == "fail"


def test_an_unbounded_upper_end_never_passes_a_time_target() -> None:
    never_seen = Interval(estimate=None, low=None, high=None, n=5, method="bootstrap")
    assert judge(never_seen, TTD_TARGET).verdict == "fail"
    half = Interval(estimate=None, low=0.5, high=None, n=5, method="bootstrap")
    j = judge(half, TTD_TARGET)
    assert j.verdict == "inconclusive" and j.more_trials is None


def test_trials_to_settle_scales_with_the_square_of_width_over_distance() -> None:
    # half-width toward the target 0.3, distance 0.1: (0.3/0.1)² × 10 = 90 trials, 80 more
    assert trials_to_settle(_boot(0.9, 0.7, 1.2), TTD_TARGET) == 80
    assert trials_to_settle(_boot(1.0, 0.7, 1.2), TTD_TARGET) is None  # on the target


def test_trials_to_settle_a_rate_is_exact_and_then_settles() -> None:
    """19/20 against ≥ 90 %: the extra trials named, at the same rate, must pass; one
    fewer must not."""
    ci = wilson(19, 20)
    j = judge(ci, AT_LEAST_90)
    assert j.verdict == "inconclusive"
    more = j.more_trials
    assert more is not None and more > 0
    n = 20 + more
    low, _ = wilson_bounds(0.95 * n, n)
    low_before, _ = wilson_bounds(0.95 * (n - 1), n - 1)
    assert low >= 0.9 > low_before


def test_a_perfect_rate_cannot_prove_a_100_percent_target() -> None:
    j = judge(wilson(10, 10), Threshold(op=">=", value=1.0))
    assert j.verdict == "inconclusive" and j.more_trials is None


def test_an_inconclusive_ttd_p95_settles_with_more_of_the_same_trials() -> None:
    """More trials from the same distribution: the named number is about what it takes."""
    import numpy as np

    rng = np.random.default_rng(11)
    pool = list(rng.lognormal(np.log(0.8), 0.15, 4000))
    first = bootstrap_quantile(pool[:10], 0.5)
    target = Threshold(op="<=", value=0.85)
    j = judge(first, target)
    assert j.verdict == "inconclusive" and j.more_trials is not None, first
    later = bootstrap_quantile(pool[: 10 + 2 * j.more_trials], 0.5)
    assert judge(later, target).verdict == "pass"


@pytest.mark.parametrize("op", ["<=", ">="])
def test_the_judgement_round_trips_as_json(op: str) -> None:
    j = judge(wilson(7, 10), Threshold(op=op, value=0.5))  # type: ignore[arg-type]
    assert type(j).model_validate_json(j.model_dump_json()) == j
