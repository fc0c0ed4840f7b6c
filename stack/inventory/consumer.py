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
from stack.common.ticks import Ticks
from stack.common.timeutil import now_iso
from stack.inventory.faults import FaultState
from stack.inventory.state import Mirror, Outcome, apply_event, apply_events

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
        mirror: Mirror | None = None,
        ticks: Ticks | None = None,
    ) -> None:
        self.pool = pool
        self.ticks = ticks or Ticks(0)
        self.mirror = mirror
        self.producer = producer
        self.bootstrap = bootstrap
        self.instance_id = instance_id
        self.faults = faults
        self.processed = 0
        self.fetches = 0  # fetches that returned events (each: one batch of results)
        #: Offset of the next event to apply: every event before it is applied.
        self.next_offset: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._advanced = asyncio.Event()  # set (and replaced) whenever next_offset moves

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
        return {"applied_offset": self.next_offset, "log_end_offset": end, "lag": lag,
                "fetches": self.fetches}

    async def reach(self, offset: int, timeout_s: float) -> bool:
        """Wait until every event before ``offset`` is applied, at most ``timeout_s``;
        whether it was. A read after it holds those events (the voter's lag-aware re-ask)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.next_offset is None or self.next_offset < offset:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                async with asyncio.timeout(remaining):
                    await self._advanced.wait()
            except TimeoutError:
                return False
        return True

    async def _committed(self, offset: int, first: int | None = None,
                         outcomes: list[Outcome | None] | None = None) -> None:
        """Events up to ``offset`` are committed (from ``first``, with ``outcomes``): the
        mirror keeps the rows they left and reloads them, then reads may say so. A failed
        reload leaves reads on Postgres (correct, slower) until the next one succeeds."""
        if self.mirror is not None:
            try:
                if first is not None and outcomes is not None:
                    self.mirror.record(first, outcomes)
                await self.mirror.reload(self.pool)
                if not self.mirror.check():
                    log.warning("the read mirror's versions disagreed with Postgres after "
                                "event %s: forgotten", offset)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("could not reload the read mirror, reads query Postgres: %s", exc)
        self._applied(offset)

    def _applied(self, offset: int) -> None:
        self.next_offset = offset + 1
        self._advanced.set()
        self._advanced = asyncio.Event()

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
            messages = batch.get(self._partition, [])
            if not messages:
                continue
            self.fetches += 1
            sent: list[tuple[Outcome, asyncio.Future[Any]]] = []
            if not await self._apply_batch(messages, sent):
                for message in messages:  # one by one, each retried until it is applied
                    await self._handle(decode(message.value), message.offset, sent)
            # Results go out pipelined (one broker round trip per batch, not per event);
            # the offset is committed once the broker has them all.
            await self._flush(sent)
            await self._commit(messages[-1].offset + 1)
            await self.ticks.wait()  # what lands meanwhile is taken together (stack.common.ticks)

    async def _apply_batch(
        self, messages: list[Any], sent: list[tuple[Outcome, asyncio.Future[Any]]]
    ) -> bool:
        """Apply a whole fetch in one transaction and one round trip (the replica used to
        spend ~6 round trips and a broker ack per event, and fell hundreds of events
        behind at 60 events/s on a busy machine). False, with nothing applied, when a
        fault hooks events (applied one by one, so that it acts on each) or the batch
        failed (then each event is retried on its own, as before)."""
        fault = self.faults.current
        if fault is not None and fault.events:
            return False
        events = [decode(m.value) for m in messages]
        if any(e is None for e in events):
            return False
        try:
            outcomes = await apply_events(
                self.pool, self.instance_id, events, messages[-1].offset + 1  # type: ignore[arg-type]
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("batch of %d events failed, applying one by one: %s", len(events), exc)
            return False
        await self._committed(messages[-1].offset, messages[0].offset, outcomes)
        for outcome in outcomes:
            if outcome is not None:
                sent.append((outcome, await self._publish_result(outcome)))
        self.processed += len(events)
        return True

    async def _flush(self, sent: list[tuple[Outcome, asyncio.Future[Any]]]) -> None:
        """Wait for the batch's results; one the broker refused is sent again until it
        is taken (as a failed send used to retry its event): a result is never lost."""
        acks = await asyncio.gather(*(f for _, f in sent), return_exceptions=True)
        for (outcome, _), ack in zip(sent, acks, strict=True):
            delay = RETRY_DELAY_S
            while isinstance(ack, Exception):
                log.info("result of %s not acknowledged, sending again: %s",
                         outcome.order_id, ack)
                await asyncio.sleep(delay)
                delay = min(MAX_RETRY_DELAY_S, delay * 2)
                try:
                    ack = await (await self._publish_result(outcome))
                except Exception as exc:
                    ack = exc

    async def _commit(self, offset: int) -> None:
        while True:
            try:
                await self._consumer.commit({self._partition: offset})
                return
            except Exception as exc:
                log.warning("offset commit failed, retrying: %s", exc)
                await asyncio.sleep(RETRY_DELAY_S)

    async def _handle(
        self,
        event: dict[str, Any] | None,
        offset: int,
        sent: list[tuple[Outcome, asyncio.Future[Any]]],
    ) -> None:
        if event is None:
            await self._publish_error("undecodable order event skipped", {})
            self._applied(offset)
            return
        delay = RETRY_DELAY_S
        while True:
            try:
                await self.faults.hook(event=True)
                outcome = await apply_event(self.pool, self.instance_id, event, offset + 1)
                await self._committed(offset, offset, [outcome])  # reads now see it
                if outcome is not None:
                    sent.append((outcome, await self._publish_result(outcome)))
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

    async def _publish_result(self, outcome: Outcome) -> asyncio.Future[Any]:
        """Queue the result in the producer; the future is its acknowledgement."""
        payload = {
            "order_id": outcome.order_id,
            "product_id": outcome.product_id,
            "quantity": outcome.quantity,
            "action": f"{outcome.action}_result",
            "success": outcome.success,
            "instance_id": self.instance_id,
            "timestamp": now_iso(),
        }
        return await self.producer.send(
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
