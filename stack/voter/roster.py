"""Which replicas the monitor holds OFF, followed by polling its ``GET /status``.

The voter asks an OFF replica only when the others cannot settle a vote alone (one of
them failed, or they disagree and no lag explains it): a replica answering 800 ms late
costs the voter a request, a connection and a 0.3 s timer per vote, and the monitor has
already found it. An OFF replica is still asked when needed, so a false OFF never costs
a quorum, and it is still reported on (``skipped_instances`` in each answer; the monitor
goes on checking it and brings it back ON).

When the monitor does not answer, the roster forgets what it knew after ``stale_s``: an
unknown replica is asked like any other.
"""

from __future__ import annotations

import asyncio
import logging
import time

from stack.common.http1 import Http1Client, Http1Error

__all__ = ["Roster"]

log = logging.getLogger("stack.voter.roster")


class Roster:
    def __init__(
        self, monitor_url: str, *, interval_s: float = 0.2, stale_s: float = 1.0
    ) -> None:
        self.interval_s = interval_s
        self.stale_s = stale_s
        self._client = Http1Client(monitor_url, timeout_s=0.5)
        self._off: frozenset[str] = frozenset()
        self._at = float("-inf")
        self._task: asyncio.Task[None] | None = None
        self.polls_failed = 0

    @property
    def off(self) -> frozenset[str]:
        """Replica ids the monitor said were OFF in its latest answer (empty when stale)."""
        return self._off if time.monotonic() - self._at < self.stale_s else frozenset()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self.poll()
            await asyncio.sleep(self.interval_s)

    async def poll(self) -> None:
        try:
            response = await self._client.get("/status")
            instances = response.json()["instances"] if response.status_code == 200 else None
            off = frozenset(
                str(i["instance_id"]) for i in instances or () if i.get("status") == "OFF"
            )
        except (TimeoutError, Http1Error, ValueError, KeyError, TypeError) as exc:
            self.polls_failed += 1
            log.debug("monitor status unavailable: %s", exc)
            return
        if instances is None:
            self.polls_failed += 1
            return
        self._off, self._at = off, time.monotonic()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._client.aclose()
