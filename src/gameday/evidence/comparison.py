"""Build A against build B: every (phase, metric) of the same GameDay run on both, judged.

``gameday compare`` runs one runbook several times against each build, interleaved, and
keeps each run's journal. :func:`journal_rows` turns a journal into one row per phase and
metric (a runbook phase repeated by ``trials: N`` contributes one row per trial, under the
runbook's phase name; a swept phase one per dose, ``<phase> @ <dose>``);
:func:`compare_cells` pools the rows of each side per (phase, metric) and judges them
together (:func:`gameday.evidence.cells.judge_cells`):
Mann–Whitney with the bootstrap interval of the difference of medians for TTD, TTR,
latency p95 and the score; the quasi-binomial counts test for availability; the p-values
of every cell adjusted by Benjamini–Hochberg. A cell is a **regression** when B is worse
than A with an adjusted p-value ≤ ``fdr``, an **improvement** when better, otherwise **no
evidence** (or **too few runs** with fewer than two values on a side).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from gameday.evidence.cells import DEFAULT_FDR, METRICS, UNBOUNDED, CellVerdict, Side, judge_cells
from gameday.evidence.intervals import DEFAULT_RESAMPLES

__all__ = ["Row", "CompareCell", "journal_rows", "compare_cells", "RUN_PHASE",
           "FAULT_METRICS", "PHASE_METRICS"]

#: The phase name of run-wide metrics (the score).
RUN_PHASE = "(run)"
#: Compared in every phase with a fault, and in every phase.
FAULT_METRICS = ("ttd_s", "ttr_s")
PHASE_METRICS = ("availability", "latency_p95_ms")


class Row(BaseModel):
    """One value of one run: side ``a`` or ``b``; value None = not observed (a fault never
    detected: +∞ for times, missing otherwise)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    side: Literal["a", "b"]
    run_id: str
    phase: str
    fault: str = ""
    metric: str
    value: float | None
    requests: int | None = None


class CompareCell(BaseModel):
    """One (phase, metric) of B against A: each side's median (times, score) or pooled
    availability, the effect B − A in the metric's unit with its interval (None: infinite),
    the test, its raw and adjusted p-value, the verdict, and every value of each side."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    phase: str
    fault: str
    metric: str
    verdict: CellVerdict
    n_a: int
    n_b: int
    a: float | None = None
    b: float | None = None
    effect: float | None = None
    low: float | None = None
    high: float | None = None
    test: str | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    values_a: list[float | None] = []
    values_b: list[float | None] = []


def journal_rows(journal: Any, side: Literal["a", "b"]) -> list[Row]:
    """The comparable values of one run (a :class:`~gameday.run_record.JournalRecord`):
    per phase availability and latency p95, TTD and TTR for a phase with a fault, and the
    run's score. Aborted phases are left out (their fault was not observed to the end)."""
    rows: list[Row] = []
    if journal.verdict is not None:
        rows.append(Row(side=side, run_id=journal.run_id, phase=RUN_PHASE, metric="score",
                        value=journal.verdict.score))
    for ph in journal.phases:
        if ph.aborted:
            continue
        name = ph.repeats or ph.name
        if ph.dose is not None:  # a sweep: each dose is its own cell, its trials pooled
            name = f"{name} @ {ph.dose:g}"
        fault = ph.fault.type if ph.fault is not None else ""
        metrics = (*FAULT_METRICS, *PHASE_METRICS) if ph.fault is not None else PHASE_METRICS
        for metric in metrics:
            rows.append(Row(side=side, run_id=journal.run_id, phase=name, fault=fault,
                            metric=metric, value=getattr(ph.metrics, metric),
                            requests=ph.metrics.requests))
    return rows


def _side(rows: Sequence[Row], metric: str) -> Side:
    kept = [r for r in rows if metric in UNBOUNDED or r.value is not None]
    values = np.array([math.nan if r.value is None else r.value for r in kept], dtype=float)
    requests = np.array([r.requests or 0 for r in kept], dtype=float)
    return Side(values, requests, [r.run_id for r in kept])


def _values(side: Side) -> list[float | None]:
    return [None if math.isnan(v) else float(v) for v in side.values]


def compare_cells(rows: Iterable[Row], *, fdr: float = DEFAULT_FDR, seed: int = 0,
                  n_resamples: int = DEFAULT_RESAMPLES) -> list[CompareCell]:
    """Judge every (phase, metric) found in ``rows``, B against A, in phase order of first
    appearance then metric order. Raises ValueError on an unknown metric or a bad ``fdr``."""
    groups: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        groups.setdefault((r.phase, r.metric), []).append(r)
    unknown = {m for _, m in groups} - set(METRICS)
    if unknown:
        raise ValueError(f"no test for metric(s) {sorted(unknown)}; known: {sorted(METRICS)}")
    order = list(dict.fromkeys(p for p, _ in groups))
    keys = sorted(groups, key=lambda k: (order.index(k[0]), list(METRICS).index(k[1])))
    sides = []
    for key in keys:
        group = groups[key]
        sides.append((key[1], _side([r for r in group if r.side == "a"], key[1]),
                      _side([r for r in group if r.side == "b"], key[1])))
    judged = judge_cells(sides, fdr=fdr, seed=seed, n_resamples=n_resamples)
    cells = []
    for (phase, metric), (_, a, b), j in zip(keys, sides, judged, strict=True):
        fault = next((r.fault for r in groups[(phase, metric)] if r.fault), "")
        base: dict[str, Any] = {"phase": phase, "fault": fault, "metric": metric,
                                "verdict": j.verdict, "n_a": len(a), "n_b": len(b),
                                "values_a": _values(a), "values_b": _values(b)}
        s = j.shift
        if s is not None:
            base.update(a=s.a, b=s.b, effect=s.effect, low=s.low, high=s.high, test=s.test,
                        p_value=s.p_value, p_adjusted=j.p_adjusted)
        cells.append(CompareCell(**base))
    return cells
