"""Consumers take the log in ticks of the wall clock; the orders outbox feeds it at a
bounded rate.

The local broker (Tansu's memory engine) pays for every fetch that returns records in
proportion to the record *batches* it stores, and every result a replica publishes after
a fetch is a new stored batch: a consumer that fetches as soon as each event lands makes
both grow with the event rate, and the broker's CPU climbs all through a long run
(BENCHMARKS.md, "Why the broker grows"). Waiting for the next tick before the next fetch
bounds a consumer to one fetch (and a replica to one batch of results) per tick whatever
the rate. Ticks are multiples of the wall clock, so the three replicas take the same
events at the same moment and stay at the same offset, which the voter's reads rely on.
The first event after a quiet spell is still taken at once: a consumer waits for the
next tick only after a fetch that returned records. No client waits on a consumer.

Clients do wait on the outbox: a ``POST /orders`` answers once its event is published.
Pacing the outbox by the same ticks made every write wait up to a tick even at 40 req/s,
where the broker gains little (p95 of writes ~100 ms against ~10). So the outbox is
paced by a :class:`Pacer` instead, a token bucket: up to ``burst`` drains at once, and
``rate`` drains a second on average. Below that rate a write goes out at once; above it,
what is written while the outbox waits for its next token goes out as one batch, so the
log gains at most ``rate`` batches a second however fast orders come.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

__all__ = ["Pacer", "Ticks"]


class _Waits:
    """``await wait()``: sleep for :meth:`delay` (the pacing each subclass computes)."""

    def delay(self) -> float:
        raise NotImplementedError

    async def wait(self) -> None:
        delay = self.delay()
        if delay > 0:
            await asyncio.sleep(delay)


class Ticks(_Waits):
    """Sleeps to the next multiple of ``interval_s`` of the epoch (0: never sleeps)."""

    def __init__(self, interval_s: float) -> None:
        if interval_s < 0 or not math.isfinite(interval_s):
            raise ValueError(f"a tick interval must be a finite number >= 0, got {interval_s}")
        self.interval_s = interval_s

    def delay(self, now: float | None = None) -> float:
        """Seconds from ``now`` (epoch; default: the clock) to the next tick."""
        if self.interval_s == 0:
            return 0.0
        now = time.time() if now is None else now
        return (math.floor(now / self.interval_s) + 1) * self.interval_s - now


class Pacer(_Waits):
    """A token bucket: ``rate_per_s`` on average, up to ``burst`` at once (0: no limit).

    :meth:`delay` says how long until a token is there; :meth:`spend` takes one (the
    caller spends after the work it paces, so an idle wake-up costs nothing)."""

    def __init__(self, rate_per_s: float, burst: int = 5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate_per_s < 0 or not math.isfinite(rate_per_s):
            raise ValueError(f"a rate must be a finite number >= 0, got {rate_per_s}")
        if burst < 1:
            raise ValueError(f"a burst must be at least 1, got {burst}")
        self.rate_per_s, self.burst, self._clock = rate_per_s, burst, clock
        self._tokens, self._at = float(burst), clock()

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate_per_s)
        self._at = now
        return self._tokens

    def delay(self) -> float:
        """Seconds until a token is there (0 now)."""
        if self.rate_per_s == 0:
            return 0.0
        return max(0.0, (1.0 - self._refill()) / self.rate_per_s)

    def spend(self) -> None:
        if self.rate_per_s:
            self._refill()
            self._tokens -= 1.0  # may go below 0 only if the caller did not wait: it pays later
