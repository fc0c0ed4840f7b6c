from __future__ import annotations

import numpy as np
import pytest

from gameday.evidence.twosample import benjamini_hochberg, counts_test, shift_test


def test_a_clear_shift_has_a_small_p_value_and_an_interval_around_the_effect() -> None:
    a = [0.50, 0.52, 0.48, 0.55, 0.51, 0.49, 0.53]
    b = [0.80, 0.78, 0.83, 0.75, 0.81]
    s = shift_test(a, b)
    assert s.test == "mann-whitney" and (s.n_a, s.n_b) == (7, 5)
    assert s.p_value == pytest.approx(2 / 792)  # exact: complete separation of 7 and 5
    assert s.effect == pytest.approx(np.median(b) - np.median(a))
    assert 0 < s.low <= s.effect <= s.high


def test_the_same_sample_shows_no_difference() -> None:
    s = shift_test([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert s.p_value == 1.0 and s.effect == 0.0
    assert shift_test([1.0, 1.0], [1.0]).p_value == 1.0  # all equal: no variance to divide


def test_never_detected_ranks_worst_and_makes_the_effect_infinite() -> None:
    s = shift_test([0.5, 0.6, 0.55, 0.52], [None, None, None, None])
    assert s.b is None and s.effect is None and s.high is None
    assert s.p_value < 0.05
    both = shift_test([None, None], [None, None])
    assert both.effect == 0.0 and both.p_value == 1.0  # ∞ − ∞ is no difference


def test_empty_samples_are_refused() -> None:
    with pytest.raises(ValueError, match="both samples need a value"):
        shift_test([], [1.0])


def test_counts_test_sees_a_steady_rise_in_failures() -> None:
    before = [(1, 1000), (0, 1000), (2, 1000), (1, 1000)]
    after = [(30, 1000), (25, 1000), (35, 1000)]
    s = counts_test(before, after)
    assert s.test == "quasi-binomial"
    assert s.a == pytest.approx(4 / 4000) and s.b == pytest.approx(90 / 3000)
    assert s.p_value < 0.01 and s.low > 0


def test_counts_test_discounts_bursts_that_vary_from_run_to_run() -> None:
    """Failures that come in bursts (a run with 40, the next with none) are not evidence
    of a change: the dispersion between runs widens the test. A plain binomial test on
    the pooled counts calls this a regression; the quasi-binomial test does not."""
    before = [(0, 1000), (40, 1000), (0, 1000), (1, 1000), (0, 1000)]
    after = [(0, 1000), (45, 1000), (30, 1000)]
    s = counts_test(before, after)
    assert s.p_value > 0.05
    from scipy.stats import fisher_exact

    pooled = fisher_exact([[41, 5000 - 41], [75, 3000 - 75]])
    assert pooled.pvalue < 0.001  # what pooling requests as if independent would say


def test_counts_test_false_positive_rate_on_bursty_null_runs() -> None:
    rng = np.random.default_rng(9)
    false = 0
    for _ in range(500):
        runs = [(int(rng.binomial(1000, rng.beta(0.5, 999.5))), 1000) for _ in range(12)]
        false += counts_test(runs[:7], runs[7:]).p_value <= 0.05
    print(f"\nquasi-binomial false positives on 500 bursty null splits: {false / 500:.1%}")
    assert false / 500 <= 0.07


def test_counts_test_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError, match="within 0..requests"):
        counts_test([(5, 3)], [(0, 10)])
    with pytest.raises(ValueError, match="at least one request"):
        counts_test([(0, 0)], [(0, 10)])


def test_benjamini_hochberg_matches_the_textbook_example() -> None:
    """Benjamini & Hochberg (1995): of 15 p-values, the 4 smallest are discoveries at 5 %."""
    ps = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240,
          0.4262, 0.5719, 0.6528, 0.7590, 1.0]
    adjusted = benjamini_hochberg(ps)
    assert sum(p <= 0.05 for p in adjusted) == 4
    assert all(a >= p for a, p in zip(adjusted, ps, strict=True))
    assert benjamini_hochberg([]) == []
