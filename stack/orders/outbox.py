"""The transactional outbox: an order's event is stored with the order, published after.

An order used to be inserted, then its reserve event published: a ``kill -9`` between the
two left the order PENDING forever with no event, and every replica disagreeing with the
ledger from then on. Now the route writes the event into ``order_outbox`` in the *same*
statement as the order or the cancel (:mod:`stack.orders.writes`), and one relay
publishes the outbox in id order and deletes what the broker acknowledged. After a crash
the relay of the next process publishes whatever is left; an event published twice
(crash after the broker's ack, before the delete) is applied once, since replicas and the
results consumer are idempotent by order id and action.

Order is kept per order: a cancel is written after its order's reserve committed, so it
always has a larger id and is published after it. One relay at a time: it works on its
own connection, which holds a session advisory lock for as long as it lives (a killed
process's connection closes with it, and the lock with the connection). Each batch costs
two statements (select, delete) besides the broker's acknowledgement.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

import psycopg
from aiokafka import AIOKafkaProducer
from psycopg.rows import dict_row

from stack.common.kafka import ORDER_EVENTS
from stack.common.tasks import cancel_and_wait
from stack.common.ticks import Pacer

__all__ = ["Outbox", "OUTBOX_LOCK_ID"]

log = logging.getLogger("stack.orders.outbox")

#: pg_advisory_lock key the relay's connection holds: one relay at a time.
OUTBOX_LOCK_ID = 72_001_002
BATCH = 500
POLL_S = 1.0
RETRY_S = 0.5
_REMEMBER = 50_000  # ids of recently published rows, for deliver()


class Outbox:
    def __init__(self, database_url: str, producer: AIOKafkaProducer,
                 pacer: Pacer | None = None) -> None:
        self.database_url = database_url
        self.producer = producer
        self.pacer = pacer or Pacer(0)
        self.published = 0
        self.drains = 0  # drains that published events (each: one batch in the log)
        self._wake = asyncio.Event()
        self._drained = asyncio.Condition()
        self._recent: set[int] = set()
        self._recent_order: deque[int] = deque()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def deliver(self, row_id: int, timeout_s: float) -> bool:
        """After the caller's commit: have the relay publish now, and wait up to
        ``timeout_s`` for it. False when not yet published (it will be: it is stored)."""
        self._wake.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        async with self._drained:
            while row_id not in self._recent:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._drained.wait(), remaining)
        return True

    async def _run(self) -> None:
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self.database_url, autocommit=True, row_factory=dict_row)
            except psycopg.Error as exc:
                log.warning("outbox relay cannot connect, retrying: %s", exc)
                await asyncio.sleep(RETRY_S)
                continue
            try:
                await conn.execute("SELECT pg_advisory_lock(%s)", (OUTBOX_LOCK_ID,))
                await self._relay(conn)
            except psycopg.OperationalError as exc:  # the connection is gone: a new one
                log.warning("outbox relay lost its connection, reconnecting: %s", exc)
                await asyncio.sleep(RETRY_S)
            finally:
                await conn.close()

    async def _relay(self, conn: psycopg.AsyncConnection) -> None:
        self._wake.set()  # publish what a previous process left behind, first thing
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_S)
            # over its rate, what is written meanwhile goes out together (stack.common.ticks)
            await self.pacer.wait()
            self._wake.clear()
            try:
                published = await self.drain(conn)
                if published:
                    self.pacer.spend()
                if published == BATCH:
                    self._wake.set()  # more waiting
            except (asyncio.CancelledError, psycopg.OperationalError):
                raise
            except Exception as exc:  # the broker is away: the rows stay, retry
                log.warning("outbox relay failed, retrying: %s", exc)
                await asyncio.sleep(RETRY_S)
                self._wake.set()

    async def drain(self, conn: psycopg.AsyncConnection) -> int:
        """Publish up to BATCH stored events in id order, then delete them; how many."""
        cur = await conn.execute(
            "SELECT id, order_id, payload FROM order_outbox ORDER BY id LIMIT %s", (BATCH,)
        )
        rows = await cur.fetchall()
        if not rows:
            return 0
        # Sent back to back: one partition, so the broker keeps them in this order.
        acks = [
            await self.producer.send(ORDER_EVENTS, r["payload"].encode(),
                                     key=r["order_id"].encode())
            for r in rows
        ]
        await asyncio.gather(*acks)
        ids = [r["id"] for r in rows]
        await conn.execute("DELETE FROM order_outbox WHERE id = ANY(%s)", (ids,))
        self.published += len(ids)
        self.drains += 1
        self._remember(ids)
        async with self._drained:
            self._drained.notify_all()
        return len(ids)

    def _remember(self, ids: list[int]) -> None:
        self._recent.update(ids)
        self._recent_order.extend(ids)
        while len(self._recent_order) > _REMEMBER:
            self._recent.discard(self._recent_order.popleft())
