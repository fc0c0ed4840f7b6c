"""Row types of the run data files (``requests.csv``, ``transitions.csv``).

The column lists here are the schema of docs/architecture.md "Run data"; the journal
writes them and :mod:`gameday.metrics` reads them. ``send_lag_s`` is an extra column (not
in the minimal schema): how late the generator actually sent a request after its intended
time — the generator's own saturation, kept apart from the system's latency.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["REQUEST_COLUMNS", "TRANSITION_COLUMNS", "RequestRecord", "scheduled"]

REQUEST_COLUMNS: tuple[str, ...] = (
    "phase",
    "kind",
    "key",
    "intended_s",
    "latency_s",
    "status",
    "ok",
    "error",
    "quorum",
    "value",
    "wrong",
    "send_lag_s",
)
TRANSITION_COLUMNS: tuple[str, ...] = ("instance_id", "status", "at_s", "reason")


def scheduled(kinds: Any) -> Any:
    """Which rows of a ``kind`` column (a pandas Series) are scheduled requests, not
    follow-ups (``<request>><n>``: request names never hold ``>``)."""
    return ~kinds.astype(str).str.contains(">", regex=False)


@dataclass(slots=True)
class RequestRecord:
    """One client request.

    ``intended_s`` is the epoch time the schedule meant to send it; ``latency_s`` runs from
    that intended time to the answer (or to the failure), so a stall of the client or the
    server is never hidden. ``status`` is 0 when no HTTP answer came; ``error`` is the
    :func:`gameday.http.classify` class ("" when ok). ``key`` is the values drawn for the
    request (joined by ``,``); ``quorum`` is set for requests whose answer says whether a
    quorum served it, ``value``/``wrong`` for those the load's oracle judges (None
    otherwise).
    """

    phase: str
    kind: str  # the request's name in the load's mix; ``<request>><n>`` a follow-up
    key: str
    intended_s: float
    latency_s: float
    status: int
    ok: bool
    error: str = ""
    quorum: bool | None = None
    value: float | None = None
    wrong: bool | None = None
    send_lag_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
