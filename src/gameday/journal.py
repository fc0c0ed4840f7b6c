"""The run journal: ``reports/<run_id>/journal.json`` plus the raw data beside it.

Shaped like Chaos Toolkit's journal (``status``, ``deviated``, ``steady_states``,
``run[]``, ``rollbacks[]``) with the GameDay fields of docs/architecture.md "Run data".
:class:`Journal` is a builder the flow fills as the GameDay goes; :meth:`Journal.write`
writes ``journal.json`` atomically (temp file + rename) and ``requests.csv`` /
``transitions.csv``; :func:`load_run` reads the three back for notebooks. The journal is
plain JSON; nothing here edits a run folder after it was written by its run.
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

from gameday.fingerprint import environment_fingerprint, new_run_id, utc_iso
from gameday.frames import requests_frame, transitions_frame
from gameday.records import REQUEST_COLUMNS, TRANSITION_COLUMNS, RequestRecord

__all__ = [
    "JOURNAL_FILE",
    "REQUESTS_FILE",
    "TRANSITIONS_FILE",
    "RUN_STATUSES",
    "utc_iso",
    "new_run_id",
    "environment_fingerprint",
    "Journal",
    "load_run",
]

JOURNAL_FILE = "journal.json"
REQUESTS_FILE = "requests.csv"
TRANSITIONS_FILE = "transitions.csv"
RUN_STATUSES = ("running", "completed", "failed", "aborted", "interrupted")

RunStatus = Literal["running", "completed", "failed", "aborted", "interrupted"]


def _jsonable(x: Any) -> Any:
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
    """Builder of one run's journal. Thread-safe for appends (the flow may use threads).

    Usage::

        j = Journal(run_id, runbook, runbook_path, target="local", seed=rb.seed)
        with j.activity("inject crash", "action", phase="crash") as out:
            out["response"] = client.inject(...)
        j.add_phase({...}); j.end("completed"); j.write(run_dir)
    """

    def __init__(
        self,
        run_id: str,
        runbook: Any,
        runbook_path: str | Path | None = None,
        *,
        target: str = "local",
        seed: int | None = None,
        environment: Mapping[str, Any] | None = None,
    ) -> None:
        rb = _jsonable(runbook)
        self._lock = threading.Lock()
        self.requests: list[RequestRecord | Mapping[str, Any]] = []
        self.transitions: list[Mapping[str, Any]] = []
        self.data: dict[str, Any] = {
            "status": "running",
            "deviated": False,
            "start": utc_iso(),
            "end": None,
            "duration": None,
            "run_id": run_id,
            "seed": seed if seed is not None else (rb or {}).get("seed"),
            "target": target,
            "runbook": rb,
            "runbook_path": str(runbook_path) if runbook_path else None,
            "runbook_sha256": (environment or {}).get("runbook_sha256"),
            "environment": dict(environment or {}),
            "steady_states": {"before": None, "after": None, "during": []},
            "run": [],
            "rollbacks": [],
            "phases": [],
            "consistency": None,
            "abort": None,
            "verdict": None,
            "observations": [],
            "notifications": [],
        }
        self._t0 = time.time()

    @property
    def run_id(self) -> str:
        return str(self.data["run_id"])

    def start(self) -> None:
        """(Re)stamp the start time: call when the GameDay really begins."""
        self._t0 = time.time()
        self.data["start"] = utc_iso(self._t0)

    def end(self, status: RunStatus, *, deviated: bool | None = None) -> None:
        """Stamp the end; ``status`` ∈ completed/failed/aborted/interrupted."""
        if status not in RUN_STATUSES:
            raise ValueError(f"status must be one of {', '.join(RUN_STATUSES)} (got {status!r})")
        now = time.time()
        self.data.update(status=status, end=utc_iso(now), duration=round(now - self._t0, 3))
        if deviated is not None:
            self.data["deviated"] = bool(deviated)

    @contextmanager
    def activity(
        self,
        name: str,
        type: Literal["action", "probe"] = "action",
        phase: str | None = None,
        *,
        rollback: bool = False,
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
            entry: dict[str, Any] = {
                "activity": {"name": name, "type": type, "phase": phase},
                "start": utc_iso(t),
                "end": utc_iso(end),
                "duration": round(end - t, 3),
                "status": status,
                "output": _jsonable(out),
            }
            if error is not None:
                entry["exception"] = error
            with self._lock:
                self.data["rollbacks" if rollback else "run"].append(entry)

    def add_phase(self, phase: Mapping[str, Any]) -> None:
        """Append a phase record (keys as docs/architecture.md ``phases[]``)."""
        with self._lock:
            self.data["phases"].append(_jsonable(phase))

    def steady_state(self, when: Literal["before", "after", "during"], result: Any) -> None:
        """Record a steady-state probe; "during" results accumulate."""
        with self._lock:
            if when == "during":
                self.data["steady_states"]["during"].append(_jsonable(result))
            else:
                self.data["steady_states"][when] = _jsonable(result)

    def set(self, key: str, value: Any) -> None:
        """Set a top-level field (``consistency``, ``verdict``, ...) to JSON of ``value``."""
        with self._lock:
            self.data[key] = _jsonable(value)

    def abort(self, reason: str, phase: str | None = None) -> None:
        with self._lock:
            self.data["abort"] = {"reason": reason, "at": utc_iso(), "phase": phase}

    def verdict(self, passed: bool, score: float, failing_checks: Iterable[Any]) -> None:
        self.set("verdict", {"passed": bool(passed), "score": round(float(score), 2),
                             "failing_checks": list(failing_checks)})

    def observe(self, text: str, *, role: str = "observer", phase: str | None = None,
                kind: Literal["note", "noticed"] = "note", at: str | None = None) -> None:
        """Record what a person saw. ``kind="noticed"`` marks the moment a human first
        noticed the phase's fault (compared with the automated TTD in the report);
        ``at`` (ISO 8601) defaults to now."""
        with self._lock:
            self.data["observations"].append(
                {"at": at or utc_iso(), "role": role, "phase": phase, "kind": kind,
                 "text": text})

    def notification(self, channel: str, kind: str, ok: bool, error: str | None = None) -> None:
        item = {"at": utc_iso(), "channel": channel, "kind": kind, "ok": bool(ok)}
        if error:
            item["error"] = error
        with self._lock:
            self.data["notifications"].append(item)

    def add_requests(self, records: Iterable[RequestRecord | Mapping[str, Any]]) -> None:
        with self._lock:
            self.requests.extend(records)

    def set_transitions(self, transitions: Iterable[Mapping[str, Any]]) -> None:
        """The monitor's transitions of the run window (``GET /transitions`` dicts)."""
        with self._lock:
            self.transitions = list(transitions)

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return json.loads(json.dumps(self.data, default=str))

    def write(self, run_dir: str | Path) -> Path:
        """Write journal.json (atomically), requests.csv and transitions.csv; returns the
        journal path. Safe to call repeatedly (e.g. after each phase)."""
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        with self._lock:
            reqs, trans = list(self.requests), list(self.transitions)
        req_df = requests_frame(reqs)[list(REQUEST_COLUMNS)]
        tr_df = transitions_frame(trans)
        _atomic_write(run_dir / REQUESTS_FILE, req_df.to_csv(index=False))
        _atomic_write(run_dir / TRANSITIONS_FILE, tr_df.to_csv(index=False))
        path = run_dir / JOURNAL_FILE
        _atomic_write(path, json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n")
        return path


def _atomic_write(path: Path, text: str) -> None:
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


def load_run(run_dir: str | Path) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """Read a run folder: (journal dict, requests frame, transitions frame).

    Raises FileNotFoundError naming the missing file. A missing CSV yields an empty frame
    with the schema's columns.
    """
    run_dir = Path(run_dir)
    jpath = run_dir / JOURNAL_FILE
    if not jpath.exists():
        raise FileNotFoundError(f"{jpath}: no journal here; is {run_dir} a GameDay run folder?")
    journal = json.loads(jpath.read_text(encoding="utf-8"))
    rpath, tpath = run_dir / REQUESTS_FILE, run_dir / TRANSITIONS_FILE
    req = requests_frame(rpath) if rpath.exists() else requests_frame([])
    tr = (transitions_frame(tpath) if tpath.exists()
          else transitions_frame(pd.DataFrame(columns=list(TRANSITION_COLUMNS))))
    return journal, req, tr

