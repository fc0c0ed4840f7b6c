"""Regressions across runs, with evidence: a recent window of runs against the earlier ones.

For every cell (runbook, phase, metric) of a run history, the last ``window`` runs are
compared with all earlier runs of the same cell (never capped: more history, more power)
by the test fit for the metric (:data:`METRICS`): Mann–Whitney with a bootstrap interval
of the difference of medians for TTD, TTR and the score; the quasi-binomial counts test
for availability. The p-values of all cells tested together are adjusted by
Benjamini–Hochberg, and a cell is a **regression** (or an **improvement**) only when its
adjusted p-value is ≤ ``fdr``: with 20 cells and no change at all, the page stays quiet
in 95 % of histories, where the median + 25 % rule it replaces flagged most of them
(docs/statistics.md has the figures). Otherwise it says **no evidence**, or **too few
runs** when a side has fewer than :data:`MIN_RUNS` values.

A cell with fewer than ``2 × window`` runs compares its newer half with its older half.
Runs of different runbooks are never compared (different load, different targets).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from gameday.evidence.intervals import DEFAULT_RESAMPLES
from gameday.evidence.twosample import Shift, benjamini_hochberg, counts_test, shift_test

__all__ = ["METRICS", "MIN_RUNS", "DEFAULT_WINDOW", "DEFAULT_FDR", "TrendVerdict", "Cell",
           "trend_cells", "split", "flag_values"]

#: metric → (test, worse when the value is "higher" or "lower").
METRICS: dict[str, tuple[Literal["shift", "counts"], Literal["higher", "lower"]]] = {
    "ttd_s": ("shift", "higher"),
    "ttr_s": ("shift", "higher"),
    "availability": ("counts", "lower"),
    "score": ("shift", "lower"),
}
#: Values a side needs before a cell is tested at all.
MIN_RUNS = 2
DEFAULT_WINDOW = 5
DEFAULT_FDR = 0.05

TrendVerdict = Literal["regression", "improvement", "no evidence", "too few runs"]


class Cell(BaseModel):
    """One (runbook, phase, metric): the recent window against the earlier runs.

    ``before``/``recent``: the median (times, score) or pooled availability of each side;
    ``effect`` = recent − before in the metric's unit, with its interval (None: infinite,
    e.g. a fault no longer detected); ``recent_runs``: the run ids of the window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    runbook: str
    phase: str
    fault: str
    metric: str
    verdict: TrendVerdict
    n_before: int
    n_recent: int
    before: float | None = None
    recent: float | None = None
    effect: float | None = None
    low: float | None = None
    high: float | None = None
    test: str | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    recent_runs: list[str] = []


def split(n: int, window: int) -> int:
    """How many of a cell's ``n`` runs (oldest first) are the recent window."""
    return min(window, n // 2)


def _test(metric: str, before: _Side, recent: _Side, seed: int, n_resamples: int) -> Shift:
    kind, _ = METRICS[metric]
    if kind == "counts":
        s = counts_test(before.failures(), recent.failures())
        # in availability's own terms: recent − before, the failure shares' flipped
        flip = {"a": None if s.a is None else 1 - s.a, "b": None if s.b is None else 1 - s.b,
                "effect": None if s.effect is None else -s.effect,
                "low": None if s.high is None else -s.high,
                "high": None if s.low is None else -s.low}
        return s.model_copy(update=flip)
    return shift_test(before.times(), recent.times(), seed=seed, n_resamples=n_resamples)


class _Side:
    """One side of a cell as plain arrays (pandas per cell costs more than the tests)."""

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


def _direction(metric: str, shift: Shift, before: _Side, recent: _Side) -> int:
    """+1 when the recent runs are worse, −1 when better, 0 when no direction."""
    _, worse = METRICS[metric]
    sign = 0
    if shift.effect is not None and shift.effect != 0:
        sign = 1 if shift.effect > 0 else -1
    elif shift.effect is None:  # infinite: the side that went unobserved is the larger
        sign = 1 if shift.b is None else -1
    else:  # equal medians: which side ranks higher on the whole
        a = np.nan_to_num(before.values, nan=math.inf)
        b = np.nan_to_num(recent.values, nan=math.inf)
        wins = int(np.sign(b[:, None] - a[None, :]).sum())
        sign = (wins > 0) - (wins < 0)
    return sign if worse == "higher" else -sign


def trend_cells(history: pd.DataFrame, *, window: int = DEFAULT_WINDOW,
                fdr: float = DEFAULT_FDR, seed: int = 0,
                n_resamples: int = DEFAULT_RESAMPLES) -> list[Cell]:
    """Judge every (runbook, phase, metric) of ``history``.

    ``history``: one row per run and metric with columns run_id, start, runbook, phase,
    fault, metric (a key of :data:`METRICS`), value (NaN: not observed) and, for
    availability, requests. ``seed``/``n_resamples``: the effect intervals' bootstrap (the
    verdicts do not depend on them). Raises ValueError on an unknown metric, a ``window``
    < 1 or an ``fdr`` outside (0, 1).
    """
    if window < 1:
        raise ValueError(f"window must be at least 1 run (got {window})")
    if not 0 < fdr < 1:
        raise ValueError(f"fdr must be between 0 and 1 (got {fdr})")
    unknown = set(history["metric"]) - set(METRICS) if len(history) else set()
    if unknown:
        raise ValueError(f"no test for metric(s) {sorted(unknown)}; known: {sorted(METRICS)}")
    ordered = history.sort_values(["start", "run_id"], kind="stable")
    tested: list[tuple[dict[str, Any], Shift, int]] = []
    untested: list[Cell] = []
    for i, ((runbook, phase, metric), group) in enumerate(
            ordered.groupby(["runbook", "phase", "metric"], sort=True)):
        values = group["value"].to_numpy(dtype=float)
        requests = (group["requests"].to_numpy(dtype=float) if "requests" in group
                    else np.zeros(len(group)))
        runs = [str(r) for r in group["run_id"]]
        if metric not in ("ttd_s", "ttr_s"):  # times keep "never observed" (NaN = +∞)
            keep = ~np.isnan(values)
            values, requests = values[keep], requests[keep]
            runs = [r for r, k in zip(runs, keep, strict=True) if k]
        cut = len(values) - split(len(values), window)
        before = _Side(values[:cut], requests[:cut], runs[:cut])
        recent = _Side(values[cut:], requests[cut:], runs[cut:])
        base: dict[str, Any] = {"runbook": str(runbook), "phase": str(phase),
                                "metric": str(metric),
                "fault": str(group["fault"].iloc[-1]), "n_before": len(before),
                "n_recent": len(recent), "recent_runs": recent.runs}
        if len(before) < MIN_RUNS or len(recent) < MIN_RUNS:
            untested.append(Cell(verdict="too few runs", **base))
            continue
        shift = _test(str(metric), before, recent, seed + i, n_resamples)
        tested.append((base, shift, _direction(str(metric), shift, before, recent)))
    adjusted = benjamini_hochberg([s.p_value for _, s, _ in tested])
    cells = []
    for (base, s, direction), p_adj in zip(tested, adjusted, strict=True):
        verdict: TrendVerdict = "no evidence"
        if p_adj <= fdr and direction != 0:
            verdict = "regression" if direction > 0 else "improvement"
        cells.append(Cell(verdict=verdict, before=s.a, recent=s.b, effect=s.effect, low=s.low,
                          high=s.high, test=s.test, p_value=s.p_value, p_adjusted=p_adj,
                          **base))
    return sorted(cells + untested, key=lambda c: (c.runbook, c.phase, c.metric))


def flag_values(history: pd.DataFrame, cells: list[Cell]) -> pd.DataFrame:
    """``history`` with a ``verdict`` column: each value in the recent window of a cell
    takes the cell's verdict (what plots mark), earlier values "" (they are the baseline).
    """
    verdicts = {(c.runbook, c.phase, c.metric, run): c.verdict
                for c in cells for run in c.recent_runs}
    keys = zip(history["runbook"], history["phase"], history["metric"], history["run_id"],
               strict=True)
    return history.assign(verdict=[verdicts.get(k, "") for k in keys])
