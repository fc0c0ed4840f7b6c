"""How late a service's event loop runs its callbacks: the gauge of a starved process.

A task sleeps ``interval_s`` again and again and records how much later than asked it
woke up. A healthy loop wakes within a millisecond or two; a loop with a backlog of ready
callbacks (or a process the kernel does not schedule) wakes late by that backlog, and
every request it serves waits as long. Served by the voter's ``/voting-stats``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

__all__ = ["LoopLag"]


class LoopLag:
    def __init__(self, interval_s: float = 0.05, window: int = 200) -> None:
        self.interval_s = interval_s
        self._samples: deque[float] = deque(maxlen=window)  # lag of the last wake-ups, s
        self.max_s = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(self.interval_s)
            lag = max(0.0, time.perf_counter() - start - self.interval_s)
            self._samples.append(lag)
            self.max_s = max(self.max_s, lag)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def to_json(self) -> dict[str, Any]:
        """Lag in ms: the latest wake-up, the recent window's p99 and max, the all-time max."""
        recent = sorted(self._samples)

        def ms(seconds: float | None) -> float | None:
            return None if seconds is None else round(seconds * 1000.0, 2)

        return {
            "last_ms": ms(self._samples[-1] if recent else None),
            "recent_p99_ms": ms(recent[int(0.99 * (len(recent) - 1))] if recent else None),
            "recent_max_ms": ms(recent[-1] if recent else None),
            "max_ms": ms(self.max_s),
            "window_s": round(self.interval_s * len(recent), 1),
        }
