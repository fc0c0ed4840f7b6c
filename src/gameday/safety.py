"""Safety rules: one GameDay per target, abort on low availability, blast radius.

- :class:`TargetLock` holds an ``flock`` on ``<state_dir>/locks/<target>.lock``. The kernel
  releases it when the holding process dies, however it dies, so a crashed GameDay never
  leaves a stale lock. The file says who holds it (pid, run id, run folder, Prefect flow
  run, since); a clean release empties it, so what a new holder finds there
  (:attr:`TargetLock.previous`) is a run that died holding the lock. The lock is per
  machine: it does not protect a target that two machines drive.
- :class:`AvailabilityGuard` decides abort from the load generator's sliding-window
  availability, once the window holds ``min_samples`` requests.
- :func:`check_blast_radius` re-checks a runbook's fault sequence against its limit.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from pathlib import Path
from typing import IO, Any, Protocol

from gameday.errors import SafetyError, TargetLocked
from gameday.journal import utc_iso
from gameday.runbook import Runbook, max_concurrent_faults

__all__ = ["TargetLock", "AvailabilityGuard", "check_blast_radius", "lock_path"]

#: The locks this process holds, by lock file: the flow adopts the lock the CLI took.
_HELD: dict[str, TargetLock] = {}


def lock_path(state_dir: str | Path, target_key: str) -> Path:
    """Where the lock of ``target_key`` (e.g. "local:5001") lives."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", target_key).strip("-") or "target"
    return Path(state_dir) / "locks" / f"{safe}.lock"


class TargetLock:
    """One GameDay per target, held for the life of the process (or until released).

    ``acquire()`` raises :class:`~gameday.errors.TargetLocked`: "a GameDay is already
    running against local:5001 (pid N, run R, since T); wait for it or run `gameday abort`".
    Use as a context manager, or acquire/release. :meth:`held_here` finds a lock this
    process already holds (another acquire in the same process is refused too).
    """

    def __init__(self, state_dir: str | Path, target_key: str, run_id: str = "") -> None:
        self.target_key = target_key
        self.run_id = run_id
        self.path = lock_path(state_dir, target_key)
        self.info: dict[str, Any] = {}
        #: What the file said when this lock was taken: the holder that died with it.
        self.previous: dict[str, Any] | None = None
        self._file: IO[str] | None = None
        self._since = ""

    @staticmethod
    def held_here(state_dir: str | Path, target_key: str) -> TargetLock | None:
        """The lock of ``target_key`` if this process holds it."""
        return _HELD.get(str(lock_path(state_dir, target_key)))

    @property
    def held(self) -> bool:
        return self._file is not None

    def acquire(self) -> TargetLock:
        if self._file is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held past this call
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            info = TargetLock.holder(self.path.parent.parent, self.target_key) or {}
            raise TargetLocked(
                f"a GameDay is already running against {self.target_key} "
                f"(pid {info.get('pid', '?')}, run {info.get('run_id') or '?'}, "
                f"since {info.get('since', '?')}); wait for it or run `gameday abort`"
            ) from None
        f.seek(0)
        try:
            stale = json.loads(f.read() or "null")
        except ValueError:
            stale = None
        self.previous = stale if isinstance(stale, dict) and stale else None
        self._since = utc_iso()
        self._file = f
        self._write_info()
        _HELD[str(self.path)] = self
        return self

    def release(self) -> None:
        """Release the lock (idempotent). The file stays; its lock is what counts."""
        if self._file is None:
            return
        _HELD.pop(str(self.path), None)
        try:
            self._file.seek(0)
            self._file.truncate()
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        finally:
            self._file.close()
            self._file = None

    @staticmethod
    def holder(state_dir: str | Path, target_key: str) -> dict[str, Any] | None:
        """Who holds the lock of ``target_key``: ``{pid, run, run_id, target, since}``, or
        None when nobody does (works from any process, e.g. ``gameday abort``)."""
        path = lock_path(state_dir, target_key)
        if not path.exists():
            return None
        with open(path, "a+", encoding="utf-8") as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                try:
                    return dict(json.loads(f.read() or "{}"))
                except ValueError:
                    return {}
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            return None

    def set_run_id(self, run_id: str) -> None:
        """Record the run id in the held lock (shown to anyone refused the lock)."""
        self.annotate(run_id=run_id)

    def annotate(self, **info: Any) -> None:
        """Record facts about the holder (``run_id``, ``run_dir``, ``flow_run_id``) in the
        lock file: shown to whoever is refused, and found by the next holder if this
        process dies holding it."""
        if "run_id" in info:
            self.run_id = str(info["run_id"])
        self.info.update({k: v for k, v in info.items() if v is not None})
        if self._file is not None:
            self._write_info()

    def _write_info(self) -> None:
        f = self._file
        assert f is not None
        f.seek(0)
        f.truncate()
        f.write(json.dumps({**self.info, "pid": os.getpid(), "run": self.run_id,
                            "run_id": self.run_id, "target": self.target_key,
                            "since": self._since}))
        f.flush()

    def __enter__(self) -> TargetLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class _WindowSource(Protocol):
    def window_stats(self, window_s: float) -> tuple[int, int]: ...


class AvailabilityGuard:
    """Abort when availability over the last ``window_s`` s falls below ``floor``.

    The window must hold at least ``min_samples`` completed requests before it can abort,
    so one early failure cannot. :meth:`check` re-evaluates at most every
    ``check_interval_s`` (it is called once per scheduled request). Once fired it stays
    fired; ``reason`` says why.
    """

    def __init__(
        self, floor: float, window_s: float, *, min_samples: int = 20,
        check_interval_s: float = 0.2,
    ) -> None:
        self.floor = floor
        self.window_s = window_s
        self.min_samples = min_samples
        self.check_interval_s = check_interval_s
        self.reason: str | None = None
        self._next = 0.0

    def check(self, source: _WindowSource) -> str | None:
        """The abort reason when the run must abort (and from then on), else None."""
        if self.reason is not None:
            return self.reason
        now = time.monotonic()
        if now < self._next:
            return None
        self._next = now + self.check_interval_s
        ok, total = source.window_stats(self.window_s)
        if total >= self.min_samples and ok / total < self.floor:
            self.reason = (
                f"availability {ok / total:.1%} over the last {self.window_s:g} s "
                f"({ok}/{total} requests ok) fell below the floor {self.floor:.1%}"
            )
        return self.reason


def check_blast_radius(runbook: Runbook) -> None:
    """Raise SafetyError when the phases would fault more components of one group at once
    than ``safety.max_faulted_per_group`` (validation already refuses such runbooks; this
    guards models built in code)."""
    worst, at, group = max_concurrent_faults(runbook.phases)
    limit = runbook.safety.max_faulted_per_group
    if worst > limit:
        raise SafetyError(
            f"phase '{runbook.phases[at].name}' would fault {worst} components of group "
            f"{group!r} at once; "
            f"safety.max_faulted_per_group allows {limit}"
        )
