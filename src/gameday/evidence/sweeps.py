"""Breaking points: a metric against the dose of a fault, and where it crosses its target.

A runbook phase with ``sweep:`` runs its fault at several doses (``latency_ms``,
``probability``, any numeric parameter of a system's fault), ``trials`` times each
(:mod:`gameday.sweep` plans them). Per dose, :func:`dose_point` estimates the swept
metric over that dose's trials with its 95 % interval and judges it against the target
(pass / fail / inconclusive, :func:`gameday.evidence.verdicts.judge`):

- ``detection_rate``: detected trials / trials, Wilson interval;
- every other metric (TTD, TTR, p95/p99 latency, availability, the share of the front's
  requests to the faulted member that timed out): the **median** over the
  trials with its bootstrap interval (whole trials resampled). A median, not a p95: with
  three trials a dose, a p95 is the worst trial. A fault never detected is +∞ for TTD.

:func:`threshold` names the breaking point from the judged doses: the dose range where
the verdict turns from pass to fail, ``[last passing dose, first failing dose]`` (any
inconclusive dose between them stays inside the range: the interval is the sweep's
honest resolution), with an estimate where the point estimates cross the target
(linear between the two doses around the crossing). No crossing: the target holds (or
fails) across the whole range, and the result says so. :func:`next_dose` is the bisection
step of a search (``sweep: {between: [low, high]}``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from gameday.evidence.intervals import bootstrap_quantile, wilson
from gameday.evidence.models import BreakingPoint, DosePoint, SweepResult, Verdict3
from gameday.evidence.verdicts import judge
from gameday.threshold import Threshold

__all__ = ["SWEEP_METRICS", "DosePoint", "BreakingPoint", "SweepResult", "dose_point",
           "threshold", "next_dose"]

#: Metrics a sweep can be about (a PhaseMetrics field, or the detection rate).
SWEEP_METRICS = ("ttd_s", "ttr_s", "detection_rate", "availability", "latency_p95_ms",
                 "latency_p99_ms", "front_timeout_share")


def dose_point(dose: float, metric: str, values: Sequence[float | None], target: Threshold,
               *, seed: int = 0) -> DosePoint:
    """The trials of one dose judged. ``values``: per trial the metric (None: never
    observed; for ``detection_rate`` the trial's TTD, None = undetected). Raises
    ValueError without a value."""
    if not values:
        raise ValueError(f"dose {dose:g} has no trial")
    if metric == "detection_rate":
        interval = wilson(sum(v is not None for v in values), len(values))
    else:
        interval = bootstrap_quantile(list(values), 0.5, seed=seed)
    j = judge(interval, target, metric)
    return DosePoint(dose=dose, trials=len(values), interval=interval, verdict=j.verdict,
                     values=list(values))


def _side(p: DosePoint) -> Verdict3:
    return p.verdict


def _estimate_holds(p: DosePoint, target: Threshold) -> bool:
    est = p.interval.estimate
    return target.holds(math.inf if est is None else est)


def threshold(points: Sequence[DosePoint], target: Threshold) -> BreakingPoint:
    """The breaking point of judged doses (module docstring)."""
    pts = sorted(points, key=lambda p: p.dose)
    settled = [p for p in pts if p.verdict != "inconclusive"]
    if not settled:
        return BreakingPoint(kind="unsettled")
    kinds = {p.verdict for p in settled}
    if kinds == {"pass"}:
        return BreakingPoint(kind="holds throughout")
    if kinds == {"fail"}:
        return BreakingPoint(kind="fails throughout")
    direction: Literal["up", "down"] = "up" if _side(settled[0]) == "pass" else "down"
    good, bad = ("pass", "fail") if direction == "up" else ("fail", "pass")
    first_bad = next(i for i, p in enumerate(pts) if p.verdict == bad)
    last_good = max(i for i, p in enumerate(pts[:first_bad]) if p.verdict == good)
    low, high = pts[last_good].dose, pts[first_bad].dose
    return BreakingPoint(kind="crossing", low=low, high=high, direction=direction,
                         estimate=_crossing(pts[last_good:first_bad + 1], target))


def _crossing(pts: Sequence[DosePoint], target: Threshold) -> float:
    """Where the point estimates cross the target between the first and last of ``pts``:
    linear between the two neighbouring doses on either side of it."""
    value = float(target.value)
    for a, b in zip(pts, pts[1:], strict=False):
        if _estimate_holds(a, target) != _estimate_holds(b, target):
            ya, yb = a.interval.estimate, b.interval.estimate
            if ya is None or yb is None or ya == yb:
                return (a.dose + b.dose) / 2
            t = (value - ya) / (yb - ya)
            return a.dose + min(1.0, max(0.0, t)) * (b.dose - a.dose)
    return (pts[0].dose + pts[-1].dose) / 2


def next_dose(points: Sequence[DosePoint], target: Threshold) -> float | None:
    """The bisection step of a search: the midpoint of the two adjacent tried doses whose
    point estimates fall on either side of the target (None: the doses tried so far do
    not bracket it, so no midpoint can find it)."""
    pts = sorted(points, key=lambda p: p.dose)
    for a, b in zip(pts, pts[1:], strict=False):
        if _estimate_holds(a, target) != _estimate_holds(b, target):
            return (a.dose + b.dose) / 2
    return None
