"""Replicas take order events, and the orders outbox publishes them, in ticks of the wall
clock (``stack.common.ticks``).

Why it matters: the local broker's cost of every fetch that returns records grows with the
record batches it stores, and a replica that fetched each event as it landed published one
batch of results per event (and the outbox a batch per order), so the broker's CPU
climbed all through a nightly (BENCHMARKS.md, "Why the broker grows"). With ticks a
replica fetches, and publishes results, at most once per tick whatever the event rate,
and the outbox adds at most one batch per tick to the log.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from stack.common.ticks import Ticks
from stack_helpers import wait_consistent, wait_until

from gameday.targets.localplan import StackPorts

EVENTS = 40
SPACING_S = 0.01  # an event every 10 ms: ten land in each tick
TICK_S = 0.1  # the stack's default KAFKA_TICK_S


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


def test_a_replica_fetches_at_most_once_per_tick_however_fast_events_come(clean_faults, http):
    stack = clean_faults
    replicas = ("1", "2", "3")
    before = {r: _events(http, stack, r) for r in replicas}
    span = asyncio.run(_produce_spaced(f"127.0.0.1:{StackPorts(stack.settings.base_port).kafka}"))
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


def test_the_outbox_publishes_at_most_once_per_tick_however_fast_orders_come(clean_faults, http):
    stack = clean_faults
    before = http.get(f"{stack.urls.orders}/health", timeout=10).json()["outbox"]
    start = time.monotonic()

    def post(i: int) -> tuple[int, float]:  # a 201 means its event is in the log
        time.sleep(max(0.0, start + i * SPACING_S - time.monotonic()))
        with httpx.Client(timeout=10) as client:
            status = client.post(f"{stack.urls.orders}/orders",
                                 json={"product_id": "PROD-003", "quantity": 1}).status_code
        return status, time.monotonic()

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(post, range(EVENTS)))
    assert [status for status, _ in answers] == [201] * EVENTS
    span = max(t for _, t in answers) - start
    after = http.get(f"{stack.urls.orders}/health", timeout=10).json()["outbox"]
    assert after["published"] - before["published"] == EVENTS
    drains = after["drains"] - before["drains"]
    # the first order after a quiet spell goes at once, then one drain per tick boundary
    assert 1 <= drains <= span / TICK_S + 2, (
        f"{drains} drains for {EVENTS} orders answered within {span:.2f} s")
    wait_consistent(http, stack)
