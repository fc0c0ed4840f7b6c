"""The truth an answer is judged against ("wrong answers" in design.md).

The driver seeds a :class:`Truth` from the system file's load ``oracle`` at the start of
the run (one value per key, called *initial* here, e.g. each product's stock); the load
generator tells it about every change its requests make (a request with ``change``: by
how much, and when it was sent) and how each ended. An answer for key K sent at
``t_send`` and answered at ``t_done`` is **wrong** when the value it reports lies outside
the truth window::

    [initial(K) + Σ negative changes of K that may be in force,
     initial(K) + Σ positive changes of K that may be in force]

A change "may be in force" during a read when it was sent before ``t_done`` and it had not
ended ``settle_s`` before ``t_send``. A change *ends* when the follow-up that undoes it
(``ends_change``: e.g. cancelling an order) is answered, or when its own request was
refused with a 4xx (it never happened). A request or follow-up whose outcome is unknown
(timeout, 5xx) keeps the change in force for good, so the window only ever widens where
nobody can know. The ``settle_s`` grace (default 2 s) covers a system applying the
follow-up after it answered it. The bounds assume nobody else changes the values during a
run.

A fault that returns a value far off (an incorrect-response fault adding 1000) on a
majority would be far outside it.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Truth"]


@dataclass(slots=True)
class _Change:
    key: str
    by: float
    sent_s: float
    ended_s: float | None = None
    unknown: bool = False


class Truth:
    """The values each key may truthfully show, from the oracle at start and the changes
    the load's own requests made."""

    def __init__(self, initial: Mapping[str, float], *, settle_s: float = 2.0) -> None:
        self.initial = {str(k): float(v) for k, v in initial.items()}
        self.settle_s = settle_s
        self._changes: dict[int, _Change] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def change_sent(self, key: str, by: float, sent_s: float) -> int:
        """Record a request about to be sent that changes ``key``'s value by ``by``
        (negative: takes off); returns a token for the calls below."""
        with self._lock:
            token = next(self._ids)
            self._changes[token] = _Change(key, by, sent_s)
            return token

    def change_refused(self, token: int) -> None:
        """The request was answered 4xx: the change never happened."""
        with self._lock:
            self._changes.pop(token, None)

    def change_unknown(self, token: int) -> None:
        """The request's or its undoing follow-up's outcome is unknown: keep the change in
        force for good."""
        with self._lock:
            if token in self._changes:
                self._changes[token].unknown = True

    def change_ended(self, token: int, at_s: float) -> None:
        """The follow-up undoing the change was answered (no longer in force, after
        ``settle_s``)."""
        with self._lock:
            c = self._changes.get(token)
            if c is not None and not c.unknown:
                c.ended_s = at_s

    def window(self, key: str, t_send: float, t_done: float) -> tuple[float, float] | None:
        """``(low, high)`` for a read sent at ``t_send`` and answered at ``t_done``;
        None for a key the oracle did not list."""
        start = self.initial.get(key)
        if start is None:
            return None
        down = up = 0.0
        horizon = t_send - self.settle_s
        with self._lock:
            for c in self._changes.values():
                if c.key != key or c.sent_s > t_done:
                    continue
                if c.ended_s is None or c.ended_s >= horizon:
                    if c.by < 0:
                        down -= c.by
                    else:
                        up += c.by
        return start - down, start + up

    def is_wrong(self, key: str, value: float | None, t_send: float, t_done: float) -> bool:
        """Whether an answer reporting ``value`` falls outside the window (None value →
        wrong; a key the oracle did not list → never wrong)."""
        w = self.window(key, t_send, t_done)
        if w is None:
            return False
        return value is None or not (w[0] <= float(value) <= w[1])

    def prune(self, before_s: float) -> None:
        """Forget changes that ended (plus settle_s) before ``before_s``."""
        with self._lock:
            gone = [k for k, c in self._changes.items()
                    if c.ended_s is not None and c.ended_s + self.settle_s < before_s]
            for k in gone:
                del self._changes[k]
