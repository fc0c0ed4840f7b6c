"""Injected faults of one replica: one fault at a time, each with a time-to-live.

The vocabulary (toxiproxy-like): ``crash``, ``latency``, ``intermittent``,
``incorrect_response``, and ``clear`` (the body: :mod:`stack.inventory.fault_body`).
Injecting replaces the previous fault, so a retried injection does no harm; a refused
body changes nothing. A fault ends when it says: at ``clear``, at a replacement, or when
its TTL expires (a timer, and lazily on every read) — and every request sleeping in a
latency fault wakes up at that moment, not when its sleep would have ended.

What a fault touches: the client-facing routes (``/health``, ``/inventory*``). Event
processing only when the fault says ``"events": true`` (latency and intermittent):
a replica's consumer applies events one after another, so a per-event delay or failure
builds a backlog that outlives the fault by however long it takes to work it off. By
default a slow or failing replica therefore still keeps its state current, and once the
fault ends every effect is gone at once (``docs/stack.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from stack.common.timeutil import iso, utcnow
from stack.inventory.fault_body import ALLOWED_TYPES, FaultBody

__all__ = ["ALLOWED_TYPES", "Fault", "FaultState", "InjectedFailure", "INCORRECT_OFFSET"]

INCORRECT_OFFSET = 1000


class InjectedFailure(Exception):
    """Raised by a hook when an intermittent fault fires."""


@dataclass
class Fault:
    type: str
    params: dict[str, Any]
    ttl_s: float
    seed: int | None
    injected_at: datetime
    expires_at: datetime
    events: bool = False
    rng: random.Random = field(repr=False, default_factory=random.Random)
    #: Set the moment the fault ends (clear, replaced, expired): wakes its sleepers.
    ended: asyncio.Event = field(repr=False, default_factory=asyncio.Event)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "params": self.params,
            "ttl_s": self.ttl_s,
            "seed": self.seed,
            "injected_at": iso(self.injected_at),
            "expires_at": iso(self.expires_at),
        }

    def remaining_s(self) -> float:
        return (self.expires_at - utcnow()).total_seconds()


class FaultState:
    """The fault in force in this replica, if any."""

    def __init__(self) -> None:
        self._fault: Fault | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def current(self) -> Fault | None:
        self.expire()
        return self._fault

    def set(self, body: FaultBody, default_ttl_s: float) -> Fault:
        """Replace any fault by the one ``body`` describes (clear then set).

        The new fault is built first: nothing can fail once the old one is cleared.
        """
        ttl_s = body.ttl_s if body.ttl_s is not None else default_ttl_s
        now = utcnow()
        fault = Fault(
            body.type, body.params(), ttl_s, body.seed, now, now + timedelta(seconds=ttl_s),
            events=body.hooks_events, rng=random.Random(body.seed),
        )
        self.clear()
        self._fault = fault
        try:
            self._timer = asyncio.get_running_loop().call_later(ttl_s, self.expire)
        except RuntimeError:  # no loop (unit use): lazy expiry still applies
            self._timer = None
        return fault

    def clear(self) -> bool:
        """Remove the fault; returns whether there was one ("already clear" is success)."""
        fault, self._fault = self._fault, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if fault is not None:
            fault.ended.set()
        return fault is not None

    def expire(self) -> None:
        if self._fault is not None and utcnow() >= self._fault.expires_at:
            self.clear()

    async def hook(self, *, event: bool = False) -> None:
        """Apply the fault to a hooked request (or, ``event``, to an order event): sleep,
        or raise InjectedFailure. A sleep ends early when the fault ends."""
        fault = self.current
        if fault is None or (event and not fault.events):
            return
        if fault.type == "latency":
            latency_ms = fault.params["latency_ms"]
            delay_s = fault.rng.uniform(0.8 * latency_ms, 1.2 * latency_ms) / 1000.0
            await _wait(fault.ended, min(delay_s, max(0.0, fault.remaining_s())))
        elif fault.type == "intermittent" and fault.rng.random() < fault.params["probability"]:
            raise InjectedFailure("injected intermittent failure")

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the fault now in force ends first (a retry
        back-off that must not outlive the fault that caused it)."""
        fault = self.current
        if fault is None:
            await asyncio.sleep(seconds)
        else:
            await _wait(fault.ended, seconds)

    def reported_available(self, product_id: str, available: int) -> int:
        """What ``GET /inventory/{product_id}`` reports: wrong under ``incorrect_response``."""
        fault = self.current
        if (
            fault
            and fault.type == "incorrect_response"
            and fault.params["product_id"] == product_id
        ):
            return available + INCORRECT_OFFSET
        return available


async def _wait(ended: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await ended.wait()
