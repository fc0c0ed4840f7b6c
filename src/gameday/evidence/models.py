"""The evidence's typed records, light enough for the journal to import (no numpy/scipy).

:class:`Interval` (an estimate and its confidence interval), :class:`Judgement` (a check
judged on one: pass / fail / inconclusive) and :class:`FaultEvidence` (every trial of one
fault type, judged): computed by :mod:`gameday.evidence.intervals`,
:mod:`gameday.evidence.verdicts` and :mod:`gameday.evidence.trials`, kept in the journal.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gameday.threshold import Threshold

__all__ = ["DEFAULT_LEVEL", "Verdict3", "Interval", "Judgement", "FaultEvidence",
           "JUDGED_CHECKS", "judged_by_evidence", "VERDICT_SHARE", "DosePoint",
           "BreakingPoint", "SweepResult", "SWEPT_CHECKS", "counted_check"]

DEFAULT_LEVEL = 0.95
Verdict3 = Literal["pass", "fail", "inconclusive"]
#: Per-phase checks that the trials' judgements replace in a run with trials.
JUDGED_CHECKS = ("ttd_s", "ttr_s")
#: What a judgement adds to the resilience score's share (inconclusive: half).
VERDICT_SHARE: dict[str, float] = {"pass": 1.0, "inconclusive": 0.5, "fail": 0.0}


#: Per-phase checks a sweep pushes past their targets on purpose: its breaking point
#: (``journal.sweeps``) reports them instead. Availability, quorum and wrong answers of a
#: swept phase still count: users were served through it.
SWEPT_CHECKS = ("ttd_s", "ttr_s", "latency_p95_ms", "latency_p99_ms")


def judged_by_evidence(trial: int | None, check_name: str) -> bool:
    """Whether a phase's check is judged by the trials' evidence instead (the phase is a
    trial, the check a TTD or TTR)."""
    return trial is not None and check_name in JUDGED_CHECKS


def counted_check(phase: Any, check_name: str, with_evidence: bool) -> bool:
    """Whether a phase's check counts in the run's verdict and score on its own: not when
    the trials' evidence judges it (``with_evidence``), nor when the phase is one dose of
    a sweep and the check one the sweep pushes past its target."""
    if with_evidence and judged_by_evidence(phase.trial, check_name):
        return False
    return not (getattr(phase, "dose", None) is not None and check_name in SWEPT_CHECKS)


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


class DosePoint(BaseModel):
    """One dose: its trials' estimate with its interval, judged against the target."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dose: float
    trials: int
    interval: Interval
    verdict: Verdict3
    values: list[float | None] = Field(default_factory=list)


class BreakingPoint(BaseModel):
    """Where the verdict turns: ``low``–``high`` (doses), ``estimate`` inside; ``kind``
    says whether there is a crossing at all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["crossing", "holds throughout", "fails throughout", "unsettled"]
    estimate: float | None = None
    low: float | None = None
    high: float | None = None
    #: "up": the metric breaks its target as the dose grows; "down": it meets it.
    direction: Literal["up", "down"] | None = None


class SweepResult(BaseModel):
    """Every dose of one swept phase and its breaking point (kept in the journal)."""

    model_config = ConfigDict(extra="forbid")

    phase: str
    fault_type: str
    param: str
    metric: str
    target: Threshold
    search: bool = False
    points: list[DosePoint] = Field(default_factory=list)
    breaking_point: BreakingPoint
