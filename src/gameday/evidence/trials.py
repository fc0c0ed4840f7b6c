"""Every trial of a fault type, judged with intervals (runs with ``trials: N``, N > 1).

Per fault type, over its trial phases (``PhaseRecord.trial`` set):

- ``detection_rate``: trials whose fault the monitor saw / trials, with its Wilson
  interval, against ``slo.detection_rate``;
- ``ttd_p95_s``: TTD p95 over the trials (an undetected trial counts as +∞) with its
  bootstrap interval (whole trials resampled), against ``slo.ttd_s[type]``;
- ``ttr_p95_s``: TTR p95 over the detected trials (unrecovered: +∞), against
  ``slo.ttr_s``.

Each is pass / fail / inconclusive (:func:`gameday.evidence.verdicts.judge`). These
replace the per-trial TTD and TTR checks in the run's verdict
one slow trial of ten is a data point of a percentile, not a failed GameDay. Every other
check (availability, wrong answers, latency, quorum) keeps its per-phase pass/fail.
(:data:`gameday.evidence.models.JUDGED_CHECKS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gameday.evidence.intervals import bootstrap_quantile, wilson
from gameday.evidence.models import FaultEvidence, Judgement
from gameday.evidence.verdicts import judge
from gameday.run_record import PhaseRecord
from gameday.threshold import Threshold

__all__ = ["trial_evidence", "evidence_sentences", "sentence"]


def trial_evidence(phases: Sequence[PhaseRecord], slo: Any, *, seed: int = 0
                   ) -> list[FaultEvidence]:
    """The judged evidence per fault type over the trial phases of ``phases`` (none when
    no phase is a trial). ``slo``: the runbook's SloSpec (``detection_rate``, ``ttd_s``,
    ``ttr_s``). Aborted phases are left out (their fault was not observed to the end)."""
    by_type: dict[str, list[PhaseRecord]] = {}
    for ph in phases:
        if ph.trial is not None and ph.fault is not None and not ph.aborted:
            by_type.setdefault(ph.fault.type, []).append(ph)
    out = []
    for i, (ftype, trials) in enumerate(sorted(by_type.items())):
        ttd = [p.metrics.ttd_s for p in trials]
        detected = sum(t is not None for t in ttd)
        checks: list[Judgement] = [judge(
            wilson(detected, len(trials)), Threshold(op=">=", value=slo.detection_rate),
            "detection_rate")]
        limit = slo.ttd_s.get(ftype)
        if limit is not None:
            checks.append(judge(bootstrap_quantile(ttd, 0.95, seed=seed + i),
                                Threshold(op="<=", value=limit), "ttd_p95_s"))
        ttr = [p.metrics.ttr_s for p in trials if p.metrics.ttd_s is not None]
        if ttr:
            checks.append(judge(bootstrap_quantile(ttr, 0.95, seed=seed + 100 + i),
                                Threshold(op="<=", value=slo.ttr_s), "ttr_p95_s"))
        out.append(FaultEvidence(fault_type=ftype, phases=[p.name for p in trials],
                                 trials=len(trials), detected=detected, checks=checks))
    return out


_NAMES = {"detection_rate": "detection rate", "ttd_p95_s": "TTD p95", "ttr_p95_s": "TTR p95"}


def _fmt(name: str, value: float | None) -> str:
    if value is None:
        return "∞"
    return f"{value:.0%}" if name == "detection_rate" else f"{value:.2f} s"


def sentence(ev: FaultEvidence, j: Judgement) -> str:
    """``crash: TTD p95 0.41 s [0.33, 0.52], target ≤ 0.8 s: pass (10 trials)``."""
    iv = j.interval
    what = (f"{ev.fault_type}: {_NAMES.get(j.name, j.name)} {_fmt(j.name, iv.estimate)} "
            f"[{_fmt(j.name, iv.low)}, {_fmt(j.name, iv.high)}], target "
            f"{'≥' if j.target.op == '>=' else '≤'} {_fmt(j.name, float(j.target.value))}: "
            f"{j.verdict} ({ev.detected}/{ev.trials} detected)")
    if j.verdict == "inconclusive":
        what += (f"; about {j.more_trials} more trials would likely settle it"
                 if j.more_trials is not None else "; no number of trials would settle it")
    return what


def evidence_sentences(evidence: Sequence[FaultEvidence], verdict: str) -> list[str]:
    """Every judgement with the given verdict, in words."""
    return [sentence(ev, j) for ev in evidence for j in ev.checks if j.verdict == verdict]
