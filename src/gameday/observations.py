"""What people saw, beside what the monitor saw: tables of a journal's ``observations``.

Observations are recorded during a GameDay (mostly from the JupyterLab session notebook)
as ``{at, role, phase, kind, text}``; ``kind`` is ``"note"`` or ``"noticed"``, the latter
marking the moment a human first noticed the phase's fault. Journals written before
``kind`` existed read as notes.

- :func:`observations_table`: every observation, oldest first, with the seconds since its
  phase's injection (when the phase injected a fault).
- :func:`human_vs_monitor_table`: per fault phase, the automated TTD next to the first
  "noticed" observation (who, and how long after the injection).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from gameday.metrics import to_epoch

__all__ = ["observations_table", "human_vs_monitor_table", "OBSERVATION_COLUMNS"]

OBSERVATION_COLUMNS = ["at", "phase", "role", "kind", "after_injection_s", "text"]


def _injections(journal: dict[str, Any]) -> dict[str, float]:
    """Phase name -> epoch of its (first recorded) injection."""
    out: dict[str, float] = {}
    for ph in journal.get("phases", []):
        t = to_epoch(ph.get("injected_at"))
        if t is not None and ph.get("name") not in out:
            out[ph["name"]] = t
    return out


def observations_table(journal: dict[str, Any]) -> pd.DataFrame:
    """Every observation of ``journal``, oldest first (columns OBSERVATION_COLUMNS)."""
    injected = _injections(journal)
    rows = []
    for obs in journal.get("observations") or []:
        at = to_epoch(obs.get("at"))
        inj = injected.get(obs.get("phase") or "")
        rows.append({
            "at": obs.get("at"),
            "phase": obs.get("phase"),
            "role": obs.get("role"),
            "kind": obs.get("kind") or "note",
            "after_injection_s": (round(at - inj, 3) if at is not None and inj is not None
                                  else None),
            "text": obs.get("text", ""),
        })
    df = pd.DataFrame(rows, columns=OBSERVATION_COLUMNS)
    df["after_injection_s"] = pd.to_numeric(df["after_injection_s"], errors="coerce")
    return df.sort_values("at", kind="stable").reset_index(drop=True)


def human_vs_monitor_table(journal: dict[str, Any]) -> pd.DataFrame:
    """Per fault phase: the monitor's TTD and the first human "noticed" after injection.

    Columns: phase, fault, monitor_ttd_s, human_noticed_s, noticed_by, note. A human time
    is None when nobody recorded noticing that phase's fault.
    """
    obs = observations_table(journal)
    noticed = obs[(obs["kind"] == "noticed") & obs["after_injection_s"].notna()]
    rows = []
    for ph in journal.get("phases", []):
        fault = ph.get("fault")
        if not fault:
            continue
        mine = noticed[noticed["phase"] == ph["name"]].sort_values("after_injection_s")
        first = mine.iloc[0] if len(mine) else None
        rows.append({
            "phase": ph["name"],
            "fault": fault.get("type"),
            "monitor_ttd_s": (ph.get("metrics") or {}).get("ttd_s"),
            "human_noticed_s": None if first is None else float(first["after_injection_s"]),
            "noticed_by": None if first is None else first["role"],
            "note": None if first is None else first["text"],
        })
    cols = ["phase", "fault", "monitor_ttd_s", "human_noticed_s", "noticed_by", "note"]
    return pd.DataFrame(rows, columns=cols).astype(
        {"monitor_ttd_s": float, "human_noticed_s": float})
