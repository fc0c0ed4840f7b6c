"""Did the load generator keep up? A run whose generator missed its schedule measured
the load machine, not the system, and says so in the journal and the report.

A phase's load is judged from its request records alone (so it holds for one process and
for merged shards alike): the scheduled requests (not follow-ups) *sent* inside the load
window per second (:func:`gameday.metrics.achieved_rate`) against those *scheduled* inside it,
and the 99th percentile of the send lag. It kept up when the achieved rate is within
``rate_tolerance`` of the scheduled one and the send lag p99 is at most
``send_lag_p99_bound_ms``.
"""

from __future__ import annotations

import pandas as pd

from gameday import metrics
from gameday.records import scheduled as is_scheduled
from gameday.run_record import JournalRecord, LoadCheck

__all__ = ["RATE_TOLERANCE", "SEND_LAG_P99_BOUND_MS", "check_load", "shortfall_sentences"]

#: Achieved rate may differ from the scheduled one by this share (2 %).
RATE_TOLERANCE = 0.02
#: Send lag p99 bound: beyond it latencies carry the generator's own delay.
SEND_LAG_P99_BOUND_MS = 10.0


def check_load(requests: pd.DataFrame, duration_s: float | None = None, *, shards: int = 1,
               rate_tolerance: float = RATE_TOLERANCE,
               send_lag_p99_bound_ms: float = SEND_LAG_P99_BOUND_MS) -> LoadCheck | None:
    """The :class:`LoadCheck` of one phase's ``requests`` (a
    :func:`gameday.metrics.requests_frame`); None when nothing was scheduled."""
    sched = requests[is_scheduled(requests["kind"])]
    achieved = metrics.achieved_rate(sched, duration_s)
    scheduled = metrics.achieved_rate(sched.assign(send_lag_s=0.0), duration_s)
    if achieved is None or not scheduled:
        return None
    lag = metrics.percentile(sched["send_lag_s"].fillna(0.0), 0.99)
    lag_ms = 1000.0 * (lag or 0.0)
    off = achieved / scheduled - 1.0
    reasons = []
    if abs(off) > rate_tolerance:
        reasons.append(f"sent {achieved:.1f} req/s of the {scheduled:.1f} scheduled "
                       f"({off:+.1%}, allowed ±{rate_tolerance:.0%})")
    if lag_ms > send_lag_p99_bound_ms:
        reasons.append(f"send lag p99 {lag_ms:.1f} ms (bound {send_lag_p99_bound_ms:g} ms)")
    return LoadCheck(scheduled_rate=round(scheduled, 3), achieved_rate=round(achieved, 3),
                     send_lag_p99_ms=round(lag_ms, 3), shards=shards,
                     kept_up=not reasons, reason="; ".join(reasons) or None)


def shortfall_sentences(journal: JournalRecord) -> list[str]:
    """One sentence per phase whose load generator fell behind (for reports; plain text,
    the caller escapes it)."""
    return [f"Phase {ph.name}: {ph.load.reason}. Its figures measure the load machine as "
            "much as the system."
            for ph in journal.phases if ph.load is not None and not ph.load.kept_up]

