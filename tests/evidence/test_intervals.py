from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from gameday.evidence.intervals import Interval, bootstrap_quantile, quantile, wilson
from gameday.metrics import percentile


@pytest.mark.parametrize(("k", "n"), [(0, 1), (0, 10), (3, 10), (9, 10), (10, 10), (47, 50)])
def test_wilson_matches_scipy(k: int, n: int) -> None:
    ours = wilson(k, n)
    theirs = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert ours.estimate == k / n
    assert ours.low == pytest.approx(theirs.low, abs=1e-12)
    assert ours.high == pytest.approx(theirs.high, abs=1e-12)


def test_wilson_is_exact_at_the_edges_and_refuses_impossible_counts() -> None:
    assert wilson(10, 10).high == 1.0 and wilson(0, 10).low == 0.0
    with pytest.raises(ValueError, match="at least one trial"):
        wilson(0, 0)
    with pytest.raises(ValueError, match="within 0..3"):
        wilson(4, 3)


def test_ten_of_ten_detected_is_72_to_100_percent() -> None:
    """The issue's example: "detected 10/10 (95 % CI 72–100 %)"."""
    ci = wilson(10, 10)
    assert (round(ci.low * 100), round(ci.high * 100)) == (72, 100)


def test_quantile_follows_the_metrics_definition_and_lets_infinity_through() -> None:
    values = np.sort(np.array([10, 20, 30, 40, 50, 60, 70, 80, 90, 1000], dtype=float))
    assert float(quantile(values, 0.95)) == pytest.approx(percentile(values, 0.95)) == 590.5
    with_inf = np.sort(np.array([1.0, 2.0, np.inf]))
    assert float(quantile(with_inf, 0.5)) == 2.0  # numpy's own gives NaN here
    assert float(quantile(with_inf, 0.9)) == np.inf


def test_bootstrap_quantile_is_seeded_and_brackets_its_estimate() -> None:
    ttd = [0.52, 0.61, 0.48, 0.55, 0.70, 0.58, 0.49, 0.66, 0.53, 0.60]
    a = bootstrap_quantile(ttd, 0.5, seed=3)
    assert a == bootstrap_quantile(ttd, 0.5, seed=3)
    assert a.estimate == pytest.approx(np.median(ttd))
    assert a.low <= a.estimate <= a.high
    assert min(ttd) <= a.low and a.high <= max(ttd)
    assert a.n == 10 and "whole trials" in a.method


def test_an_undetected_trial_is_worse_than_any_and_leaves_p95_unbounded() -> None:
    ci = bootstrap_quantile([0.5, 0.6, 0.55, None, 0.52, 0.58, 0.61, 0.49, 0.66, 0.7], 0.95)
    assert ci.estimate is None and ci.high is None  # +∞: p95 falls on the undetected trial
    assert ci.low is not None and ci.low >= 0.6
    assert ci.contains(5.0) and not ci.contains(0.5)
    assert Interval.model_validate_json(ci.model_dump_json()) == ci


def test_bootstrap_resamples_whole_trials_not_requests() -> None:
    """Three trials, one of them slow all through: requests within a trial move together,
    so the interval of the median must span the slow trial's level, which resampling
    the 300 requests one by one would call impossible."""
    rng = np.random.default_rng(0)
    trials = [list(rng.normal(10, 0.5, 100)), list(rng.normal(10, 0.5, 100)),
              list(rng.normal(30, 0.5, 100))]
    by_trial = bootstrap_quantile(trials, 0.5, n_resamples=500)
    pooled = bootstrap_quantile(sum(trials, []), 0.5, n_resamples=500)
    assert by_trial.n == 3 and pooled.n == 300
    assert by_trial.high > 29 and by_trial.low < 11
    assert pooled.high - pooled.low < 1.0


def test_bootstrap_refuses_nothing_to_measure() -> None:
    with pytest.raises(ValueError, match="at least one trial"):
        bootstrap_quantile([], 0.5)
    with pytest.raises(ValueError, match="q must be within"):
        bootstrap_quantile([1.0], 1.5)
