"""The metric definitions of design.md, in one place, for the flow and the notebooks.

Inputs are the run data files (see :mod:`gameday.records`): a requests frame (one row per
client request, times in epoch seconds, ``latency_s`` from the *intended* send time) and
a transitions frame (the system's detector's ON/OFF transitions).

Definitions:

- **availability** = successful requests / requests issued in the window (every request
  of the load's mix and their follow-ups); a timeout or any failure counts against it.
  None when no request.
- **latency p50/p95/p99** (ms) over *all* requests of the window, failures included at
  their elapsed time (a 1 s timeout counts as 1000 ms), with :func:`percentile` — the one
  quantile of the project (the live panel, the journal, the report and bench/ use it).
- **quorum rate** = requests whose answer says a quorum served it (the load's ``quorum``
  path true) / the requests that say either way; None (not applicable) when no request
  records a quorum.
- **wrong answers** = 200 answers whose value lies outside the truth window
  (see :class:`gameday.truth.Truth`): the ``wrong`` column, counted; None (not
  applicable) when nothing judges answers (a system without an oracle), never 0.
- **The phase's own window** for the detector's transitions: from the injection to
  ``observed_until``, the moment the phase stopped watching (after the recovery wait).
  Transitions after it belong to later phases; so the figures computed live and those
  recomputed later from ``transitions.csv`` agree by construction.
- **TTD** = first OFF transition of the faulted component in the window − injection.
- **recovered at** = the ON that ends the outage the fault caused: the first ON after the
  first OFF, in the window. **TTR** = that ON − rollback, 0 when it came before the
  rollback (a supervisor restarted a crashed process); **outage** = that ON − injection.
  None when the transition never came.
- **achieved rate** = scheduled requests (not their follow-ups) actually sent within
  the load window / its length (see :func:`achieved_rate`).

Every function returns plain floats/ints/None (never NaN) so results dump to JSON as is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from gameday.evidence.models import VERDICT_SHARE, FaultEvidence, counted_check
from gameday.frames import requests_frame, to_epoch, transitions_frame
from gameday.records import scheduled
from gameday.run_record import Check, PhaseMetrics, PhaseRecord, Threshold

__all__ = [
    "to_epoch",
    "requests_frame",
    "transitions_frame",
    "percentile",
    "availability",
    "latency_percentiles",
    "quorum_rate",
    "wrong_answers",
    "front_timeout_share",
    "achieved_rate",
    "ttd",
    "recovered_at",
    "ttr",
    "outage",
    "phase_metrics",
    "evaluate",
    "crosscheck",
    "resilience_score",
    "FAULT_PHASE_WEIGHT",
    "CROSSCHECK_METRICS",
    "rolling_availability",
    "latency_over_time",
]

#: Weight of a phase with a fault in :func:`resilience_score` (phases without one weigh 1).
FAULT_PHASE_WEIGHT = 2.0


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q`` quantile (0 ≤ q ≤ 1) of ``values``; None when there is none.

    Linear interpolation between the closest ranks (Hyndman & Fan type 7, the default of
    numpy and pandas): with the values sorted as x[0..n−1] and h = (n − 1)·q, the result
    is x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]). So p95 of 10, 20, …, 90, 1000 is 590.5.
    """
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray | pd.Series)
                     else values, dtype=float)
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return None
    return float(np.quantile(arr, q, method="linear"))


def availability(df: pd.DataFrame) -> float | None:
    """Successful requests / requests; None when there is none."""
    return None if df.empty else float(df["ok"].sum()) / len(df)


def latency_percentiles(df: pd.DataFrame) -> dict[str, float | None]:
    """``{"p50", "p95", "p99"}`` in ms over every request, failures at their elapsed time."""
    lat = df["latency_s"].to_numpy(dtype=float) * 1000.0
    return {name: percentile(lat, q) for name, q in (("p50", 0.5), ("p95", 0.95),
                                                      ("p99", 0.99))}


def quorum_rate(df: pd.DataFrame) -> float | None:
    """Reads with quorum achieved / reads that say whether they had one (a failed read
    has no quorum): the requests with a ``quorum`` path. None when no request says (not
    applicable: the load has no such path, or none was sent)."""
    reads = df[df["quorum"].notna()]
    if reads.empty:
        return None
    return float(reads["quorum"].fillna(False).astype(bool).sum()) / len(reads)


def wrong_answers(df: pd.DataFrame, judged: bool | None = True) -> int | None:
    """200 answers outside the truth window. ``judged`` False: nothing judges the
    answers (a system without an oracle), so None (not applicable), never 0; None:
    judged when any request of ``df`` was."""
    if judged is None:
        judged = bool(df["wrong"].notna().any())
    if not judged:
        return None
    return int(df["wrong"].fillna(False).astype(bool).sum())


def achieved_rate(df: pd.DataFrame, duration_s: float | None = None) -> float | None:
    """Scheduled requests (not follow-ups: :func:`gameday.records.scheduled`) actually
    *sent* within the load window, per s.

    The window starts at the first intended time and lasts the schedule's span
    (n · mean gap, i.e. the phase duration for a full phase, less for an aborted one),
    capped at ``duration_s`` when given. A request counts when ``intended_s + send_lag_s``
    falls inside it, so a generator that falls behind shows a lower rate (it never skips
    a request, it sends it late).
    """
    sched = df[scheduled(df["kind"])]
    n = len(sched)
    if n == 0:
        return None
    intended = sched["intended_s"]
    t0 = float(intended.min())
    span = float(intended.max() - t0) * n / (n - 1) if n > 1 else 0.0
    window = span if duration_s is None or span <= 0 else min(span, duration_s)
    if window <= 0:
        window = duration_s or 0.0
    if window <= 0:
        return None
    sent = intended + sched["send_lag_s"].fillna(0.0)
    return float((sent < t0 + window - 1e-9).sum()) / window


def _window(trans: pd.DataFrame, component: str, after_s: float,
            until_s: float | None) -> pd.DataFrame:
    """``component``'s transitions at/after ``after_s`` and (when given) at/before ``until_s``,
    oldest first."""
    rows = trans[(trans["instance_id"] == str(component)) & (trans["at_s"] >= after_s)]
    if until_s is not None:
        rows = rows[rows["at_s"] <= until_s]
    return rows.sort_values("at_s", kind="stable")


def _first(rows: pd.DataFrame, status: str, after_s: float | None = None) -> float | None:
    hit = rows[rows["status"] == status]
    if after_s is not None:
        hit = hit[hit["at_s"] >= after_s]
    return None if hit.empty else float(hit["at_s"].iloc[0])


def ttd(transitions: pd.DataFrame, component: str, injected_at_s: float | None, *,
        until_s: float | None = None) -> float | None:
    """Time to detect: first OFF of ``component`` in [injection, ``until_s``] − injection."""
    if injected_at_s is None:
        return None
    off = _first(_window(transitions, component, injected_at_s, until_s), "OFF")
    return None if off is None else off - injected_at_s


def recovered_at(transitions: pd.DataFrame, component: str, injected_at_s: float | None, *,
                 until_s: float | None = None) -> float | None:
    """The ON that ends the outage the fault caused: the first ON after the first OFF of
    ``component`` in [injection, ``until_s``] (epoch s); None when either never came."""
    if injected_at_s is None:
        return None
    rows = _window(transitions, component, injected_at_s, until_s)
    off = _first(rows, "OFF")
    return None if off is None else _first(rows, "ON", off)


def ttr(transitions: pd.DataFrame, component: str, rolled_back_at_s: float | None,
        injected_at_s: float | None = None, *, until_s: float | None = None) -> float | None:
    """Time to recover: :func:`recovered_at` − rollback, 0 when the component was back ON
    before the rollback. Without ``injected_at_s``: the first ON at/after the rollback."""
    if rolled_back_at_s is None:
        return None
    if injected_at_s is None:
        on = _first(_window(transitions, component, rolled_back_at_s, until_s), "ON")
    else:
        on = recovered_at(transitions, component, injected_at_s, until_s=until_s)
    return None if on is None else max(0.0, on - rolled_back_at_s)


def outage(transitions: pd.DataFrame, component: str, injected_at_s: float | None,
           rolled_back_at_s: float | None = None, *,
           until_s: float | None = None) -> float | None:
    """:func:`recovered_at` − injection (s): how long the component was out. (The rollback
    time is accepted for symmetry with :func:`ttr`; the outage does not depend on it.)"""
    on = recovered_at(transitions, component, injected_at_s, until_s=until_s)
    return None if on is None or injected_at_s is None else on - injected_at_s


def _until(phase: PhaseRecord) -> float | None:
    """The end of the phase's window; journals of version 1 had no ``observed_until``:
    their recorded recovery (else the phase's end) closes it."""
    for t in (phase.observed_until, phase.recovered_at, phase.end):
        if t is not None:
            return t.timestamp()
    return None


def front_timeout_share(phase: PhaseRecord) -> float | None:
    """The share of the front's requests to the phase's faulted member that got no answer
    within the front's timeout (``phase.front``, the front's own counts): 0 while the
    member answers in time, so that its answer still counts (in a vote, in a balanced
    answer), 1 once every answer comes too late. None without those counts or without
    such a request."""
    v = phase.front
    return None if v is None or v.asked == 0 else v.timed_out / v.asked


def phase_metrics(requests: pd.DataFrame, transitions: pd.DataFrame,
                  phase: PhaseRecord, *, judged: bool | None = None) -> PhaseMetrics:
    """The metrics of one phase: its requests (by phase name), and for a fault phase the
    monitor's transitions of the faulted component in the phase's own window.

    ``judged``: whether answers are judged right or wrong (the load's ``oracle``); None:
    when any request of the whole run (``requests``) was. Without, ``wrong_answers`` is
    None: not applicable."""
    if judged is None:
        judged = bool(requests["wrong"].notna().any())
    df = requests[requests["phase"] == phase.name]
    lat = latency_percentiles(df)
    start, end = to_epoch(phase.start), to_epoch(phase.end)
    inj, rb = to_epoch(phase.injected_at), to_epoch(phase.rolled_back_at)
    comp = phase.fault.component if phase.fault else None
    until = _until(phase)
    return PhaseMetrics(
        requests=len(df),
        availability=availability(df),
        latency_p50_ms=lat["p50"],
        latency_p95_ms=lat["p95"],
        latency_p99_ms=lat["p99"],
        quorum_rate=quorum_rate(df),
        wrong_answers=wrong_answers(df, judged),
        ttd_s=ttd(transitions, comp, inj, until_s=until) if comp else None,
        ttr_s=ttr(transitions, comp, rb, inj, until_s=until) if comp else None,
        outage_s=outage(transitions, comp, inj, until_s=until) if comp else None,
        achieved_rate=achieved_rate(df, phase.duration_s or (
            end - start if start and end else None)),
        front_timeout_share=front_timeout_share(phase),
    )


def _check(name: str, op: str, limit: float, value: Any) -> Check:
    """One SLO check; the value is rounded for people (the phase metrics keep every digit)."""
    if isinstance(value, float):
        value = float(f"{value:.6g}")  # 34.59999999997759 → 34.6, 0.998951 stays
    target = Threshold(op=op, value=limit)  # type: ignore[arg-type]
    return Check(name=name, target=target, value=value, passed=target.holds(value))


def evaluate(m: PhaseMetrics, slo: Any, fault_type: str | None,
             baseline: PhaseMetrics | None = None) -> list[Check]:
    """The SLO checks of one phase.

    Always: availability, quorum rate (when requests recorded a quorum), wrong answers (when
    answers are judged), p99 (when
    ``slo.latency_p99_ms`` is set). With a fault: p95 ≤ max(ratio × baseline p95,
    ``slo.latency_p95_min_ms``) (when a baseline p95 exists), TTD ≤ ``slo.ttd_s[type]``,
    and TTR ≤ ``slo.ttr_s`` (omitted when the fault was neither detected nor recovered).
    A missing value (None) fails its check.
    """
    checks = [_check("availability", ">=", slo.availability, m.availability)]
    if m.quorum_rate is not None:
        checks.append(_check("quorum_rate", ">=", slo.quorum_rate, m.quorum_rate))
    if m.wrong_answers is not None:  # None: nothing judges answers (no oracle)
        checks.append(_check("wrong_answers", "<=", slo.wrong_answers, m.wrong_answers))
    if slo.latency_p99_ms is not None:
        checks.append(_check("latency_p99_ms", "<=", slo.latency_p99_ms, m.latency_p99_ms))
    if fault_type is None:
        return checks
    base95 = baseline.latency_p95_ms if baseline is not None else None
    if base95 is not None:
        limit = max(slo.latency_p95_ratio * base95, slo.latency_p95_min_ms)
        checks.append(_check("latency_p95_ms", "<=", limit, m.latency_p95_ms))
    limit_td = slo.ttd_s.get(fault_type)
    if limit_td is not None:
        checks.append(_check("ttd_s", "<=", limit_td, m.ttd_s))
    if m.ttd_s is not None or m.ttr_s is not None:
        checks.append(_check("ttr_s", "<=", slo.ttr_s, m.ttr_s))
    return checks


#: The metrics :func:`crosscheck` compares (every figure a check or the report shows).
CROSSCHECK_METRICS = ("requests", "availability", "latency_p50_ms", "latency_p95_ms",
                      "latency_p99_ms", "quorum_rate", "wrong_answers", "ttd_s", "ttr_s",
                      "outage_s", "front_timeout_share")


def crosscheck(phases: Sequence[PhaseRecord], requests: pd.DataFrame,
               transitions: pd.DataFrame, rel_tol: float = 1e-6) -> dict[str, list[str]]:
    """Each phase's recorded metrics against the same metrics recomputed from the raw
    data: ``{phase: ["ttr_s recorded 0.0, recomputed 39.55", ...]}`` (empty = matches)."""
    out: dict[str, list[str]] = {}
    for ph in phases:
        again = phase_metrics(requests, transitions, ph,
                              judged=ph.metrics.wrong_answers is not None)
        differ = []
        for key in CROSSCHECK_METRICS:
            a, b = getattr(ph.metrics, key), getattr(again, key)
            if a is None and b is None:
                continue
            if a is None or b is None or not math.isclose(float(a), float(b),
                                                          rel_tol=rel_tol, abs_tol=1e-9):
                differ.append(f"{key} recorded {a}, recomputed {b}")
        out[ph.name] = differ
    return out


def resilience_score(phases: Sequence[PhaseRecord],
                     evidence: Sequence[FaultEvidence] = ()) -> float:
    """A LitmusChaos-style score in [0, 100].

    Each phase weighs :data:`FAULT_PHASE_WEIGHT` (2) when it injects a fault, else 1; it
    contributes weight × (share of its checks that passed; 0 when it has no checks, e.g.
    an aborted phase). With trials (``evidence``), a trial's TTD and TTR checks are left
    to the evidence: each fault type's judgements count as one more unit of weight 2
    whose share is their mean of pass 1, inconclusive ½, fail 0. Score = 100 × Σ
    contributions / Σ weights, clamped to [0, 100].
    """
    total = got = 0.0
    for ph in phases:
        w = FAULT_PHASE_WEIGHT if ph.fault else 1.0
        counted = [c for c in ph.checks if counted_check(ph, c.name, bool(evidence))]
        share = sum(1 for c in counted if c.passed) / len(counted) if counted else 0.0
        total += w
        got += w * share
    for ev in evidence:
        if ev.checks:
            total += FAULT_PHASE_WEIGHT
            got += FAULT_PHASE_WEIGHT * sum(VERDICT_SHARE[j.verdict] for j in ev.checks) / len(
                ev.checks)
    return 0.0 if total == 0 else max(0.0, min(100.0, 100.0 * got / total))


def rolling_availability(df: pd.DataFrame, window_s: float = 5.0) -> pd.DataFrame:
    """Availability over a trailing window, one row per request in intended-time order.

    Columns: ``t_s`` (s since the first request), ``at`` (UTC timestamp), ``phase``,
    ``availability`` (share ok in the ``window_s`` window ending at that request).
    """
    cols = ["t_s", "at", "phase", "availability"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    d = df.sort_values("intended_s", kind="stable")
    at = pd.to_datetime(d["intended_s"], unit="s", utc=True)
    s = pd.Series(d["ok"].astype(float).to_numpy(), index=at)
    roll = s.rolling(pd.Timedelta(seconds=window_s)).mean()
    return pd.DataFrame({
        "t_s": (d["intended_s"] - d["intended_s"].iloc[0]).to_numpy(),
        "at": at.to_numpy(),
        "phase": d["phase"].to_numpy(),
        "availability": roll.to_numpy(),
    })


def latency_over_time(df: pd.DataFrame, bin_s: float = 1.0) -> pd.DataFrame:
    """Latency percentiles per time bin of intended send time.

    Columns: ``t_s`` (bin start, s since the first request), ``phase`` (most frequent in
    the bin), ``requests``, ``availability``, ``p50_ms``, ``p95_ms``, ``p99_ms``.
    """
    cols = ["t_s", "phase", "requests", "availability", "p50_ms", "p95_ms", "p99_ms"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    t0 = float(df["intended_s"].min())
    d = df.assign(t_s=((df["intended_s"] - t0) // bin_s) * bin_s, lat_ms=df["latency_s"] * 1e3)
    g = d.groupby("t_s", sort=True)
    out = pd.DataFrame({
        "phase": g["phase"].agg(lambda s: s.mode().iloc[0]),
        "requests": g.size(),
        "availability": g["ok"].mean(),
        "p50_ms": g["lat_ms"].agg(lambda s: percentile(s, 0.5)),
        "p95_ms": g["lat_ms"].agg(lambda s: percentile(s, 0.95)),
        "p99_ms": g["lat_ms"].agg(lambda s: percentile(s, 0.99)),
    }).reset_index()
    return out[cols]
