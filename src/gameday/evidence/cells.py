"""Cells judged together: two sides of one metric tested, false discoveries controlled.

A *cell* is one metric of one phase seen on two sides: the earlier runs and the recent
window (the trends page, :mod:`gameday.evidence.trends`), or build A and build B
(``gameday compare``, :mod:`gameday.evidence.comparison`). :func:`judge_cells` tests every
cell with the test fit for its metric (:data:`METRICS`), adjusts the p-values of all of
them together with Benjamini–Hochberg, and calls a cell a **regression** (B worse) or an
**improvement** only when its adjusted p-value is ≤ ``fdr``; otherwise **no evidence**, or
**too few runs** when a side has fewer than :data:`MIN_RUNS` values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from gameday.evidence.intervals import DEFAULT_RESAMPLES
from gameday.evidence.twosample import Shift, benjamini_hochberg, counts_test, shift_test

__all__ = ["METRICS", "MIN_RUNS", "DEFAULT_FDR", "CellVerdict", "Side", "Judged",
           "judge_cells", "side_shift", "direction"]

#: metric → (test, worse when the value is "higher" or "lower").
METRICS: dict[str, tuple[Literal["shift", "counts"], Literal["higher", "lower"]]] = {
    "ttd_s": ("shift", "higher"),
    "ttr_s": ("shift", "higher"),
    "availability": ("counts", "lower"),
    "latency_p95_ms": ("shift", "higher"),
    "score": ("shift", "lower"),
}
#: Metrics where a missing value means "never observed" (+∞, ranks worst), not "no data".
UNBOUNDED = ("ttd_s", "ttr_s")
#: Values a side needs before a cell is tested at all.
MIN_RUNS = 2
DEFAULT_FDR = 0.05

CellVerdict = Literal["regression", "improvement", "no evidence", "too few runs"]


class Side:
    """One side of a cell as plain arrays (pandas per cell costs more than the tests):
    ``values`` (NaN: not observed), ``requests`` (availability's denominators) and the
    run id each value came from."""

    def __init__(self, values: np.ndarray, requests: np.ndarray, runs: list[str]) -> None:
        self.values, self.requests, self.runs = values, requests, runs

    def __len__(self) -> int:
        return len(self.values)

    def times(self) -> list[float | None]:
        return [None if math.isnan(v) else float(v) for v in self.values]

    def failures(self) -> list[tuple[int, int]]:
        """Per run ``(failed, issued)`` requests from availability and the request count."""
        issued = np.nan_to_num(self.requests).astype(int)
        failed = np.rint(issued * (1.0 - self.values)).astype(int)
        return list(zip(failed.tolist(), issued.tolist(), strict=True))


def side_shift(metric: str, a: Side, b: Side, seed: int = 0,
               n_resamples: int = DEFAULT_RESAMPLES) -> Shift:
    """B against A with the metric's test; the effect is B − A in the metric's own unit
    (availability as a share, not its failure share)."""
    kind, _ = METRICS[metric]
    if kind == "counts":
        s = counts_test(a.failures(), b.failures())
        flip = {"a": None if s.a is None else 1 - s.a, "b": None if s.b is None else 1 - s.b,
                "effect": None if s.effect is None else -s.effect,
                "low": None if s.high is None else -s.high,
                "high": None if s.low is None else -s.low}
        return s.model_copy(update=flip)
    return shift_test(a.times(), b.times(), seed=seed, n_resamples=n_resamples)


def direction(metric: str, shift: Shift, a: Side, b: Side) -> int:
    """+1 when B is worse than A, −1 when better, 0 when no direction."""
    _, worse = METRICS[metric]
    sign = 0
    if shift.effect is not None and shift.effect != 0:
        sign = 1 if shift.effect > 0 else -1
    elif shift.effect is None:  # infinite: the side that went unobserved is the larger
        sign = 1 if shift.b is None else -1
    else:  # equal medians: which side ranks higher on the whole
        xa = np.nan_to_num(a.values, nan=math.inf)
        xb = np.nan_to_num(b.values, nan=math.inf)
        wins = int(np.sign(xb[:, None] - xa[None, :]).sum())
        sign = (wins > 0) - (wins < 0)
    return sign if worse == "higher" else -sign


@dataclass(frozen=True)
class Judged:
    """A cell's outcome: its verdict, and when tested the shift and the adjusted p."""

    verdict: CellVerdict
    shift: Shift | None = None
    p_adjusted: float | None = None


def judge_cells(cells: Sequence[tuple[str, Side, Side]], *, fdr: float = DEFAULT_FDR,
                seed: int = 0, n_resamples: int = DEFAULT_RESAMPLES) -> list[Judged]:
    """Judge every ``(metric, a, b)`` together, in the given order. Raises ValueError on
    an unknown metric or an ``fdr`` outside (0, 1)."""
    if not 0 < fdr < 1:
        raise ValueError(f"fdr must be between 0 and 1 (got {fdr})")
    unknown = {m for m, _, _ in cells} - set(METRICS)
    if unknown:
        raise ValueError(f"no test for metric(s) {sorted(unknown)}; known: {sorted(METRICS)}")
    tested: list[tuple[int, Shift, int]] = []
    out: list[Judged] = [Judged("too few runs")] * len(cells)
    for i, (metric, a, b) in enumerate(cells):
        if len(a) < MIN_RUNS or len(b) < MIN_RUNS:
            continue
        shift = side_shift(metric, a, b, seed + i, n_resamples)
        tested.append((i, shift, direction(metric, shift, a, b)))
    adjusted = benjamini_hochberg([s.p_value for _, s, _ in tested])
    for (i, shift, sign), p_adj in zip(tested, adjusted, strict=True):
        verdict: CellVerdict = "no evidence"
        if p_adj <= fdr and sign != 0:
            verdict = "regression" if sign > 0 else "improvement"
        out[i] = Judged(verdict, shift, p_adj)
    return out
