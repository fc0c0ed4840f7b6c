"""The evidence's typed records, light enough for the journal to import (no numpy/scipy).

:class:`Interval` (an estimate and its confidence interval), :class:`Judgement` (a check
judged on one: pass / fail / inconclusive) and :class:`FaultEvidence` (every trial of one
fault type, judged): computed by :mod:`gameday.evidence.intervals`,
:mod:`gameday.evidence.verdicts` and :mod:`gameday.evidence.trials`, kept in the journal.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gameday.threshold import Threshold

__all__ = ["DEFAULT_LEVEL", "Verdict3", "Interval", "Judgement", "FaultEvidence",
           "JUDGED_CHECKS", "judged_by_evidence", "VERDICT_SHARE"]

DEFAULT_LEVEL = 0.95
Verdict3 = Literal["pass", "fail", "inconclusive"]
#: Per-phase checks that the trials' judgements replace in a run with trials.
JUDGED_CHECKS = ("ttd_s", "ttr_s")
#: What a judgement adds to the resilience score's share (inconclusive: half).
VERDICT_SHARE: dict[str, float] = {"pass": 1.0, "inconclusive": 0.5, "fail": 0.0}


def judged_by_evidence(trial: int | None, check_name: str) -> bool:
    """Whether a phase's check is judged by the trials' evidence instead (the phase is a
    trial, the check a TTD or TTR)."""
    return trial is not None and check_name in JUDGED_CHECKS


class Interval(BaseModel):
    """An estimate with its confidence interval; ``None`` stands for +∞ (never observed,
    or no upper bound): every quantity here is ≥ 0."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    estimate: float | None
    low: float | None
    high: float | None
    level: float = DEFAULT_LEVEL
    n: int
    method: str

    def bounds(self) -> tuple[float, float]:
        """``(low, high)`` with +∞ for None."""
        return _inf(self.low), _inf(self.high)

    def contains(self, value: float) -> bool:
        lo, hi = self.bounds()
        return lo <= value <= hi


def _inf(x: float | None) -> float:
    return math.inf if x is None else x


class Judgement(BaseModel):
    """A check judged on an interval: the verdict, and for an inconclusive one the extra
    trials that would likely settle it (None: none within reach). ``name``: the metric
    (``detection_rate``, ``ttd_p95_s``, ``ttr_p95_s``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    verdict: Verdict3
    interval: Interval
    target: Threshold
    more_trials: int | None = None
    name: str = ""


class FaultEvidence(BaseModel):
    """Every trial of one fault type in a run with ``trials: N``, and their judgements."""

    model_config = ConfigDict(extra="forbid")

    fault_type: str
    phases: list[str]
    trials: int
    detected: int
    checks: list[Judgement] = Field(default_factory=list)

    @property
    def verdict(self) -> Verdict3:
        """fail if any check fails, else inconclusive if any is, else pass."""
        verdicts = {c.verdict for c in self.checks}
        return ("fail" if "fail" in verdicts else
                "inconclusive" if "inconclusive" in verdicts else "pass")
