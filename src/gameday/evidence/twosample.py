"""Is B worse than A? Two-sample tests on whole runs (or trials), and false-discovery control.

- :func:`shift_test` for times (TTD, TTR, a score): Mann–Whitney U (scipy; exact for small
  samples without ties), two-sided, with the effect as the difference of medians
  ``median(b) − median(a)`` and its percentile bootstrap interval (each group resampled on
  its own). Rank-based: no assumption of normal times, and a fault never detected
  (``None`` = +∞) simply ranks worst.
- :func:`counts_test` for availability: failed / issued requests per run. Requests within
  one run are not independent (one bad second fails many together), so a plain binomial
  or Fisher test on pooled counts would cry wolf. The test is quasi-binomial: the pooled
  proportions compared with a t test whose variance is scaled by the dispersion seen
  between runs of the same group (φ ≥ 1; φ = 1 is the plain binomial).
- :func:`benjamini_hochberg`: adjusted p-values over every cell tested together
  (scipy's ``false_discovery_control``), so that looking at 20 cells does not flag one by
  chance.

The effect's sign is "B minus A" in the metric's own unit; whether larger is worse is
the caller's to say (:class:`Shift` ``worse``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy import stats

from gameday.evidence.intervals import DEFAULT_LEVEL, DEFAULT_RESAMPLES, quantile

__all__ = ["Shift", "shift_test", "counts_test", "benjamini_hochberg"]


class Shift(BaseModel):
    """B against A: the effect (B − A, the metric's unit), its interval, the test's raw
    p-value. ``effect``/``low``/``high`` None: infinite (one side never observed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    test: str
    n_a: int
    n_b: int
    a: float | None
    b: float | None
    effect: float | None
    low: float | None
    high: float | None
    level: float = DEFAULT_LEVEL
    p_value: float


def _fin(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _values(xs: Sequence[float | None]) -> np.ndarray:
    return np.array([math.inf if x is None else float(x) for x in xs], dtype=float)


def _diff(b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """b − a where ∞ − ∞ is 0 (both never observed: no difference), not NaN."""
    with np.errstate(invalid="ignore"):
        d = b - a
    return np.where(np.isinf(a) & np.isinf(b) & (a == b), 0.0, d)


def shift_test(a: Sequence[float | None], b: Sequence[float | None], *,
               level: float = DEFAULT_LEVEL, n_resamples: int = DEFAULT_RESAMPLES,
               seed: int = 0) -> Shift:
    """Mann–Whitney U of ``b`` against ``a`` and the bootstrap interval of the difference
    of medians. Raises ValueError when either sample is empty."""
    xa, xb = _values(a), _values(b)
    if xa.size == 0 or xb.size == 0:
        raise ValueError(f"both samples need a value (got {xa.size} and {xb.size})")
    if np.unique(np.concatenate([xa, xb])).size == 1:
        p = 1.0  # all equal: scipy would divide by a zero variance
    else:
        p = float(stats.mannwhitneyu(xb, xa, alternative="two-sided").pvalue)
    rng = np.random.default_rng(seed)
    ma = np.median(xa[rng.integers(0, xa.size, (n_resamples, xa.size))], axis=1)
    mb = np.median(xb[rng.integers(0, xb.size, (n_resamples, xb.size))], axis=1)
    boot = np.sort(_diff(mb, ma))
    alpha = 1 - level
    lo, hi = float(quantile(boot, alpha / 2)), float(quantile(boot, 1 - alpha / 2))
    med_a, med_b = float(np.median(xa)), float(np.median(xb))
    effect = float(_diff(np.array(med_b), np.array(med_a)))
    return Shift(test="mann-whitney", n_a=xa.size, n_b=xb.size, a=_fin(med_a), b=_fin(med_b),
                 effect=_fin(effect), low=_fin(lo), high=_fin(hi), level=level, p_value=p)


def counts_test(a: Sequence[tuple[int, int]], b: Sequence[tuple[int, int]], *,
                level: float = DEFAULT_LEVEL) -> Shift:
    """Failure proportions of B against A from per-run ``(failures, requests)``.

    The effect is B's pooled failure share minus A's (positive: B fails more), with a
    t interval on ``runs − 2`` degrees of freedom whose variance is the binomial one times
    the between-run dispersion φ (Pearson χ² / df, at least 1). Runs with no request are
    ignored. Raises ValueError when either side has no request, or a run more failures
    than requests.
    """
    bad = [(f, n) for f, n in (*a, *b) if not 0 <= f <= n]
    if bad:
        raise ValueError(f"a run's failures must be within 0..requests (got {bad[0]})")
    ra = [(f, n) for f, n in a if n > 0]
    rb = [(f, n) for f, n in b if n > 0]
    fa, na = sum(f for f, _ in ra), sum(n for _, n in ra)
    fb, nb = sum(f for f, _ in rb), sum(n for _, n in rb)
    if na == 0 or nb == 0:
        raise ValueError("both sides need at least one request")
    pa, pb = fa / na, fb / nb
    chi2 = sum((f - n * p) ** 2 / (n * p * (1 - p))
               for runs, p in ((ra, pa), (rb, pb)) if 0 < p < 1 for f, n in runs)
    df = max(1, len(ra) + len(rb) - 2)
    phi = max(1.0, chi2 / df)
    pooled = (fa + fb) / (na + nb)
    effect = pb - pa
    se_test = math.sqrt(phi * pooled * (1 - pooled) * (1 / na + 1 / nb))
    se_int = math.sqrt(phi * (pa * (1 - pa) / na + pb * (1 - pb) / nb))
    p_value = 1.0 if se_test == 0 else float(2 * stats.t.sf(abs(effect) / se_test, df))
    t = float(stats.t.ppf(0.5 + level / 2, df))
    return Shift(test="quasi-binomial", n_a=len(ra), n_b=len(rb), a=pa, b=pb, effect=effect,
                 low=effect - t * se_int, high=effect + t * se_int, level=level,
                 p_value=min(1.0, p_value))


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values, in the given order: a cell is a discovery at
    false-discovery rate q when its adjusted p-value is ≤ q."""
    if len(p_values) == 0:
        return []
    return [float(x) for x in stats.false_discovery_control(np.asarray(p_values), method="bh")]
