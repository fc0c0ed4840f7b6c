"""Steady-state probes watched while a GameDay runs: a continuous abort condition.

A system file marks the probes that must hold *during* the run, faults included, with
``during: {interval_s, grace_s}`` (docs/systems.md). :class:`SteadyStateWatch` sends each
such probe every ``interval_s`` from a thread, per member where the probe says ``each``.
A probe (member) that keeps failing, with no success in between, for longer than its
``grace_s`` makes the watch *fail*: from then on :meth:`SteadyStateWatch.reason` and
:meth:`SteadyStateWatch.state` say so, with the probe, the member, how long it failed and
what the last answer was (the finding's own words: status, the JSON value seen, the
latency). The watch stays failed (a latch, like
:class:`~gameday.safety.AvailabilityGuard`): the engine aborts the phase under load that
sees it, through the same path as the availability floor.

Failures shorter than the grace are counted (``blips``) but do not fail the watch.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from gameday.systems.probe import Finding, run_probe
from gameday.systems.render import TemplateProblem
from gameday.systems.resolve import ResolvedSystem

__all__ = ["WatchFailure", "SteadyStateWatch", "watched_probes"]


def watched_probes(resolved: ResolvedSystem) -> list[str]:
    """The names of the steady-state probes watched during the run (``during``)."""
    return [n for n, p in resolved.system.steady_state.items() if p.during is not None]


@dataclass(frozen=True)
class WatchFailure:
    """A watched probe that failed for longer than its grace."""

    probe: str
    member: str | None
    failing_s: float
    grace_s: float
    detail: str

    @property
    def reason(self) -> str:
        """The abort reason, one sentence (the journal's and report's words)."""
        where = f" [{self.member}]" if self.member else ""
        return (f"steady-state probe {self.probe}{where} failed for {self.failing_s:g} s, "
                f"longer than its grace of {self.grace_s:g} s: {self.detail}")


class SteadyStateWatch:
    """Watches a resolved system's ``during`` probes (module docstring). ``start()``,
    ``stop()``, ``state()``, ``failure``."""

    def __init__(self, resolved: ResolvedSystem, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.resolved = resolved
        self.clock = clock
        self.names = watched_probes(resolved)
        self.polls = 0
        self.blips = 0
        self.failure: WatchFailure | None = None
        #: (probe, member) → when it started failing (clock), while it fails.
        self._since: dict[tuple[str, str | None], float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = httpx.Client(follow_redirects=False)

    def _findings(self, name: str) -> list[Finding]:
        probe = self.resolved.system.steady_state[name]
        try:
            return run_probe(self._client, self.resolved, name, probe)
        except TemplateProblem as exc:
            return [Finding("probe", name, False, detail=str(exc))]

    def poll_once(self, name: str) -> None:
        """Send probe ``name`` once and judge it against its grace."""
        probe = self.resolved.system.steady_state[name]
        assert probe.during is not None
        sent = self.clock()
        found = self._findings(name)
        now = self.clock()
        with self._lock:
            self.polls += 1
            for f in found:
                key = (name, f.member)
                if f.ok:
                    if self._since.pop(key, None) is not None:
                        self.blips += 1
                    continue
                since = self._since.setdefault(key, sent)
                if self.failure is None and now - since > probe.during.grace_s:
                    # up to the next millisecond: a figure rounded down could read as
                    # no longer than the grace it exceeded
                    self.failure = WatchFailure(name, f.member,
                                                math.ceil((now - since) * 1000) / 1000,
                                                probe.during.grace_s, f.detail)

    def _loop(self) -> None:
        spec = self.resolved.system.steady_state
        due = {n: time.monotonic() for n in self.names}
        while not self._stop.is_set():
            name = min(due, key=due.__getitem__)
            if self._stop.wait(max(due[name] - time.monotonic(), 0.0)):
                return
            self.poll_once(name)
            interval = spec[name].during.interval_s  # type: ignore[union-attr]
            due[name] = max(due[name] + interval, time.monotonic())

    def start(self) -> SteadyStateWatch:
        """Watch from now on (a thread); nothing to do when no probe is watched."""
        if self.names and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="gameday-steady-watch",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching; safe to repeat."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._client.close()

    def reason(self) -> str | None:
        """Why the watch failed, or None while every probe holds (or blips)."""
        with self._lock:
            return None if self.failure is None else self.failure.reason

    def state(self) -> dict[str, Any]:
        """What the watch saw so far: ``ok``, the probes watched, polls, blips (failures
        shorter than the grace), and when it failed, ``failed`` and ``reason``."""
        with self._lock:
            failure = self.failure
            out: dict[str, Any] = {"ok": failure is None, "probes": list(self.names),
                                   "polls": self.polls, "blips": self.blips}
        if failure is not None:
            out["failed"] = asdict(failure)
            out["reason"] = failure.reason
        return out
