"""Confidence intervals for what repeated trials measure.

- :func:`wilson`: a detection rate ``k / n`` (how many of ``n`` injections the monitor
  saw), the Wilson score interval (Wilson 1927; the interval scipy's
  ``BinomTestResult.proportion_ci(method="wilson")`` gives: a test keeps them equal). It
  stays inside [0, 1] and covers close to its level even at 10 trials, where the textbook
  normal interval does not.
- :func:`bootstrap_quantile`: a percentile (TTD p95, TTR p50, latency p99) with a percentile
  bootstrap interval that resamples **whole trials**, never single requests: requests
  within a trial share its fault, its component and the machine's load at that moment, so
  they are not independent, and resampling them would give intervals far too narrow.

A value that was never observed (a fault never detected: TTD ``None``) counts as
``+inf``: worse than any measured one. Every quantity here is ≥ 0, so an infinite
estimate or interval end is +∞ and is ``None`` in :class:`Interval` (JSON has no
infinity): e.g. the upper end of TTD p95 over 10 trials of which 2 went undetected.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import norm

from gameday.evidence.models import DEFAULT_LEVEL, Interval

__all__ = ["Interval", "wilson", "wilson_bounds", "bootstrap_quantile", "quantile",
           "DEFAULT_LEVEL", "DEFAULT_RESAMPLES"]

#: Bootstrap resamples: the interval ends move by < 1 % of its width between seeds at 2000.
DEFAULT_RESAMPLES = 2000

Trial = float | int | None | Sequence[float | None]


def _finite(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def wilson_bounds(k: np.ndarray | float, n: np.ndarray | float,
                  level: float = DEFAULT_LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score bounds of ``k`` successes in ``n`` trials, vectorised over arrays."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    z = norm.ppf(0.5 + level / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # exact at the edges (rounding would put 10/10's upper end at 0.9999999999999999)
    low = np.where(k == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(k == n, 1.0, np.clip(centre + half, 0.0, 1.0))
    return low, high


def wilson(successes: int, trials: int, level: float = DEFAULT_LEVEL) -> Interval:
    """The Wilson score interval of a rate ``successes / trials``.

    Raises ValueError when ``trials`` < 1 or ``successes`` is outside [0, trials].
    """
    if trials < 1:
        raise ValueError(f"a rate needs at least one trial (got {trials})")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be within 0..{trials} (got {successes})")
    lo, hi = wilson_bounds(successes, trials, level)
    return Interval(estimate=successes / trials, low=float(lo), high=float(hi), level=level,
                    n=trials, method="wilson")


def quantile(sorted_values: np.ndarray, q: float) -> np.ndarray:
    """The ``q`` quantile along the last axis of already-sorted values, +inf allowed.

    The same definition as :func:`gameday.metrics.percentile` (linear, numpy's default),
    written out because numpy's own gives NaN where an infinite value meets a weight of 0.
    """
    n = sorted_values.shape[-1]
    h = (n - 1) * q
    lo = int(math.floor(h))
    frac = h - lo
    below = sorted_values[..., lo]
    if frac == 0 or lo + 1 >= n:
        return below
    above = sorted_values[..., lo + 1]
    with np.errstate(invalid="ignore"):
        out = below + frac * (above - below)
    return np.where(np.isinf(above), above, out)


def _as_trials(trials: Sequence[Trial]) -> list[np.ndarray]:
    out = []
    for t in trials:
        values = [t] if t is None or isinstance(t, int | float) else list(t)
        arr = np.array([math.inf if v is None else float(v) for v in values], dtype=float)
        if arr.size:
            out.append(arr)
    return out


def bootstrap_quantile(trials: Sequence[Trial], q: float, *, level: float = DEFAULT_LEVEL,
                       n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> Interval:
    """The ``q`` quantile (0 ≤ q ≤ 1) of the pooled values of ``trials`` and its percentile
    bootstrap interval, resampling whole trials with replacement.

    Each trial is one value (a TTD; ``None`` = never observed = +inf) or a sequence of
    values (every request's latency in that trial). Seeded: the same input gives the same
    interval. Raises ValueError when no trial holds a value or ``q`` is outside [0, 1].
    """
    if not 0 <= q <= 1:
        raise ValueError(f"q must be within 0..1 (got {q})")
    groups = _as_trials(trials)
    if not groups:
        raise ValueError("a percentile needs at least one trial with a value")
    rng = np.random.default_rng(seed)
    k = len(groups)
    picks = rng.integers(0, k, size=(n_resamples, k))
    estimate = quantile(np.sort(np.concatenate(groups)), q)
    if all(g.size == 1 for g in groups):  # one value per trial (TTD, TTR): vectorised
        values = np.concatenate(groups)
        stats = quantile(np.sort(values[picks], axis=1), q)
    else:
        stats = np.array([quantile(np.sort(np.concatenate([groups[i] for i in row])), q)
                          for row in picks])
    stats = np.sort(stats)
    alpha = 1 - level
    low = quantile(stats, alpha / 2)
    high = quantile(stats, 1 - alpha / 2)
    return Interval(estimate=_finite(float(estimate)), low=_finite(float(low)),
                    high=_finite(float(high)), level=level, n=k,
                    method="bootstrap-percentile (whole trials)")
