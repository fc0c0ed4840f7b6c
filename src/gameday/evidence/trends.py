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

from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from gameday.evidence.cells import DEFAULT_FDR, METRICS, MIN_RUNS, UNBOUNDED, Side, judge_cells
from gameday.evidence.intervals import DEFAULT_RESAMPLES

__all__ = ["METRICS", "MIN_RUNS", "DEFAULT_WINDOW", "DEFAULT_FDR", "TrendVerdict", "Cell",
           "trend_cells", "split", "flag_values"]

DEFAULT_WINDOW = 5

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
    ordered = history.sort_values(["start", "run_id"], kind="stable")
    bases: list[dict[str, Any]] = []
    sides: list[tuple[str, Side, Side]] = []
    for (runbook, phase, metric), group in ordered.groupby(["runbook", "phase", "metric"],
                                                           sort=True):
        values = group["value"].to_numpy(dtype=float)
        requests = (group["requests"].to_numpy(dtype=float) if "requests" in group
                    else np.zeros(len(group)))
        runs = [str(r) for r in group["run_id"]]
        if metric not in UNBOUNDED:  # times keep "never observed" (NaN = +∞)
            keep = ~np.isnan(values)
            values, requests = values[keep], requests[keep]
            runs = [r for r, k in zip(runs, keep, strict=True) if k]
        cut = len(values) - split(len(values), window)
        before = Side(values[:cut], requests[:cut], runs[:cut])
        recent = Side(values[cut:], requests[cut:], runs[cut:])
        bases.append({"runbook": str(runbook), "phase": str(phase), "metric": str(metric),
                      "fault": str(group["fault"].iloc[-1]), "n_before": len(before),
                      "n_recent": len(recent), "recent_runs": recent.runs})
        sides.append((str(metric), before, recent))
    cells = []
    for base, judged in zip(bases, judge_cells(sides, fdr=fdr, seed=seed,
                                               n_resamples=n_resamples), strict=True):
        s = judged.shift
        if s is None:
            cells.append(Cell(verdict=judged.verdict, **base))
            continue
        cells.append(Cell(verdict=judged.verdict, before=s.a, recent=s.b, effect=s.effect,
                          low=s.low, high=s.high, test=s.test, p_value=s.p_value,
                          p_adjusted=judged.p_adjusted, **base))
    return sorted(cells, key=lambda c: (c.runbook, c.phase, c.metric))


def flag_values(history: pd.DataFrame, cells: list[Cell]) -> pd.DataFrame:
    """``history`` with a ``verdict`` column: each value in the recent window of a cell
    takes the cell's verdict (what plots mark), earlier values "" (they are the baseline).
    """
    verdicts = {(c.runbook, c.phase, c.metric, run): c.verdict
                for c in cells for run in c.recent_runs}
    keys = zip(history["runbook"], history["phase"], history["metric"], history["run_id"],
               strict=True)
    return history.assign(verdict=[verdicts.get(k, "") for k in keys])
