"""The replica's event loop: read order-events, apply each once, publish results, commit.

Offsets are committed only after the event's DB transaction commits; an event that fails
(an injected intermittent fault with ``"events": true``, Postgres away) is retried, never
skipped. :meth:`EventConsumer.progress` says how far behind the log this replica is.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaProducer
from psycopg_pool import AsyncConnectionPool

from stack.common.kafka import (
    ERROR_QUEUE,
    INVENTORY_RESULTS,
    ORDER_EVENTS,
    decode,
    encode,
    start_consumer,
)
from stack.common.tasks import cancel_and_wait
from stack.common.timeutil import now_iso
from stack.inventory.faults import FaultState
from stack.inventory.state import Outcome, apply_event

__all__ = ["EventConsumer"]

log = logging.getLogger("stack.inventory.consumer")

SERVICE = "inventory-svc"
RETRY_DELAY_S = 0.1
MAX_RETRY_DELAY_S = 1.0


class EventConsumer:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        producer: AIOKafkaProducer,
        bootstrap: str,
        instance_id: str,
        faults: FaultState,
    ) -> None:
        self.pool = pool
        self.producer = producer
        self.bootstrap = bootstrap
        self.instance_id = instance_id
        self.faults = faults
        self.processed = 0
        #: Offset of the next event to apply: every event before it is applied.
        self.next_offset: int | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        group = f"inventory-group-{self.instance_id}"
        self._consumer, self._partition = await start_consumer(self.bootstrap, ORDER_EVENTS, group)
        self.next_offset = await self._consumer.position(self._partition)
        self._task = asyncio.create_task(self._run())

    def progress(self) -> dict[str, int | None]:
        """Where this replica is in the order-event log: the next offset to apply, the log's
        end as of the last fetch, and the difference (events not yet applied)."""
        end = self._consumer.highwater(self._partition) if self.next_offset is not None else None
        lag = max(0, end - self.next_offset) if end is not None and self.next_offset is not None \
            else None
        return {"applied_offset": self.next_offset, "log_end_offset": end, "lag": lag}

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        await self._consumer.stop()

    async def _run(self) -> None:
        while True:
            try:
                batch = await self._consumer.getmany(
                    self._partition, timeout_ms=200, max_records=200
                )
            except Exception as exc:
                log.warning("fetch failed: %s", exc)
                await asyncio.sleep(RETRY_DELAY_S)
                continue
            last_offset = None
            for message in batch.get(self._partition, []):
                await self._handle(decode(message.value))
                last_offset = message.offset
                self.next_offset = message.offset + 1
            if last_offset is not None:
                await self._commit(last_offset + 1)

    async def _commit(self, offset: int) -> None:
        while True:
            try:
                await self._consumer.commit({self._partition: offset})
                return
            except Exception as exc:
                log.warning("offset commit failed, retrying: %s", exc)
                await asyncio.sleep(RETRY_DELAY_S)

    async def _handle(self, event: dict[str, Any] | None) -> None:
        if event is None:
            await self._publish_error("undecodable order event skipped", {})
            return
        delay = RETRY_DELAY_S
        while True:
            try:
                await self.faults.hook(event=True)
                outcome = await apply_event(self.pool, self.instance_id, event)
                if outcome is not None:
                    await self._publish_result(outcome)
                self.processed += 1
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("event %s failed, will retry: %s", event.get("order_id"), exc)
                await self._publish_error(str(exc), event)
                # Back off so a long fault does not flood error-queue; a back-off never
                # outlives the fault that caused it (it ends when the fault ends).
                await self.faults.pause(delay)
                delay = min(MAX_RETRY_DELAY_S, delay * 2)

    async def _publish_result(self, outcome: Outcome) -> None:
        payload = {
            "order_id": outcome.order_id,
            "product_id": outcome.product_id,
            "quantity": outcome.quantity,
            "action": f"{outcome.action}_result",
            "success": outcome.success,
            "instance_id": self.instance_id,
            "timestamp": now_iso(),
        }
        await self.producer.send_and_wait(
            INVENTORY_RESULTS, encode(payload), key=outcome.order_id.encode()
        )

    async def _publish_error(self, error: str, event: dict[str, Any]) -> None:
        payload = {
            "error": error,
            "service": SERVICE,
            "instance_id": self.instance_id,
            "order_id": event.get("order_id"),
            "action": event.get("action"),
            "timestamp": now_iso(),
        }
        try:
            await self.producer.send_and_wait(ERROR_QUEUE, encode(payload))
        except Exception as exc:  # the error queue is best effort
            log.warning("could not publish to %s: %s", ERROR_QUEUE, exc)
