"""Consume ``inventory-results``: two successes confirm an order, two failures reject it.

Each replica's result is stored once per (order, replica, action), so a result delivered
twice counts once. Only a PENDING order changes status. A fetch of results is recorded in
one transaction and one round trip (:func:`record_results`; one transaction of three
statements per result cost ~9 round trips per order); when that fails, each result is
recorded on its own and retried, as before.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from psycopg_pool import AsyncConnectionPool

from stack.common.kafka import INVENTORY_RESULTS, decode, start_consumer
from stack.common.tasks import cancel_and_wait
from stack.common.ticks import Ticks

__all__ = ["ResultsConsumer", "record_result", "record_results", "QUORUM"]

log = logging.getLogger("stack.orders.results")

QUORUM = 2
GROUP_ID = "orders-svc"


async def record_result(pool: AsyncConnectionPool, result: dict[str, Any]) -> str | None:
    """Store one replica's reserve result; return the order's new status if it changed."""
    order_id, instance_id = result.get("order_id"), result.get("instance_id")
    if result.get("action") != "reserve_result" or not order_id or instance_id is None:
        return None
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO order_results (order_id, instance_id, action, success)"
            " VALUES (%s, %s, 'reserve', %s) ON CONFLICT DO NOTHING",
            (str(order_id), str(instance_id), bool(result.get("success"))),
        )
        cur = await conn.execute(
            "SELECT count(*) FILTER (WHERE success) AS ok,"
            " count(*) FILTER (WHERE NOT success) AS ko"
            " FROM order_results WHERE order_id = %s AND action = 'reserve'",
            (str(order_id),),
        )
        counts = await cur.fetchone()
        status = (
            "CONFIRMED"
            if counts["ok"] >= QUORUM
            else "REJECTED"
            if counts["ko"] >= QUORUM
            else None
        )
        if status is None:
            return None
        cur = await conn.execute(
            "UPDATE orders SET status = %s, updated_at = now()"
            " WHERE order_id = %s AND status = 'PENDING'",
            (status, str(order_id)),
        )
        return status if cur.rowcount else None


_INSERT_MANY = (
    "INSERT INTO order_results (order_id, instance_id, action, success)"
    " SELECT o, i, 'reserve', s FROM unnest(%s::text[], %s::text[], %s::bool[]) AS r(o, i, s)"
    " ON CONFLICT DO NOTHING"
)
_DECIDE_MANY = (
    "UPDATE orders SET status = CASE WHEN c.ok >= %(quorum)s THEN 'CONFIRMED'"
    " ELSE 'REJECTED' END, updated_at = now()"
    " FROM (SELECT order_id, count(*) FILTER (WHERE success) AS ok,"
    "              count(*) FILTER (WHERE NOT success) AS ko"
    "       FROM order_results WHERE order_id = ANY(%(ids)s) AND action = 'reserve'"
    "       GROUP BY order_id) AS c"
    " WHERE orders.order_id = c.order_id AND orders.status = 'PENDING'"
    "   AND (c.ok >= %(quorum)s OR c.ko >= %(quorum)s)"
    " RETURNING orders.order_id, orders.status"
)


def _reserve_result(result: dict[str, Any]) -> tuple[str, str, bool] | None:
    order_id, instance_id = result.get("order_id"), result.get("instance_id")
    if result.get("action") != "reserve_result" or not order_id or instance_id is None:
        return None
    return str(order_id), str(instance_id), bool(result.get("success"))


async def record_results(pool: AsyncConnectionPool, results: list[dict[str, Any]]
                         ) -> dict[str, str]:
    """Store a batch of replicas' reserve results in one transaction; return the orders
    whose status changed, with their new status."""
    rows = [r for r in map(_reserve_result, results) if r is not None]
    if not rows:
        return {}
    orders, instances, successes = (list(col) for col in zip(*rows, strict=True))
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(_INSERT_MANY, (orders, instances, successes))
        cur = await conn.execute(_DECIDE_MANY, {"quorum": QUORUM,
                                                "ids": sorted(set(orders))})
        return {row["order_id"]: row["status"] for row in await cur.fetchall()}


class ResultsConsumer:
    def __init__(self, pool: AsyncConnectionPool, bootstrap: str,
                 ticks: Ticks | None = None) -> None:
        self.pool = pool
        self.bootstrap = bootstrap
        self.ticks = ticks or Ticks(0)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._consumer, self._partition = await start_consumer(
            self.bootstrap, INVENTORY_RESULTS, GROUP_ID
        )
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        await self._consumer.stop()

    async def _run(self) -> None:
        while True:
            try:
                batch = await self._consumer.getmany(
                    self._partition, timeout_ms=200, max_records=500
                )
                messages = batch.get(self._partition, [])
                results = [r for r in (decode(m.value) for m in messages) if r is not None]
                if results and not await self._record_batch(results):
                    for result in results:
                        await self._record(result)
                if messages:
                    await self._consumer.commit({self._partition: messages[-1].offset + 1})
                    await self.ticks.wait()  # one fetch per tick (stack.common.ticks)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("results loop error, retrying: %s", exc)
                await asyncio.sleep(0.2)

    async def _record_batch(self, results: list[dict[str, Any]]) -> bool:
        try:
            await record_results(self.pool, results)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("batch of %d results failed, recording one by one: %s", len(results), exc)
            return False
        return True

    async def _record(self, result: dict[str, Any]) -> None:
        while True:
            try:
                await record_result(self.pool, result)
                return
            except Exception as exc:
                log.warning("could not record result, retrying: %s", exc)
                await asyncio.sleep(0.2)
