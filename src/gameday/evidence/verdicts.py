"""Three-valued verdicts: pass, fail, or inconclusive with the trials that would settle it.

A target is a :class:`~gameday.run_record.Threshold` (``{"op": "<=", "value": 0.8}``). With
an :class:`~gameday.evidence.intervals.Interval` for the measured value:

- **pass**: the whole interval meets the target;
- **fail**: no point of the interval meets it;
- **inconclusive**: the interval straddles the target. :func:`trials_to_settle` then says
  how many more trials would likely settle it, assuming the estimate stays where it is
  and the interval narrows as 1/√n (the Wilson interval is recomputed exactly instead).
  ``None`` when no number of trials can (the estimate sits on the target, or a rate
  target of 100 % that no interval of a finite number of trials can be sure of).
"""

from __future__ import annotations

import math

import numpy as np

from gameday.evidence.intervals import wilson_bounds
from gameday.evidence.models import Interval, Judgement, Verdict3
from gameday.threshold import Threshold

__all__ = ["Verdict3", "Judgement", "judge", "trials_to_settle", "MAX_MORE_TRIALS"]

#: More trials than this are reported as None ("not within reach").
MAX_MORE_TRIALS = 10_000


def judge(interval: Interval, target: Threshold, name: str = "") -> Judgement:
    """Pass, fail or inconclusive: ``interval`` against ``target`` (module docstring);
    ``name`` names the check in the result."""
    j = _judge(interval, target)
    return j.model_copy(update={"name": name}) if name else j


def _judge(interval: Interval, target: Threshold) -> Judgement:
    lo, hi = interval.bounds()
    ends = [target.holds(lo), target.holds(hi)]
    if target.op in ("<=", "<", ">=", ">"):  # monotone: the two ends decide
        if all(ends):
            return Judgement(verdict="pass", interval=interval, target=target)
        if not any(ends):
            return Judgement(verdict="fail", interval=interval, target=target)
    elif lo == hi:  # "==": only a point interval can pass
        verdict: Verdict3 = "pass" if ends[0] else "fail"
        return Judgement(verdict=verdict, interval=interval, target=target)
    elif not lo <= target.value <= hi:
        return Judgement(verdict="fail", interval=interval, target=target)
    return Judgement(verdict="inconclusive", interval=interval, target=target,
                     more_trials=trials_to_settle(interval, target))


def trials_to_settle(interval: Interval, target: Threshold) -> int | None:
    """How many trials beyond ``interval.n`` would likely make the verdict pass or fail."""
    if interval.estimate is None or target.op == "==":
        return None
    if interval.method == "wilson":
        return _wilson_more(interval, target)
    lo, hi = interval.bounds()
    distance = abs(interval.estimate - target.value)
    # the half-width on the side of the target has to shrink to the distance
    half = (interval.estimate - lo) if target.value < interval.estimate else (
        hi - interval.estimate)
    if distance == 0 or not math.isfinite(half):
        return None
    need = interval.n * (half / distance) ** 2
    more = max(1, math.ceil(need - interval.n))
    return more if more <= MAX_MORE_TRIALS else None


def _wilson_more(interval: Interval, target: Threshold) -> int | None:
    """Exactly: the fewest extra trials whose Wilson interval at the same rate no longer
    straddles the target."""
    n0 = interval.n
    p = float(interval.estimate)  # type: ignore[arg-type]
    ns = np.arange(n0 + 1, n0 + MAX_MORE_TRIALS + 1, dtype=float)
    lo, hi = wilson_bounds(p * ns, ns, interval.level)
    settled = np.array([target.holds(a) == target.holds(b) for a, b in zip(lo, hi, strict=True)])
    hits = np.flatnonzero(settled)
    return None if hits.size == 0 else int(ns[hits[0]] - n0)
