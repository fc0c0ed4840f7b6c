"""The system's own view of its components over time, as the transitions metrics read.

A :class:`Transition` is what ``transitions.csv`` holds and :func:`gameday.metrics.ttd`
reads: a member (``instance_id``: its label, ``group/member``), ``ON`` or ``OFF``, when
(``at_s``, epoch seconds) and why (``reason``: the system's own state word).

- ``transitions`` detector: :func:`read_transitions` reads the system's history.
- ``status`` detector: :class:`DetectorPoller` polls the current view every
  ``interval_s`` and records a transition when a member's state changes (at the time of
  the reading that saw it).
- ``none``: the same poller reads each member's health URL instead (2xx: ON), so TTD
  then measures the harness's probe, which the report must say.

A member the detector does not show is not judged (no transition); the first reading of
each member is its starting state, recorded as a transition only when it is ``OFF``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from gameday.systems.probe import detector_items, search, template_context
from gameday.systems.render import render
from gameday.systems.resolve import ResolvedSystem

__all__ = ["Transition", "DetectorPoller", "read_transitions", "state_of"]


@dataclass(frozen=True)
class Transition:
    """One change of a member's state, as the detector saw it."""

    instance_id: str
    status: str  # "ON" | "OFF"
    at_s: float
    reason: str


def state_of(raw: Any, down: list[Any]) -> str:
    """``OFF`` when the detector's state is among ``down``, else ``ON``."""
    return "OFF" if raw in down or str(raw) in {str(d) for d in down} else "ON"


def _members_by_name(resolved: ResolvedSystem) -> dict[str, str]:
    """How a detector may name a member (its name or ``group/member``) → its label."""
    names: dict[str, str] = {}
    for member in resolved.all_members():
        if resolved.system.components[member.group].faultable:
            names.setdefault(member.name, member.label)
            names[member.label] = member.label
    return names


def _epoch(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def read_transitions(resolved: ResolvedSystem, *, since_iso: str,
                     client: httpx.Client | None = None) -> list[Transition]:
    """The system's own history (``kind: transitions``) since ``since_iso``, oldest first."""
    det = resolved.system.detector
    if det.kind != "transitions":
        raise ValueError(f"the detector is {det.kind!r}, not a history of transitions")
    url = render(det.url, template_context(resolved, since=since_iso))
    own = client is None
    client = client or httpx.Client()
    try:
        response = client.get(url, timeout=5.0)
        response.raise_for_status()
        items = search(det.items, response.json())
    finally:
        if own:
            client.close()
    names = _members_by_name(resolved)
    found = []
    for item in items if isinstance(items, list) else []:
        label = names.get(str(search(det.component, item)))
        at_s = _epoch(search(det.at, item))
        if label is None or at_s is None:
            continue
        raw = search(det.state, item)
        found.append(Transition(label, state_of(raw, det.down), at_s, str(raw)))
    return sorted(found, key=lambda t: t.at_s)


class DetectorPoller:
    """Polls a ``status`` detector (or, for ``none``, each member's health URL) in a
    thread and records every change of state. ``start()``, ``stop()``, ``transitions``,
    ``state(label)``."""

    def __init__(self, resolved: ResolvedSystem, *, interval_s: float | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        det = resolved.system.detector
        if det.kind == "transitions":
            raise ValueError("a transitions detector keeps its own history: read_transitions")
        self.resolved = resolved
        self.interval_s = interval_s or det.interval_s
        self.clock = clock
        self.transitions: list[Transition] = []
        self.errors = 0
        self._last: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = httpx.Client(timeout=max(self.interval_s * 5, 1.0))

    def _read(self) -> dict[str, tuple[str, str]]:
        """label → (ON|OFF, the detector's word) for every member the reading shows."""
        det = self.resolved.system.detector
        if det.kind == "none":
            seen = {}
            for member in self.resolved.all_members():
                if not self.resolved.system.components[member.group].faultable:
                    continue
                if member.health_url is None:
                    continue
                try:
                    code = self._client.get(member.health_url).status_code
                    seen[member.label] = (("ON", str(code)) if 200 <= code < 300
                                          else ("OFF", str(code)))
                except httpx.HTTPError as exc:
                    seen[member.label] = ("OFF", type(exc).__name__)
            return seen
        names = _members_by_name(self.resolved)
        _url, items = detector_items(self.resolved, self._client)
        return {names[c]: (state_of(s, det.down), s) for c, s in items if c in names}

    def state(self, label: str) -> str | None:
        """The member's state (``ON``/``OFF``) at the last reading; None: never seen."""
        return self._last.get(label)

    def poll_once(self) -> None:
        """One reading; a change of state becomes a transition."""
        at = self.clock()
        try:
            seen = self._read()
        except (ValueError, httpx.HTTPError):
            self.errors += 1
            return
        for label, (state, word) in seen.items():
            before = self._last.get(label)
            if state != before and (before is not None or state == "OFF"):
                self.transitions.append(Transition(label, state, at, word))
            self._last[label] = state

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.poll_once()
            next_at += self.interval_s
            self._stop.wait(max(next_at - time.monotonic(), 0.0))

    def start(self) -> DetectorPoller:
        self.poll_once()  # the starting state, before anything is injected
        self._thread = threading.Thread(target=self._loop, name="gameday-detector",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[Transition]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._client.close()
        return list(self.transitions)
