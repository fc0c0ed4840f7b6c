"""What people saw, beside what the monitor saw: tables of a journal's ``observations``.

Observations are recorded during a GameDay (mostly from the JupyterLab session notebook)
as :class:`~gameday.run_record.Observation` ``{at, role, phase, kind, text}``; ``kind`` is
``"note"`` or ``"noticed"``, the latter marking the moment a human first noticed the
phase's fault. Journals written before ``kind`` existed read as notes.

- :func:`observations_table`: every observation, oldest first, with the seconds since its
  phase's injection (when the phase injected a fault).
- :func:`human_vs_monitor_table`: per fault phase, the automated TTD next to the first
  "noticed" observation (who, and how long after the injection).
"""

from __future__ import annotations

import pandas as pd

from gameday.run_record import JournalRecord

__all__ = ["observations_table", "human_vs_monitor_table", "OBSERVATION_COLUMNS"]

OBSERVATION_COLUMNS = ["at", "phase", "role", "kind", "after_injection_s", "text"]


def _injections(journal: JournalRecord) -> dict[str, float]:
    """Phase name -> epoch of its (first recorded) injection."""
    out: dict[str, float] = {}
    for ph in journal.phases:
        if ph.injected_at is not None and ph.name not in out:
            out[ph.name] = ph.injected_at.timestamp()
    return out


def observations_table(journal: JournalRecord) -> pd.DataFrame:
    """Every observation of ``journal``, oldest first (columns OBSERVATION_COLUMNS)."""
    injected = _injections(journal)
    rows = []
    for obs in journal.observations:
        inj = injected.get(obs.phase or "")
        rows.append({
            "at": obs.at.isoformat(),
            "phase": obs.phase,
            "role": obs.role,
            "kind": obs.kind,
            "after_injection_s": (round(obs.at.timestamp() - inj, 3) if inj is not None
                                  else None),
            "text": obs.text,
        })
    df = pd.DataFrame(rows, columns=OBSERVATION_COLUMNS)
    df["after_injection_s"] = pd.to_numeric(df["after_injection_s"], errors="coerce")
    return df.sort_values("at", kind="stable").reset_index(drop=True)


def human_vs_monitor_table(journal: JournalRecord) -> pd.DataFrame:
    """Per fault phase: the monitor's TTD and the first human "noticed" after injection.

    Columns: phase, fault, monitor_ttd_s, human_noticed_s, noticed_by, note. A human time
    is None when nobody recorded noticing that phase's fault.
    """
    obs = observations_table(journal)
    noticed = obs[(obs["kind"] == "noticed") & obs["after_injection_s"].notna()]
    rows = []
    for ph in journal.phases:
        if ph.fault is None:
            continue
        mine = noticed[noticed["phase"] == ph.name].sort_values("after_injection_s")
        first = mine.iloc[0] if len(mine) else None
        rows.append({
            "phase": ph.name,
            "fault": ph.fault.type,
            "monitor_ttd_s": ph.metrics.ttd_s,
            "human_noticed_s": None if first is None else float(first["after_injection_s"]),
            "noticed_by": None if first is None else first["role"],
            "note": None if first is None else first["text"],
        })
    cols = ["phase", "fault", "monitor_ttd_s", "human_noticed_s", "noticed_by", "note"]
    return pd.DataFrame(rows, columns=cols).astype(
        {"monitor_ttd_s": float, "human_noticed_s": float})
