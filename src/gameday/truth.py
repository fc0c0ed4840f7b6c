"""The truth a voter answer is judged against ("wrong answers" in design.md).

The flow seeds a :class:`Truth` from ``GET /ledger`` at the start of the run (each
product's ``available``, called *initial* here); the load generator tells it about every
order it writes and cancels. A voter 200 for product P sent at ``t_send`` and answered at
``t_done`` is **wrong** when its ``available_quantity`` lies outside the truth window::

    [initial(P) − Σ quantity of our orders of P that may be in force, initial(P)]

An order "may be in force" during a read when its ``POST /orders`` was sent before
``t_done`` and it had not ended ``settle_s`` before ``t_send``. An order *ends* when its
cancel is answered (200, or 400 "already cancelled"), or when its POST was refused with a
4xx (it never existed). A POST or cancel whose outcome is unknown (timeout, 5xx) keeps the
order in force for good, so the window only ever widens where we cannot know. The
``settle_s`` grace (default 2 s) covers replicas applying the cancel event after the
orders service answered it. The upper bound assumes nobody else adds stock during a run.
A system file's load may also *add* (a ``change`` with ``by`` > 0, recorded as a negative
quantity): such changes in force raise the upper bound the same way.

An incorrect-response fault (available + 1000) on a majority would be far outside it.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Truth"]


@dataclass(slots=True)
class _Order:
    product_id: str
    quantity: float
    sent_s: float
    ended_s: float | None = None
    unknown: bool = False


class Truth:
    """Stock each product may truthfully show, from the ledger at start and our own orders."""

    def __init__(self, initial_available: Mapping[str, float], *, settle_s: float = 2.0) -> None:
        self.initial = {str(k): float(v) for k, v in initial_available.items()}
        self.settle_s = settle_s
        self._orders: dict[int, _Order] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    @classmethod
    def from_ledger(cls, ledger: Mapping[str, Any], *, settle_s: float = 2.0) -> Truth:
        """From a ``GET /ledger`` body: ``{"products": {P: {"available": n, ...}}, ...}``."""
        products = ledger.get("products") or {}
        return cls({p: v["available"] for p, v in products.items()}, settle_s=settle_s)

    def order_sent(self, product_id: str, quantity: float, sent_s: float) -> int:
        """Record a POST /orders about to be sent (``quantity`` taken off; a negative one
        adds); returns a token for the calls below."""
        with self._lock:
            token = next(self._ids)
            self._orders[token] = _Order(product_id, quantity, sent_s)
            return token

    def order_refused(self, token: int) -> None:
        """The POST was answered 4xx: the order never existed."""
        with self._lock:
            self._orders.pop(token, None)

    def order_unknown(self, token: int) -> None:
        """The POST's or cancel's outcome is unknown: keep the order in force for good."""
        with self._lock:
            if token in self._orders:
                self._orders[token].unknown = True

    def order_ended(self, token: int, at_s: float) -> None:
        """The order's cancel was answered (it no longer holds stock, after settle_s)."""
        with self._lock:
            o = self._orders.get(token)
            if o is not None and not o.unknown:
                o.ended_s = at_s

    def window(self, product_id: str, t_send: float, t_done: float) -> tuple[float, float] | None:
        """``(low, high)`` for a read sent at ``t_send`` and answered at ``t_done``;
        None for a product the ledger did not list."""
        start = self.initial.get(product_id)
        if start is None:
            return None
        down = up = 0.0  # an order takes a quantity off; a negative one adds (a system's change)
        horizon = t_send - self.settle_s
        with self._lock:
            for o in self._orders.values():
                if o.product_id != product_id or o.sent_s > t_done:
                    continue
                if o.ended_s is None or o.ended_s >= horizon:
                    if o.quantity >= 0:
                        down += o.quantity
                    else:
                        up -= o.quantity
        return start - down, start + up

    def is_wrong(self, product_id: str, value: float | None, t_send: float, t_done: float) -> bool:
        """Whether a voter 200 with ``value`` falls outside the window (None value → wrong)."""
        w = self.window(product_id, t_send, t_done)
        if w is None:
            return False
        return value is None or not (w[0] <= float(value) <= w[1])

    def prune(self, before_s: float) -> None:
        """Forget orders that ended (plus settle_s) before ``before_s``."""
        with self._lock:
            gone = [k for k, o in self._orders.items()
                    if o.ended_s is not None and o.ended_s + self.settle_s < before_s]
            for k in gone:
                del self._orders[k]
