"""Safety rules: one GameDay per target, abort on low availability, blast radius.

- :class:`TargetLock` holds an ``flock`` on ``<state_dir>/locks/<target>.lock``. The kernel
  releases it when the holding process dies, however it dies, so a crashed GameDay never
  leaves a stale lock. The file's content (pid, run id, since) only serves the message.
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


def lock_path(state_dir: str | Path, target_key: str) -> Path:
    """Where the lock of ``target_key`` (e.g. "local:5001") lives."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", target_key).strip("-") or "target"
    return Path(state_dir) / "locks" / f"{safe}.lock"


class TargetLock:
    """One GameDay per target, held for the life of the process (or until released).

    ``acquire()`` raises :class:`~gameday.errors.TargetLocked`: "a GameDay is already
    running against local:5001 (pid N, run R, since T); wait for it or run `gameday abort`".
    Use as a context manager, or acquire/release.
    """

    def __init__(self, state_dir: str | Path, target_key: str, run_id: str = "") -> None:
        self.target_key = target_key
        self.run_id = run_id
        self.path = lock_path(state_dir, target_key)
        self._file: IO[str] | None = None
        self._since = ""

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
        self._since = utc_iso()
        self._write_info(f)
        self._file = f
        return self

    def release(self) -> None:
        """Release the lock (idempotent). The file stays; its lock is what counts."""
        if self._file is None:
            return
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
        self.run_id = run_id
        if self._file is not None:
            self._write_info(self._file)

    def _write_info(self, f: IO[str]) -> None:
        f.seek(0)
        f.truncate()
        f.write(json.dumps({"pid": os.getpid(), "run": self.run_id, "run_id": self.run_id,
                            "target": self.target_key, "since": self._since}))
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

    @classmethod
    def from_runbook(cls, runbook: Runbook) -> AvailabilityGuard:
        s = runbook.safety
        return cls(s.abort_availability_floor, s.abort_window_s, min_samples=s.abort_min_samples)

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

    def bind(self, source: _WindowSource) -> Any:
        """A ``should_abort`` callable for :meth:`gameday.load.LoadGenerator.run`."""
        return lambda: self.check(source) is not None


def check_blast_radius(runbook: Runbook) -> None:
    """Raise SafetyError when the phases would fault more replicas at once than
    ``safety.max_faulted_replicas`` (validation already refuses such runbooks; this
    guards models built in code)."""
    worst, at = max_concurrent_faults(runbook.phases)
    limit = runbook.safety.max_faulted_replicas
    if worst > limit:
        raise SafetyError(
            f"phase '{runbook.phases[at].name}' would fault {worst} replicas at once; "
            f"safety.max_faulted_replicas allows {limit}"
        )
