"""A background writer that batches INSERTs so recording never slows a request."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from psycopg_pool import AsyncConnectionPool

from stack.common.tasks import cancel_and_wait

__all__ = ["BatchWriter"]

log = logging.getLogger("stack.batch")


class BatchWriter:
    """Queue rows with :meth:`add` (never blocks); a task flushes them every ``interval_s``."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        sql: str,
        *,
        interval_s: float = 0.5,
        max_queue: int = 50_000,
    ) -> None:
        self._pool = pool
        self._sql = sql
        self._interval_s = interval_s
        self._max_queue = max_queue
        self._rows: list[Sequence[Any]] = []
        self._task: asyncio.Task[None] | None = None

    def add(self, row: Sequence[Any]) -> None:
        if len(self._rows) < self._max_queue:  # drop rather than grow without bound
            self._rows.append(row)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        await self.flush()

    async def flush(self) -> None:
        rows, self._rows = self._rows, []
        if not rows:
            return
        try:
            async with self._pool.connection() as conn, conn.cursor() as cur:
                await cur.executemany(self._sql, rows)
        except Exception as exc:
            log.warning("dropped %d rows: %s", len(rows), exc)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.flush()
