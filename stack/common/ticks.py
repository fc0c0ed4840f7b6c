"""Consumers take the log, and the orders outbox feeds it, in ticks of the wall clock.

The local broker (Tansu's memory engine) pays for every fetch that returns records in
proportion to the record *batches* it stores, and every result a replica publishes after
a fetch is a new stored batch: a consumer that fetches as soon as each event lands makes
both grow with the event rate, and the broker's CPU climbs all through a long run
(BENCHMARKS.md, "Why the broker grows"). Waiting for the next tick before the next fetch
bounds a consumer to one fetch (and a replica to one batch of results) per tick whatever
the rate; the outbox likewise publishes what was written during a tick as one batch.
Ticks are multiples of the wall clock, so the three replicas take the same events at the
same moment and stay at the same offset, which the voter's reads rely on.

The first event after a quiet spell is still taken at once: a consumer waits for the
next tick only after a fetch that returned records (the outbox after a drain that
published). The price is latency: an event waits up to a tick (a ``POST /orders``, which
answers once its event is published, too).
"""

from __future__ import annotations

import asyncio
import math
import time

__all__ = ["Ticks"]


class Ticks:
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

    async def wait(self) -> None:
        delay = self.delay()
        if delay > 0:
            await asyncio.sleep(delay)
