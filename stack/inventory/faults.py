"""Injected faults of one replica: one fault at a time, each with a time-to-live.

The vocabulary (toxiproxy-like): ``crash``, ``latency``, ``intermittent``,
``incorrect_response``, and ``clear``. Injecting replaces the previous fault, so a retried
injection does no harm; a fault clears itself when its TTL expires (checked lazily on every
hooked request and by a background timer, so ``GET /inject-failure`` tells the truth).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from stack.common.errors import ApiError
from stack.common.timeutil import iso, utcnow

__all__ = ["ALLOWED_TYPES", "Fault", "FaultState", "InjectedFailure", "parse_fault"]

ALLOWED_TYPES = ("crash", "latency", "intermittent", "incorrect_response", "clear")
_ALLOWED_TEXT = ", ".join(ALLOWED_TYPES)
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
    rng: random.Random = field(repr=False, default_factory=random.Random)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "params": self.params,
            "ttl_s": self.ttl_s,
            "seed": self.seed,
            "injected_at": iso(self.injected_at),
            "expires_at": iso(self.expires_at),
        }


def _number(
    body: dict[str, Any], name: str, default: float, low: float, high: float | None
) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError(400, f"{name} must be a number")
    if value < low or (high is not None and value > high):
        bound = f"between {low:g} and {high:g}" if high is not None else f">= {low:g}"
        raise ApiError(400, f"{name} must be {bound}")
    return float(value)


def parse_fault(body: Any, default_ttl_s: float) -> tuple[str, dict[str, Any], float, int | None]:
    """Validate an injection body: (type, params, ttl_s, seed). Raises ApiError(400)."""
    if not isinstance(body, dict) or "type" not in body:
        raise ApiError(400, f"body must be a JSON object with a 'type', one of: {_ALLOWED_TEXT}")
    kind = body["type"]
    if kind not in ALLOWED_TYPES:
        raise ApiError(400, f"unknown failure type {kind!r}; allowed types: {_ALLOWED_TEXT}")
    params: dict[str, Any] = {}
    if kind == "latency":
        params["latency_ms"] = _number(body, "latency_ms", 1000, 0, None)
    elif kind == "intermittent":
        params["probability"] = _number(body, "probability", 0.5, 0, 1)
    elif kind == "incorrect_response":
        product_id = body.get("product_id", "PROD-001")
        if not isinstance(product_id, str) or not product_id:
            raise ApiError(400, "product_id must be a non-empty string")
        params["product_id"] = product_id
    ttl_s = _number(body, "ttl_s", default_ttl_s, 0.001, None) if "ttl_s" in body else default_ttl_s
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ApiError(400, "seed must be an integer")
    return kind, params, ttl_s, seed


class FaultState:
    """The fault in force in this replica, if any."""

    def __init__(self) -> None:
        self._fault: Fault | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def current(self) -> Fault | None:
        self.expire()
        return self._fault

    def set(self, kind: str, params: dict[str, Any], ttl_s: float, seed: int | None) -> Fault:
        """Replace any fault by this one (clear then set)."""
        self.clear()
        now = utcnow()
        fault = Fault(
            kind, params, ttl_s, seed, now, now + timedelta(seconds=ttl_s), random.Random(seed)
        )
        self._fault = fault
        try:
            self._timer = asyncio.get_running_loop().call_later(ttl_s, self.expire)
        except RuntimeError:  # no loop (unit use): lazy expiry still applies
            self._timer = None
        return fault

    def clear(self) -> bool:
        """Remove the fault; returns whether there was one ("already clear" is success)."""
        had = self._fault is not None
        self._fault = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return had

    def expire(self) -> None:
        if self._fault is not None and utcnow() >= self._fault.expires_at:
            self.clear()

    async def hook(self) -> None:
        """Apply the fault to a hooked request or event: sleep, or raise InjectedFailure."""
        fault = self.current
        if fault is None:
            return
        if fault.type == "latency":
            latency_ms = fault.params["latency_ms"]
            await asyncio.sleep(fault.rng.uniform(0.8 * latency_ms, 1.2 * latency_ms) / 1000.0)
        elif fault.type == "intermittent" and fault.rng.random() < fault.params["probability"]:
            raise InjectedFailure("injected intermittent failure")

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
