"""Replicas take order events in ticks of the wall clock, and the orders outbox publishes
them at a bounded rate (``stack.common.ticks``).

Why it matters: the local broker's cost of every fetch that returns records grows with the
record batches it stores, and a replica that fetched each event as it landed published one
batch of results per event (and the outbox a batch per order), so the broker's CPU
climbed all through a nightly (BENCHMARKS.md, "Why the broker grows"). With ticks a
replica fetches, and publishes results, at most once per tick whatever the event rate,
and the outbox adds at most its rate of batches a second to the log. The outbox is not
paced by ticks: writes wait on it, and a tick made every write wait up to 0.1 s.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from stack.common.ticks import Pacer, Ticks
from stack_helpers import wait_consistent, wait_until

from inventory_system import stack_ports

EVENTS = 40
SPACING_S = 0.01  # an event every 10 ms: ten land in each tick
TICK_S = 0.1  # the stack's default KAFKA_TICK_S
OUTBOX_RATE = 20.0  # the stack's default KAFKA_OUTBOX_RATE (drains a second)
OUTBOX_BURST = 5  # stack.orders.app's Pacer burst


def _events(http, stack, replica):
    return http.get(f"{stack.urls.replica(replica)}/health", timeout=10).json()["events"]


async def _produce_spaced(bootstrap: str) -> float:
    """Cancels of orders nobody placed (a replica applies them as no-ops), one every
    SPACING_S, each acknowledged before the next is due; the span they landed in."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    try:
        first = time.monotonic()
        for i in range(EVENTS):
            await asyncio.sleep(max(0.0, first + i * SPACING_S - time.monotonic()))
            event = {"order_id": f"tick-test-{uuid.uuid4()}", "action": "cancel",
                     "timestamp": "2026-01-01T00:00:00Z", "service": "orders-svc"}
            await producer.send_and_wait("order-events", json.dumps(event).encode())
        return time.monotonic() - first
    finally:
        await producer.stop()


def test_ticks_fall_on_multiples_of_the_wall_clock():
    ticks = Ticks(0.1)
    assert ticks.delay(100.0) == pytest.approx(0.1)
    assert ticks.delay(100.01) == pytest.approx(0.09)
    assert ticks.delay(100.099) == pytest.approx(0.001)
    assert Ticks(0).delay(100.01) == 0.0  # 0: fetch as soon as records land
    for bad in (-0.1, math.inf, math.nan):
        with pytest.raises(ValueError):
            Ticks(bad)


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_pacer_lets_a_burst_through_at_once_then_holds_its_rate():
    clock = _Clock()
    pacer = Pacer(20.0, burst=5, clock=clock)
    for _ in range(5):  # a quiet outbox: the first five drains wait for nothing
        assert pacer.delay() == 0.0
        pacer.spend()
    assert pacer.delay() == pytest.approx(0.05)  # then one every 1/20 s
    clock.now += 0.05
    assert pacer.delay() == pytest.approx(0.0, abs=1e-9)
    pacer.spend()
    clock.now += 0.01
    assert pacer.delay() == pytest.approx(0.04)
    clock.now += 10.0  # a quiet spell refills the bucket, never beyond its burst
    for _ in range(5):
        assert pacer.delay() == 0.0
        pacer.spend()
    assert pacer.delay() > 0
    assert Pacer(0).delay() == 0.0  # 0: no limit
    for bad in (-1.0, math.inf, math.nan):
        with pytest.raises(ValueError):
            Pacer(bad)
    with pytest.raises(ValueError):
        Pacer(1.0, burst=0)


def test_a_replica_fetches_at_most_once_per_tick_however_fast_events_come(clean_faults, http):
    stack = clean_faults
    replicas = ("1", "2", "3")
    before = {r: _events(http, stack, r) for r in replicas}
    kafka = stack_ports(stack.settings.base_port)["kafka"]
    span = asyncio.run(_produce_spaced(f"127.0.0.1:{kafka}"))
    end = max(b["log_end_offset"] or 0 for b in before.values()) + EVENTS
    wait_until(lambda: all(_events(http, stack, r)["applied_offset"] >= end for r in replicas),
               timeout_s=20, what="every replica applied the events")
    for replica in replicas:
        fetches = _events(http, stack, replica)["fetches"] - before[replica]["fetches"]
        # one fetch per tick boundary in the span the events landed in, plus the first
        # (taken at once after a quiet spell) and the ticks after the last: aiokafka has
        # already fetched what a tick takes, so the last event is applied up to 2 ticks late
        assert 1 <= fetches <= span / TICK_S + 4, (
            f"replica {replica}: {fetches} fetches for {EVENTS} events landing in {span:.2f} s")


async def _post_spaced(url: str) -> tuple[list[int], float]:
    """EVENTS orders, one every SPACING_S whatever the answers: statuses, and the span from
    the first sent to the last answered."""
    async with httpx.AsyncClient(timeout=10) as client:
        start = time.monotonic()

        async def post(i: int) -> int:  # a 201 means its event is in the log
            await asyncio.sleep(max(0.0, start + i * SPACING_S - time.monotonic()))
            answer = await client.post(f"{url}/orders",
                                       json={"product_id": "PROD-003", "quantity": 1})
            return answer.status_code

        statuses = await asyncio.gather(*(post(i) for i in range(EVENTS)))
        return list(statuses), time.monotonic() - start


def test_the_outbox_publishes_at_most_its_rate_however_fast_orders_come(clean_faults, http):
    stack = clean_faults
    before = http.get(f"{stack.urls.orders}/health", timeout=10).json()["outbox"]
    statuses, span = asyncio.run(_post_spaced(stack.urls.orders))
    assert statuses == [201] * EVENTS
    after = http.get(f"{stack.urls.orders}/health", timeout=10).json()["outbox"]
    assert after["published"] - before["published"] == EVENTS
    drains = after["drains"] - before["drains"]
    # orders come at 100/s: a burst of drains at once, then OUTBOX_RATE a second (with
    # KAFKA_OUTBOX_RATE=0, no pacing, 33 drains in 0.40 s: this fails)
    assert 1 <= drains <= span * OUTBOX_RATE + OUTBOX_BURST + 1, (
        f"{drains} drains for {EVENTS} orders answered within {span:.2f} s")
    wait_consistent(http, stack)
