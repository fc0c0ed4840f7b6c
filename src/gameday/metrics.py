"""The metric definitions of design.md, in one place, for the flow and the notebooks.

Inputs are the run data files (see :mod:`gameday.records`): a requests frame (one row per
client request, times in epoch seconds, ``latency_s`` from the *intended* send time) and
a transitions frame (the monitor's ON/OFF transitions).

Definitions:

- **availability** = successful requests / requests issued in the window (reads, writes
  and cancels); a timeout or any failure counts against it. None when no request.
- **latency p50/p95/p99** (ms) over *all* requests of the window, failures included at
  their elapsed time (a 1 s timeout counts as 1000 ms); linear interpolation
  (``pandas.Series.quantile``).
- **quorum rate** = voter reads answered with ``quorum_achieved`` true / voter reads.
- **wrong answers** = voter 200 answers whose value lies outside the truth window
  (see :class:`gameday.truth.Truth`): the ``wrong`` column, counted.
- **TTD** = first OFF transition of the faulted replica at or after injection − injection.
- **TTR** = first ON transition of the replica at or after rollback − rollback (0 when it
  went OFF after injection and was back ON before the rollback);
  **outage** = that ON − injection. None when the transition never came.
- **achieved rate** = scheduled requests (reads + writes, not cancels) actually sent within
  the load window / its length (see :func:`achieved_rate`).

Every function returns plain floats/ints/None (never NaN) so results dump to JSON as is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from gameday.frames import requests_frame, to_epoch, transitions_frame

__all__ = [
    "to_epoch",
    "requests_frame",
    "transitions_frame",
    "availability",
    "latency_percentiles",
    "quorum_rate",
    "wrong_answers",
    "achieved_rate",
    "ttd",
    "ttr",
    "outage",
    "phase_metrics",
    "evaluate",
    "resilience_score",
    "FAULT_PHASE_WEIGHT",
    "rolling_availability",
    "latency_over_time",
]

#: Weight of a phase with a fault in :func:`resilience_score` (phases without one weigh 1).
FAULT_PHASE_WEIGHT = 2.0


def availability(df: pd.DataFrame) -> float | None:
    """Successful requests / requests; None when there is none."""
    return None if df.empty else float(df["ok"].sum()) / len(df)


def latency_percentiles(df: pd.DataFrame) -> dict[str, float | None]:
    """``{"p50", "p95", "p99"}`` in ms over every request, failures at their elapsed time."""
    lat = df["latency_s"].dropna()
    if lat.empty:
        return {"p50": None, "p95": None, "p99": None}
    q = lat.quantile([0.5, 0.95, 0.99]) * 1000.0
    return {"p50": float(q[0.5]), "p95": float(q[0.95]), "p99": float(q[0.99])}


def quorum_rate(df: pd.DataFrame) -> float | None:
    """Voter reads with quorum achieved / voter reads (a failed read has no quorum)."""
    reads = df[df["kind"] == "read"]
    if reads.empty:
        return None
    return float(reads["quorum"].fillna(False).astype(bool).sum()) / len(reads)


def wrong_answers(df: pd.DataFrame) -> int:
    """Voter 200 answers outside the truth window."""
    return int(df["wrong"].fillna(False).astype(bool).sum())


def achieved_rate(df: pd.DataFrame, duration_s: float | None = None) -> float | None:
    """Scheduled requests (reads + writes) actually *sent* within the load window, per s.

    The window starts at the first intended time and lasts the schedule's span
    (n · mean gap, i.e. the phase duration for a full phase, less for an aborted one),
    capped at ``duration_s`` when given. A request counts when ``intended_s + send_lag_s``
    falls inside it, so a generator that falls behind shows a lower rate (it never skips
    a request, it sends it late).
    """
    sched = df[df["kind"].isin(["read", "write"])]
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


def _first(trans: pd.DataFrame, replica: str, status: str, after_s: float) -> float | None:
    rows = trans[
        (trans["instance_id"] == str(replica))
        & (trans["status"] == status)
        & (trans["at_s"] >= after_s)
    ]
    return None if rows.empty else float(rows["at_s"].iloc[0])


def ttd(transitions: pd.DataFrame, replica: str, injected_at_s: float | None) -> float | None:
    """Time to detect: first OFF of ``replica`` at/after injection − injection (s)."""
    if injected_at_s is None:
        return None
    off = _first(transitions, replica, "OFF", injected_at_s)
    return None if off is None else off - injected_at_s


def _recovered_at(
    trans: pd.DataFrame, replica: str, injected_at_s: float | None, rolled_back_at_s: float
) -> float | None:
    """When ``replica`` counted as recovered: the first ON at/after rollback; or, when it
    was already back ON at rollback time (e.g. a supervisor restarted a crashed process),
    the ON that ended its outage after injection."""
    on = _first(trans, replica, "ON", rolled_back_at_s)
    if on is not None or injected_at_s is None:
        return on
    rows = trans[(trans["instance_id"] == str(replica)) & (trans["at_s"] >= injected_at_s)
                 & (trans["at_s"] < rolled_back_at_s)]
    if rows.empty or rows["status"].iloc[-1] != "ON" or not (rows["status"] == "OFF").any():
        return None
    return float(rows["at_s"].iloc[-1])


def ttr(
    transitions: pd.DataFrame, replica: str, rolled_back_at_s: float | None,
    injected_at_s: float | None = None,
) -> float | None:
    """Time to recover: first ON of ``replica`` at/after rollback − rollback (s).

    With ``injected_at_s``: a replica that went OFF after injection and was already ON
    again at rollback recovered before it: TTR 0.
    """
    if rolled_back_at_s is None:
        return None
    on = _recovered_at(transitions, replica, injected_at_s, rolled_back_at_s)
    return None if on is None else max(0.0, on - rolled_back_at_s)


def outage(
    transitions: pd.DataFrame,
    replica: str,
    injected_at_s: float | None,
    rolled_back_at_s: float | None,
) -> float | None:
    """The recovering ON (see :func:`ttr`) − injection (s): how long the replica was out."""
    if injected_at_s is None or rolled_back_at_s is None:
        return None
    on = _recovered_at(transitions, replica, injected_at_s, rolled_back_at_s)
    return None if on is None else on - injected_at_s


def phase_metrics(
    requests: pd.DataFrame, transitions: pd.DataFrame, phase: Mapping[str, Any]
) -> dict[str, Any]:
    """The metrics of one phase record (keys as journal ``phases[].metrics``).

    ``phase`` needs ``name``; ``start``/``end`` (ISO or epoch) give the duration for the
    achieved rate; ``fault.replica``, ``injected_at`` and ``rolled_back_at`` give TTD/TTR.
    """
    df = requests[requests["phase"] == phase["name"]]
    lat = latency_percentiles(df)
    start, end = to_epoch(phase.get("start")), to_epoch(phase.get("end"))
    fault = phase.get("fault") or None
    inj, rb = to_epoch(phase.get("injected_at")), to_epoch(phase.get("rolled_back_at"))
    replica = str(fault["replica"]) if fault else None
    return {
        "requests": len(df),
        "availability": availability(df),
        "latency_p50_ms": lat["p50"],
        "latency_p95_ms": lat["p95"],
        "latency_p99_ms": lat["p99"],
        "quorum_rate": quorum_rate(df),
        "wrong_answers": wrong_answers(df),
        "ttd_s": ttd(transitions, replica, inj) if replica else None,
        "ttr_s": ttr(transitions, replica, rb, inj) if replica else None,
        "outage_s": outage(transitions, replica, inj, rb) if replica else None,
        "achieved_rate": achieved_rate(df, phase.get("duration_s") or (
            end - start if start and end else None)),
    }


def _check(name: str, target: str, value: Any, passed: bool) -> dict[str, Any]:
    """One SLO check; the value is rounded for people (the phase metrics keep every digit)."""
    if isinstance(value, float):
        value = float(f"{value:.6g}")  # 34.59999999997759 → 34.6, 0.998951 stays
    return {"name": name, "target": target, "value": value, "passed": bool(passed)}


def evaluate(
    metrics: Mapping[str, Any],
    slo: Any,
    fault_type: str | None,
    baseline: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The SLO checks of one phase: ``[{name, target, value, passed}]``.

    Always: availability, quorum rate (when there were reads), wrong answers, p99 (when
    ``slo.latency_p99_ms`` is set). With a fault: p95 ≤ max(ratio × baseline p95,
    ``slo.latency_p95_min_ms``) (when a baseline p95 exists), TTD ≤ ``slo.ttd_s[type]``,
    and TTR ≤ ``slo.ttr_s`` (omitted when the fault was neither detected nor recovered).
    A missing value (None) fails its check.
    """
    checks = []
    av = metrics.get("availability")
    checks.append(_check("availability", f"≥ {slo.availability}", av,
                         av is not None and av >= slo.availability))
    qr = metrics.get("quorum_rate")
    if qr is not None:
        checks.append(_check("quorum_rate", f"≥ {slo.quorum_rate}", qr, qr >= slo.quorum_rate))
    wa = metrics.get("wrong_answers")
    checks.append(_check("wrong_answers", f"≤ {slo.wrong_answers}", wa,
                         wa is not None and wa <= slo.wrong_answers))
    p99 = metrics.get("latency_p99_ms")
    if slo.latency_p99_ms is not None:
        checks.append(_check("latency_p99_ms", f"≤ {slo.latency_p99_ms}", p99,
                             p99 is not None and p99 <= slo.latency_p99_ms))
    if fault_type is None:
        return checks
    base95 = (baseline or {}).get("latency_p95_ms")
    if base95 is not None:
        limit = max(slo.latency_p95_ratio * base95, slo.latency_p95_min_ms)
        p95 = metrics.get("latency_p95_ms")
        checks.append(_check("latency_p95_ms", f"≤ {limit:.1f}", p95,
                             p95 is not None and p95 <= limit))
    td, tr = metrics.get("ttd_s"), metrics.get("ttr_s")
    limit_td = slo.ttd_s.get(fault_type)
    if limit_td is not None:
        checks.append(_check("ttd_s", f"≤ {limit_td}", td, td is not None and td <= limit_td))
    if td is not None or tr is not None:
        checks.append(_check("ttr_s", f"≤ {slo.ttr_s}", tr, tr is not None and tr <= slo.ttr_s))
    return checks


def resilience_score(phases: Sequence[Mapping[str, Any]]) -> float:
    """A LitmusChaos-style score in [0, 100].

    Each phase weighs :data:`FAULT_PHASE_WEIGHT` (2) when it injects a fault, else 1; it
    contributes weight × (share of its checks that passed; 0 when it has no checks, e.g.
    an aborted phase). Score = 100 × Σ contributions / Σ weights, clamped to [0, 100].
    """
    total = got = 0.0
    for ph in phases:
        w = FAULT_PHASE_WEIGHT if ph.get("fault") else 1.0
        checks = ph.get("checks") or []
        share = sum(1 for c in checks if c.get("passed")) / len(checks) if checks else 0.0
        total += w
        got += w * share
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
        "p50_ms": g["lat_ms"].quantile(0.5),
        "p95_ms": g["lat_ms"].quantile(0.95),
        "p99_ms": g["lat_ms"].quantile(0.99),
    }).reset_index()
    return out[cols]
