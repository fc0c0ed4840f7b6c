"""No order lost when orders-svc dies: kill -9 while committed orders wait for their events.

Every order whose transaction committed has its event in the outbox; the restarted
service publishes what is left, so no order stays PENDING and every replica ends equal to
the ledger (an event published twice is applied once).

The kill must land while orders are committed but not yet published. Writes are fast, so a
kill timed by polling the database raced the answers (once every order was answered
before it landed). The broker is stopped (SIGSTOP) instead: orders still commit, their
events cannot be published, so their clients wait (up to the route's publish wait) and the
kill is certain to cut them off with their events in the outbox.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import httpx
import psycopg
import pytest
from stack_helpers import wait_consistent, wait_until

pytestmark = pytest.mark.slow

ORDERS = 300


def _orders_in_db(stack) -> int:
    port = stack.settings.base_port + 7
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/experimento") as conn:
        return conn.execute("SELECT count(*) FROM orders").fetchone()[0]


def _service_pid(stack, name: str) -> int | None:
    return next((s.pid for s in stack.target.status().services if s.name == name), None)


async def _place(client: httpx.AsyncClient, url: str, count: int
                 ) -> list[asyncio.Task[httpx.Response | Exception]]:
    async def one(i: int) -> httpx.Response | Exception:
        try:
            return await client.post(f"{url}/orders", json={
                "product_id": ("PROD-001", "PROD-002", "PROD-003")[i % 3], "quantity": 1})
        except httpx.HTTPError as exc:
            return exc

    return [asyncio.create_task(one(i)) for i in range(count)]


async def _place_all(stack, broker_pid: int, kill) -> tuple[list[httpx.Response | Exception],
                                                            list[httpx.Response | Exception]]:
    """A sixth of the orders answered normally; then, with the broker stopped, the rest
    sent and the kill landed once a sixth of all orders is committed unpublished."""
    url = stack.urls.orders
    limits = httpx.Limits(max_connections=ORDERS, max_keepalive_connections=ORDERS)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        answered = await asyncio.gather(*await _place(client, url, ORDERS // 6))
        before = _orders_in_db(stack)
        os.kill(broker_pid, signal.SIGSTOP)
        try:
            tasks = await _place(client, url, ORDERS - ORDERS // 6)
            while await asyncio.to_thread(_orders_in_db, stack) - before < ORDERS // 6:
                await asyncio.sleep(0.005)
            still_open = sum(not t.done() for t in tasks)
            assert still_open, "orders were answered while the broker was stopped"
            kill()
        finally:
            os.kill(broker_pid, signal.SIGCONT)
        return answered, await asyncio.gather(*tasks)


def test_kill_9_of_orders_mid_load_loses_no_order(http, clean_faults):
    stack = clean_faults
    wait_consistent(http, stack)
    old_pid = _service_pid(stack, "orders")
    broker_pid = _service_pid(stack, "kafka")
    assert old_pid and broker_pid
    before = _orders_in_db(stack)
    answered, cut = asyncio.run(_place_all(stack, broker_pid,
                                           lambda: os.kill(old_pid, signal.SIGKILL)))
    created = [r.json()["order_id"] for r in answered
               if isinstance(r, httpx.Response) and r.status_code == 201]
    assert len(created) == ORDERS // 6
    cut_off = [r for r in cut if not isinstance(r, httpx.Response)]
    assert cut_off, "the kill did not land while orders were open"
    # The supervisor restarts it, like a container restart policy.
    wait_until(lambda: _service_pid(stack, "orders") not in (None, old_pid)
               and http.get(f"{stack.urls.orders}/health").status_code == 200,
               timeout_s=60, what="orders-svc back")
    time.sleep(0.5)
    # No order stays PENDING (the relay of the new process published what the killed one
    # left in the outbox) and every replica equals the ledger, which counts every order
    # stored: those answered and those committed unanswered.
    replicas = wait_consistent(http, stack, timeout_s=60)
    assert replicas["1"] == replicas["2"] == replicas["3"]
    assert _orders_in_db(stack) - before >= 2 * (ORDERS // 6)
    for order_id in created:  # every order a client was told about was processed
        status = http.get(f"{stack.urls.orders}/orders/{order_id}").json()["status"]
        assert status in ("CONFIRMED", "REJECTED"), (order_id, status)
