"""Journals of version 2 read by today's code: the keys that version named after the
project's first system (its voter, replicas, ledger and order cancels), renamed.

:func:`upgrade` is called on every journal before it is validated
(:class:`gameday.run_record.JournalRecord`); a journal of version 3 passes unchanged.
Version 1's own differences (a fault with every parameter, a phase's ``replica``, SLO
targets as text) are read by the records' ``_legacy`` validators.
"""

from __future__ import annotations

from typing import Any

__all__ = ["upgrade"]

#: Metric keys renamed in version 3 (old → new).
METRICS = {"voter_timeout_share": "front_timeout_share"}


def _renamed(data: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    return {names.get(k, k): v for k, v in data.items()}


def _phase(phase: Any) -> Any:
    if not isinstance(phase, dict):
        return phase
    out = _renamed(phase, {"voter": "front"})
    if isinstance(out.get("front"), dict):
        out["front"] = _renamed(out["front"], {"replica": "member"})
    if isinstance(out.get("metrics"), dict):
        out["metrics"] = _renamed(out["metrics"], METRICS)
    return out


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` (a journal's JSON object) with version 2's keys renamed; the same
    object when it is of version 3 or later."""
    if int(data.get("version") or 1) >= 3:
        return data
    out = _renamed(data, {"ledger_before": "oracle_before"})
    if isinstance(out.get("phases"), list):
        out["phases"] = [_phase(p) for p in out["phases"]]
    if isinstance(out.get("consistency"), dict):  # the per-member values were a copy
        out["consistency"] = {k: v for k, v in out["consistency"].items()
                              if k not in ("ledger", "replicas")}
    if isinstance(out.get("interruption"), dict):
        out["interruption"] = _renamed(out["interruption"], {
            "cancels_sent": "follow_ups_sent", "cancels_failed": "follow_ups_failed"})
    if isinstance(out.get("sweeps"), list):
        out["sweeps"] = [{**s, "metric": METRICS.get(str(s["metric"]), s["metric"])}
                         if isinstance(s, dict) and "metric" in s else s
                         for s in out["sweeps"]]
    return out
