"""Reports to the monitor of replicas that answered wrongly or failed: fire-and-forget.

At most one report per (replica, reason) every ``min_interval_s``: the monitor counts a
report like one failed check, and it checks every 200 ms anyway. Reports carry the
stack's chaos token (the monitor requires it when the stack has one). Without this, a voter
under load whose requests time out would multiply its own traffic by reporting every one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx

from stack.common.auth import TOKEN_HEADER

__all__ = ["Reporter"]

log = logging.getLogger("stack.voter.reports")


class Reporter:
    def __init__(
        self, monitor_url: str, *, token: str | None = None, min_interval_s: float = 0.2
    ) -> None:
        self.url = f"{monitor_url}/reports"
        self.min_interval_s = min_interval_s
        self.sent = 0
        self.suppressed = 0
        self.refused = 0  # the monitor answered 4xx (e.g. 401: the chaos tokens differ)
        headers = {TOKEN_HEADER: token} if token else None
        self._client = httpx.AsyncClient(timeout=1.0, headers=headers)
        self._last: dict[tuple[str, str], float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, body: dict[str, Any]) -> None:
        """Queue ``body`` for POST /reports unless the same report went out just now."""
        key = (str(body["instance_id"]), str(body["reason"]))
        now = time.monotonic()
        if now - self._last.get(key, float("-inf")) < self.min_interval_s:
            self.suppressed += 1
            return
        self._last[key] = now
        self.sent += 1
        task = asyncio.create_task(self._post(body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, body: dict[str, Any]) -> None:
        try:
            response = await self._client.post(self.url, json=body)
        except httpx.HTTPError as exc:
            log.info("report to the monitor failed: %s", exc)
            return
        if 400 <= response.status_code < 500:
            self.refused += 1
            log.warning("the monitor refused a report (HTTP %s): %s", response.status_code,
                        response.text[:200])

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()
