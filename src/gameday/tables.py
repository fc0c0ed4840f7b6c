"""The report's tables, read straight from the typed journal: the figures the run recorded
with :mod:`gameday.metrics`. They rearrange values; they compute no metric. Render them
with :func:`gameday.escape.styler` (every cell escaped)."""

from __future__ import annotations

import pandas as pd

from gameday.run_record import JournalRecord, PhaseRecord

__all__ = ["METRIC_LABELS", "phase_table", "checks_table", "detection_table", "delta_table",
           "crosscheck_table"]

METRIC_LABELS = {
    "ttd_s": "TTD (s)",
    "ttr_s": "TTR (s)",
    "availability": "availability",
    "latency_p95_ms": "p95 (ms)",
    "latency_p99_ms": "p99 (ms)",
    "quorum_rate": "quorum rate",
    "wrong_answers": "wrong answers",
}


def _fault_text(ph: PhaseRecord) -> str:
    return "—" if ph.fault is None else f"{ph.fault.type} on replica {ph.fault.component}"


def phase_table(journal: JournalRecord) -> pd.DataFrame:
    """One row per phase: fault, requests and every SLO metric from ``phases[].metrics``."""
    rows = [
        {"phase": ph.name, "fault": _fault_text(ph), "requests": ph.metrics.requests,
         **{k: getattr(ph.metrics, k) for k in METRIC_LABELS}, "passed": ph.passed}
        for ph in journal.phases
    ]
    cols = ["phase", "fault", "requests", *METRIC_LABELS, "passed"]
    return pd.DataFrame(rows, columns=cols)


def checks_table(journal: JournalRecord) -> pd.DataFrame:
    """One row per SLO check of every phase: phase, check, value, target, PASS/FAIL."""
    rows = [
        {"phase": ph.name, "check": c.name, "value": c.value, "target": str(c.target),
         "result": "PASS" if c.passed else "FAIL"}
        for ph in journal.phases
        for c in ph.checks
    ]
    return pd.DataFrame(rows, columns=["phase", "check", "value", "target", "result"])


def _target(ph: PhaseRecord, name: str) -> float | None:
    """The numeric target a phase's check ``name`` was held to."""
    return next((float(c.target.value) for c in ph.checks if c.name == name), None)


def detection_table(journal: JournalRecord) -> pd.DataFrame:
    """TTD/TTR per fault phase with the targets its checks were held to."""
    rows = [
        {"phase": ph.name, "fault": ph.fault.type, "replica": ph.fault.component,
         "ttd_s": ph.metrics.ttd_s, "ttd_target_s": _target(ph, "ttd_s"),
         "ttr_s": ph.metrics.ttr_s, "ttr_target_s": _target(ph, "ttr_s"),
         "outage_s": ph.metrics.outage_s}
        for ph in journal.phases if ph.fault is not None
    ]
    cols = ["phase", "fault", "replica", "ttd_s", "ttd_target_s", "ttr_s", "ttr_target_s",
            "outage_s"]
    return pd.DataFrame(rows, columns=cols).astype(
        {"ttd_s": float, "ttr_s": float, "ttd_target_s": float, "ttr_target_s": float})


def delta_table(journal: JournalRecord, baseline: str | None = None) -> pd.DataFrame:
    """Each fault phase minus the baseline phase (the first phase without a fault, or
    ``baseline``): latency p95/p99 in ms and availability in percentage points."""
    cols = ["phase", "latency_p95_delta_ms", "latency_p99_delta_ms", "availability_delta_pp"]
    base = next((p for p in journal.phases
                 if (p.name == baseline if baseline else p.fault is None)), None)
    if base is None:
        return pd.DataFrame(columns=cols)
    b = base.metrics

    def diff(ph: PhaseRecord, key: str, scale: float = 1.0) -> float | None:
        mine, theirs = getattr(ph.metrics, key), getattr(b, key)
        return None if mine is None or theirs is None else (mine - theirs) * scale

    rows = [
        {"phase": p.name, "latency_p95_delta_ms": diff(p, "latency_p95_ms"),
         "latency_p99_delta_ms": diff(p, "latency_p99_ms"),
         "availability_delta_pp": diff(p, "availability", 100.0)}
        for p in journal.phases if p.fault is not None
    ]
    return pd.DataFrame(rows, columns=cols)


def crosscheck_table(differences: dict[str, list[str]]) -> pd.DataFrame:
    """:func:`gameday.metrics.crosscheck`'s result as rows: ``phase``, ``result``
    ("matches" or "differs: <metric> recorded a, recomputed b; …")."""
    rows = [{"phase": name, "result": "matches" if not diffs else "differs: " + "; ".join(diffs)}
            for name, diffs in differences.items()]
    return pd.DataFrame(rows, columns=["phase", "result"])
