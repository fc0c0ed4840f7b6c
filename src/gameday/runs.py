"""Past runs as a list: what ``gameday runs`` prints, read from the reports folder.

:func:`list_runs` reads every run folder (a folder named like a run id, or holding a
``journal.json``) and never fails on one: a run that is still going, one that died
(``running`` while its process is gone), one marked ``interrupted``, a journal cut off
mid-write or a folder with no journal at all are rows that say so, with what could be
read (the start time comes from the run id when the journal cannot give it). Newest
first.
"""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import psutil
from pydantic import BaseModel

from gameday.journal import JOURNAL_FILE, JournalUnreadable, read_journal
from gameday.junit import JUNIT_FILE
from gameday.run_record import JournalRecord

__all__ = ["Verdict", "RunRow", "list_runs", "format_table"]

Verdict = Literal["pass", "fail", "inconclusive", "aborted", "interrupted", "running", "died",
                  "unreadable"]

#: ``YYYYMMDD-HHMMSS-<name>-<6 hex>`` (:func:`gameday.fingerprint.new_run_id`).
_RUN_ID = re.compile(r"^(\d{8}-\d{6})-[a-z0-9-]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class RunRow(BaseModel):
    """One past run as listed."""

    run_id: str
    dir: str
    start: datetime | None = None
    runbook: str | None = None
    target: str | None = None
    verdict: Verdict
    status: str | None = None
    score: float | None = None
    duration_s: float | None = None
    report: str | None = None
    junit: str | None = None
    problem: str | None = None


def _start_from_id(name: str) -> datetime | None:
    m = _RUN_ID.match(name)
    if not m:
        return None
    try:
        return datetime.strptime(m.group(1), "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def _alive(journal: JournalRecord) -> bool | None:
    """Whether the process that runs ``journal`` still lives (None: not this machine's)."""
    process = journal.process
    if process is None or process.host != socket.gethostname():
        return None
    return psutil.pid_exists(process.pid)


def _verdict(journal: JournalRecord) -> Verdict:
    if journal.status == "running":
        return "died" if _alive(journal) is False else "running"
    if journal.status in ("aborted", "interrupted"):
        return journal.status
    if journal.verdict is not None:
        if journal.verdict.outcome is not None:  # a run with trials: three-valued
            return journal.verdict.outcome
        return "pass" if journal.verdict.passed else "fail"
    return "fail"  # failed before a verdict (an error stopped it)


def _row(folder: Path) -> RunRow:
    files = {name: str(folder / name) if (folder / name).is_file() else None
             for name in ("report.html", JUNIT_FILE)}
    base = RunRow(run_id=folder.name, dir=str(folder), start=_start_from_id(folder.name),
                  verdict="unreadable", report=files["report.html"], junit=files[JUNIT_FILE])
    if not (folder / JOURNAL_FILE).is_file():
        return base.model_copy(update={"problem": "no journal.json (the run never opened "
                                                  "its journal, or it was removed)"})
    try:
        journal = read_journal(folder / JOURNAL_FILE)
    except JournalUnreadable as exc:
        return base.model_copy(update={"problem": str(exc).splitlines()[0]})
    verdict = _verdict(journal)
    problem = None
    if verdict == "died":
        problem = (f"its process (pid {journal.process.pid if journal.process else '?'}) is "
                   "gone: `gameday abort` or the next run on its target marks it interrupted")
    elif journal.interruption is not None:
        problem = journal.interruption.reason
    elif journal.error:
        problem = journal.error
    return base.model_copy(update=dict(
        run_id=journal.run_id, start=journal.start, verdict=verdict, status=journal.status,
        runbook=str(journal.runbook.get("name") or "") or None, target=journal.target,
        score=journal.verdict.score if journal.verdict else None,
        duration_s=journal.duration, problem=problem))


def list_runs(reports_dir: str | Path) -> list[RunRow]:
    """Every run folder under ``reports_dir``, newest first (see the module docstring)."""
    reports_dir = Path(reports_dir)
    if not reports_dir.is_dir():
        return []
    folders = [p for p in reports_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
               and (_RUN_ID.match(p.name) or (p / JOURNAL_FILE).is_file())]
    rows = [_row(p) for p in folders]
    oldest = datetime.min.replace(tzinfo=UTC)
    rows.sort(key=lambda r: (r.start or oldest, r.run_id), reverse=True)
    return rows


def _text(value: object) -> str:
    """A value as one safe terminal line (no escape sequences, no line breaks)."""
    return _CONTROL.sub("?", str(value))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{int(seconds // 60)} min {seconds % 60:02.0f} s"


def format_table(rows: list[RunRow]) -> str:
    """The rows as a plain-text table (UTC times), one run per line."""
    head = ("started (UTC)", "runbook", "target", "verdict", "score", "duration", "run")
    lines = [head]
    for r in rows:
        lines.append((
            r.start.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if r.start else "–",
            _text(r.runbook or "–")[:40], _text(r.target or "–")[:20], r.verdict.upper(),
            "–" if r.score is None else f"{r.score:.0f}", _duration(r.duration_s),
            _text(r.run_id)[:80]))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
           for line in lines]
    notes = [f"{_text(r.run_id)[:80]}: {_text(r.problem)[:300]}" for r in rows if r.problem]
    if notes:
        out += ["", *notes]
    return "\n".join(out)
