"""The report's tables, read straight from the typed journal: the figures the run recorded
with :mod:`gameday.metrics`. They rearrange values; they compute no metric. Render them
with :func:`gameday.escape.styler` (every cell escaped). The ``readable_*`` tables are for
people (units, precision, ✔/✘: :mod:`gameday.units`); the others keep every digit for
the machine-readable summary and the plots."""

from __future__ import annotations

from typing import Any

import pandas as pd

from gameday.headline import FAIL_MARK, PASS_MARK
from gameday.run_record import Check, JournalRecord, PhaseRecord
from gameday.units import (
    MISSING,
    NOT_APPLICABLE,
    fmt_delta,
    fmt_seconds,
    fmt_target,
    fmt_value,
    metric_name,
    not_applicable,
)

__all__ = ["METRIC_LABELS", "READABLE_LABELS", "phase_table", "checks_table", "plan_rows",
           "runbook_slo",
           "detection_table", "delta_table", "crosscheck_table", "readable_phase_table",
           "readable_checks_table", "readable_detection_table", "readable_delta_table"]

METRIC_LABELS = {
    "ttd_s": "TTD (s)",
    "ttr_s": "TTR (s)",
    "availability": "availability",
    "latency_p95_ms": "p95 (ms)",
    "latency_p99_ms": "p99 (ms)",
    "quorum_rate": "quorum rate",
    "wrong_answers": "wrong answers",
}

#: Column names of the readable phase table (units are in the cells).
READABLE_LABELS = {
    "availability": "availability", "latency_p95_ms": "p95", "latency_p99_ms": "p99",
    "quorum_rate": "quorum rate", "wrong_answers": "wrong answers", "ttd_s": "TTD",
    "ttr_s": "TTR",
}
_READABLE_METRICS = tuple(READABLE_LABELS)


def _fault_text(ph: PhaseRecord) -> str:
    return "—" if ph.fault is None else f"{ph.fault.type} on {ph.fault.where}"


def _fault_of(fault: Any) -> str:
    """A runbook's fault (as the journal keeps the runbook) in words: ``kill on
    backend/b`` (version 1 journals named a ``replica``)."""
    if not isinstance(fault, dict):
        return "—"
    where = fault.get("target") or str(fault.get("replica", "?"))
    return f"{fault.get('type')} on {where}"


def plan_rows(runbook: dict[str, Any]) -> list[dict[str, Any]]:
    """The runbook's phases as the report's plan: phase, fault, duration, recovery."""
    return [{"phase": p.get("name"),
             "fault": _fault_of(p.get("fault")) if p.get("fault") else "—",
             "duration": fmt_seconds(p.get("duration_s")),
             "recovery": (p.get("recovery") or {}).get("action", "—")}
            for p in runbook.get("phases", []) if isinstance(p, dict)]


def runbook_slo(runbook: dict[str, Any], phases: Any = ()) -> dict[str, Any]:
    """The runbook's ``slo`` as the report lists it: only the TTD targets of the faults it
    injects, and no quorum or wrong-answer target that does not apply to the run of
    ``phases`` (its phase records: no answer said whether a quorum served it, nothing
    judged answers; :func:`gameday.units.not_applicable`)."""
    slo = dict(runbook.get("slo") or {})
    used = {(p.get("fault") or {}).get("type") for p in runbook.get("phases", [])
            if isinstance(p, dict)}
    ttd = slo.get("ttd_s")
    if isinstance(ttd, dict):
        slo["ttd_s"] = {k: v for k, v in ttd.items() if k in used}
    for name in ("quorum_rate", "wrong_answers"):
        if not_applicable(name, phases):
            slo.pop(name, None)
    return slo


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
        {"phase": ph.name, "fault": ph.fault.type, "component": ph.fault.component,
         "ttd_s": ph.metrics.ttd_s, "ttd_target_s": _target(ph, "ttd_s"),
         "ttr_s": ph.metrics.ttr_s, "ttr_target_s": _target(ph, "ttr_s"),
         "outage_s": ph.metrics.outage_s}
        for ph in journal.phases if ph.fault is not None
    ]
    cols = ["phase", "fault", "component", "ttd_s", "ttd_target_s", "ttr_s", "ttr_target_s",
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


# ----------------------------------------------------------------- tables for people
# The same rows as above with units, sensible precision and ✔/✘ (gameday.units); the
# numeric tables stay for the machine-readable summary and the plots.

def _mark(check: Check | None, text: str) -> str:
    if check is None:
        return text
    return f"{PASS_MARK if check.passed else FAIL_MARK} {text}"


def _shown(ph: PhaseRecord, metric: str, na: bool = False) -> str:
    check = next((c for c in ph.checks if c.name == metric), None)
    value = getattr(ph.metrics, metric)
    if value is None:
        text = ("not observed" if metric in ("ttd_s", "ttr_s") and ph.fault
                else NOT_APPLICABLE if na else MISSING)
    else:
        text = fmt_value(metric, value, target=check.target if check else None)
    return _mark(check, text)


def _window(ph: PhaseRecord, t0: float) -> str:
    start = ph.start.timestamp() - t0
    if ph.end is None:
        return f"from {start:.1f} s (did not end)"
    return f"{start:.1f}–{ph.end.timestamp() - t0:.1f} s"


def readable_phase_table(journal: JournalRecord) -> pd.DataFrame:
    """One row per phase, every figure with its unit; a figure held to a target carries
    ✔ or ✘; ``window`` is the phase's span in seconds since the run started (the plots'
    axis)."""
    t0 = journal.start.timestamp()
    na = {m for m in _READABLE_METRICS if not_applicable(m, journal.phases)}
    rows = []
    for ph in journal.phases:
        failed = sum(not c.passed for c in ph.checks)
        rows.append({
            "phase": ph.name, "fault": "—" if ph.fault is None else ph.fault.describe(),
            "window": _window(ph, t0), "requests": fmt_value("requests", ph.metrics.requests),
            **{READABLE_LABELS[m]: _shown(ph, m, m in na) for m in _READABLE_METRICS},
            "result": (f"{PASS_MARK} passed" if ph.passed
                       else f"{FAIL_MARK} {failed} of {len(ph.checks)} checks failed"
                       if failed else f"{FAIL_MARK} {ph.aborted or 'failed'}"),
        })
    cols = ["phase", "fault", "window", "requests",
            *(READABLE_LABELS[m] for m in _READABLE_METRICS), "result"]
    return pd.DataFrame(rows, columns=cols)


def readable_checks_table(journal: JournalRecord) -> pd.DataFrame:
    """Every check in words: phase, check, measured, target, result (✔ pass / ✘ FAIL)."""
    rows = [
        {"phase": ph.name, "check": metric_name(c.name),
         "measured": ("not observed" if c.value is None
                      else fmt_value(c.name, c.value, target=c.target)),
         "target": fmt_target(c.name, c.target),
         "result": f"{PASS_MARK} pass" if c.passed else f"{FAIL_MARK} FAIL"
                   + (f": {c.detail}" if c.detail else "")}
        for ph in journal.phases for c in ph.checks
    ]
    return pd.DataFrame(rows, columns=["phase", "check", "measured", "target", "result"])


def readable_detection_table(journal: JournalRecord) -> pd.DataFrame:
    """Per fault phase: the fault, TTD and TTR (with ✔/✘ and their targets), the outage."""
    rows = []
    for ph in journal.phases:
        if ph.fault is None:
            continue
        row = {"phase": ph.name, "fault": ph.fault.describe()}
        for metric, label in (("ttd_s", "TTD"), ("ttr_s", "TTR")):
            check = next((c for c in ph.checks if c.name == metric), None)
            row[label] = _shown(ph, metric)
            row[f"{label} target"] = MISSING if check is None else fmt_target(metric,
                                                                               check.target)
        row["outage"] = fmt_value("outage_s", ph.metrics.outage_s)
        rows.append(row)
    return pd.DataFrame(rows, columns=["phase", "fault", "TTD", "TTD target", "TTR",
                                       "TTR target", "outage"])


def readable_delta_table(deltas: pd.DataFrame) -> pd.DataFrame:
    """:func:`delta_table` with signs and units: ``+642 ms``, ``−2.54 pts``."""
    return pd.DataFrame({
        "phase": deltas["phase"],
        "p95 latency vs baseline": deltas["latency_p95_delta_ms"].map(
            lambda v: fmt_delta("latency_p95_ms", v)),
        "p99 latency vs baseline": deltas["latency_p99_delta_ms"].map(
            lambda v: fmt_delta("latency_p99_ms", v)),
        "availability vs baseline": deltas["availability_delta_pp"].map(
            lambda v: fmt_delta("availability", v)),
    })
