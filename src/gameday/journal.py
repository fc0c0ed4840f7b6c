"""The run journal: ``reports/<run_id>/journal.json`` plus the raw data beside it.

:class:`Journal` builds one :class:`~gameday.run_record.JournalRecord` as the GameDay
goes (thread-safe) and :meth:`Journal.write` serializes it: ``journal.json`` atomically
(temp file + rename), and ``requests.csv`` / ``transitions.csv`` unless ``raw=False``.
The run writes it when it opens (status ``running``), after each injection and each
phase, so a run killed at any moment leaves a journal that says how far it got.

:func:`read_journal` validates a journal (old versions included) and turns a journal
that does not match the schema into a sentence naming the file and the field;
:func:`load_run` reads the three files back for notebooks. Nothing here edits a run
folder after its run (the one exception: marking a dead run ``interrupted``,
:mod:`gameday.recovery`).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
import traceback
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import ValidationError

from gameday.errors import GameDayError
from gameday.fingerprint import environment_fingerprint, new_run_id, utc_iso, utc_time
from gameday.frames import requests_frame, transitions_frame
from gameday.records import REQUEST_COLUMNS, TRANSITION_COLUMNS, RequestRecord
from gameday.run_record import (
    Abort,
    Activity,
    ActivityRun,
    JournalRecord,
    NotificationRecord,
    Observation,
    PhaseRecord,
    RunStatus,
    Verdict,
)

__all__ = [
    "JOURNAL_FILE", "REQUESTS_FILE", "TRANSITIONS_FILE", "RUN_STATUSES", "utc_iso",
    "new_run_id", "environment_fingerprint", "Journal", "JournalUnreadable", "read_journal",
    "write_journal", "load_run", "missing_parts", "atomic_write",
]

JOURNAL_FILE = "journal.json"
REQUESTS_FILE = "requests.csv"
TRANSITIONS_FILE = "transitions.csv"
RUN_STATUSES = ("running", "completed", "failed", "aborted", "interrupted")


class JournalUnreadable(GameDayError):
    """A journal.json is missing, is not JSON, or does not match the schema."""


def _jsonable(x: Any) -> Any:
    """Free-form output (probe bodies, activity outputs) as JSON values."""
    if hasattr(x, "model_dump"):
        return x.model_dump(mode="json")
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and x != x:  # NaN is not JSON
        return None
    if isinstance(x, datetime):
        return utc_iso(x)
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return str(x)


class Journal:
    """Builder of one run's journal; ``record`` is the typed journal so far.

    Usage::

        j = Journal(JournalRecord(run_id=..., start=utc_time(), ...))
        with j.activity("inject crash", "action", phase="crash") as out:
            out["response"] = client.inject(...)
        j.add_phase(record); j.end("completed"); j.write(run_dir)
    """

    def __init__(self, record: JournalRecord) -> None:
        self._lock = threading.RLock()
        self.record = record
        self.requests: list[RequestRecord | Mapping[str, Any]] = []
        self.transitions: list[Mapping[str, Any]] = []
        self._t0 = record.start.timestamp()

    @property
    def run_id(self) -> str:
        return self.record.run_id

    def end(self, status: RunStatus, *, deviated: bool | None = None) -> None:
        """Stamp the end; ``status`` ∈ completed/failed/aborted/interrupted."""
        if status not in RUN_STATUSES:
            raise ValueError(f"status must be one of {', '.join(RUN_STATUSES)} (got {status!r})")
        now = time.time()
        changes: dict[str, Any] = dict(status=status, end=utc_time(now),
                                       duration=round(now - self._t0, 3))
        if deviated is not None:
            changes["deviated"] = bool(deviated)
        self.update(**changes)

    def update(self, **fields: Any) -> None:
        """Set top-level fields (validated against the schema)."""
        with self._lock:
            for key, value in fields.items():
                setattr(self.record, key, value)

    @contextmanager
    def activity(self, name: str, type: Literal["action", "probe"] = "action",
                 phase: str | None = None, *, rollback: bool = False
                 ) -> Iterator[dict[str, Any]]:
        """Record the enclosed block as one ``run[]`` (or ``rollbacks[]``) entry.

        Yields a dict: whatever the block stores there becomes the entry's ``output``. An
        exception marks the entry ``failed`` with the exception text, and is re-raised.
        """
        out: dict[str, Any] = {}
        t = time.time()
        status, error = "succeeded", None
        try:
            yield out
        except BaseException as exc:
            status = "failed"
            error = "".join(traceback.format_exception_only(exc.__class__, exc)).strip()
            raise
        finally:
            end = time.time()
            entry = ActivityRun(
                activity=Activity(name=name, type=type, phase=phase), start=utc_time(t),
                end=utc_time(end), duration=round(end - t, 3), status=status,  # type: ignore[arg-type]
                output=_jsonable(out), exception=error)
            with self._lock:
                (self.record.rollbacks if rollback else self.record.run).append(entry)

    def add_phase(self, phase: PhaseRecord) -> None:
        with self._lock:
            self.record.phases.append(phase)

    def steady_state(self, when: Literal["before", "after", "during"], result: Any) -> None:
        """Record a steady-state probe; "during" results accumulate."""
        with self._lock:
            states = self.record.steady_states
            if when == "during":
                states.during.append(_jsonable(result))
            else:
                setattr(states, when, _jsonable(result))

    def abort(self, reason: str, phase: str | None = None) -> None:
        self.update(abort=Abort(reason=reason, at=utc_time(), phase=phase))

    def verdict(self, passed: bool, score: float, failing_checks: Iterable[str], *,
                outcome: str | None = None, inconclusive: Iterable[str] = ()) -> None:
        self.update(verdict=Verdict(passed=bool(passed), score=round(float(score), 2),
                                    failing_checks=list(failing_checks),
                                    outcome=outcome,  # type: ignore[arg-type]
                                    inconclusive=list(inconclusive)))

    def observe(self, observation: Observation) -> None:
        """Record what a person saw (see :meth:`gameday.session.Session.note`)."""
        with self._lock:
            self.record.observations.append(observation)

    def add_notifications(self, records: Iterable[NotificationRecord]) -> None:
        """The notifier's records (one per message sent or failed)."""
        with self._lock:
            self.record.notifications.extend(records)

    def add_requests(self, records: Iterable[RequestRecord | Mapping[str, Any]]) -> None:
        with self._lock:
            self.requests.extend(records)

    def set_transitions(self, transitions: Iterable[Mapping[str, Any]]) -> None:
        """The detector's transitions of the run window (dicts: ``instance_id``, ``status``,
        ``at_s``, ``reason``)."""
        with self._lock:
            self.transitions = list(transitions)

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return self.record.model_dump(mode="json")

    def write(self, run_dir: str | Path, *, raw: bool = True) -> Path:
        """Write journal.json (atomically) and, with ``raw``, requests.csv and
        transitions.csv; returns the journal path. Safe to call repeatedly."""
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        if raw:
            with self._lock:
                reqs, trans = list(self.requests), list(self.transitions)
            req_df = requests_frame(reqs)[list(REQUEST_COLUMNS)]
            atomic_write(run_dir / REQUESTS_FILE, req_df.to_csv(index=False))
            atomic_write(run_dir / TRANSITIONS_FILE, transitions_frame(trans).to_csv(index=False))
        with self._lock:
            record = self.record.model_copy(deep=True)
        return write_journal(run_dir, record)


def write_journal(run_dir: str | Path, record: JournalRecord) -> Path:
    """Serialize ``record`` into ``run_dir/journal.json`` atomically; returns the path."""
    path = Path(run_dir) / JOURNAL_FILE
    text = json.dumps(record.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
    atomic_write(path, text)
    return path


def atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_journal(path: str | Path) -> JournalRecord:
    """Read and validate a journal.json (any version). Raises JournalUnreadable naming
    the file and, for a schema mismatch, each field: ``…/journal.json: phases[2].metrics
    .ttd_s: must be a number (got 'fast')``."""
    from gameday.runbook_errors import message

    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise JournalUnreadable(f"{path}: no journal here; is {path.parent} a GameDay run "
                                "folder?") from None
    except (OSError, ValueError) as exc:
        raise JournalUnreadable(f"{path}: not a readable JSON journal ({exc})") from None
    if not isinstance(data, dict):
        raise JournalUnreadable(f"{path}: a journal is a JSON object (got "
                                f"{type(data).__name__})")
    data.setdefault("version", 1)  # journals of version 1 carried no version
    try:
        return JournalRecord.model_validate(data)
    except ValidationError as exc:
        lines = [f"{path}: {message(e, JournalRecord)}"  # type: ignore[arg-type]
                 for e in exc.errors(include_url=False)[:10]]
        raise JournalUnreadable("\n".join(lines)) from None


def missing_parts(run_dir: str | Path, journal: JournalRecord) -> list[str]:
    """What a run folder lacks: the journal's own gaps plus raw data files not written."""
    out = journal.missing()
    for name in (REQUESTS_FILE, TRANSITIONS_FILE):
        if not (Path(run_dir) / name).is_file():
            out.append(f"{name} was never written")
    return out


def load_run(run_dir: str | Path) -> tuple[JournalRecord, pd.DataFrame, pd.DataFrame]:
    """Read a run folder: (journal, requests frame, transitions frame).

    Raises JournalUnreadable (see :func:`read_journal`). A missing CSV yields an empty
    frame with the schema's columns (:func:`missing_parts` says so).
    """
    run_dir = Path(run_dir)
    journal = read_journal(run_dir / JOURNAL_FILE)
    rpath, tpath = run_dir / REQUESTS_FILE, run_dir / TRANSITIONS_FILE
    req = requests_frame(rpath) if rpath.exists() else requests_frame([])
    tr = (transitions_frame(tpath) if tpath.exists()
          else transitions_frame(pd.DataFrame(columns=list(TRANSITION_COLUMNS))))
    return journal, req, tr
