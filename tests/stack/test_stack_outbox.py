"""No order lost when orders-svc dies: kill -9 in the middle of 300 concurrent orders.

Every order whose transaction committed has its event in the outbox; the restarted
service publishes what is left, so no order stays PENDING and every replica ends equal to
the ledger (an event published twice is applied once).
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


def _orders_pid(stack) -> int | None:
    return next((s.pid for s in stack.target.status().services if s.name == "orders"), None)


def _orders_in_db(stack) -> int:
    port = stack.settings.base_port + 7
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/experimento") as conn:
        return conn.execute("SELECT count(*) FROM orders").fetchone()[0]


async def _place_all(stack, kill) -> list[httpx.Response | Exception]:
    url = stack.urls.orders
    before = _orders_in_db(stack)
    limits = httpx.Limits(max_connections=ORDERS, max_keepalive_connections=ORDERS)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        async def one(i: int) -> httpx.Response | Exception:
            try:
                return await client.post(f"{url}/orders", json={
                    "product_id": ("PROD-001", "PROD-002", "PROD-003")[i % 3], "quantity": 1})
            except httpx.HTTPError as exc:
                return exc

        tasks = [asyncio.create_task(one(i)) for i in range(ORDERS)]
        # Mid-load: a sixth of the orders is stored, most of them not answered yet.
        while await asyncio.to_thread(_orders_in_db, stack) - before < ORDERS // 6:
            await asyncio.sleep(0.005)
        kill()
        return await asyncio.gather(*tasks)


def test_kill_9_of_orders_mid_load_loses_no_order(http, clean_faults):
    stack = clean_faults
    wait_consistent(http, stack)
    old_pid = _orders_pid(stack)
    before = _orders_in_db(stack)
    results = asyncio.run(_place_all(stack, lambda: os.kill(old_pid, signal.SIGKILL)))
    created = [r.json()["order_id"] for r in results
               if isinstance(r, httpx.Response) and r.status_code == 201]
    cut_off = [r for r in results if not isinstance(r, httpx.Response)]
    assert cut_off, "the kill did not land while orders were open"
    # The supervisor restarts it, like a container restart policy.
    wait_until(lambda: _orders_pid(stack) not in (None, old_pid)
               and http.get(f"{stack.urls.orders}/health").status_code == 200,
               timeout_s=60, what="orders-svc back")
    time.sleep(0.5)
    # No order stays PENDING (the relay of the new process published what was left) and
    # every replica equals the ledger, which counts every order stored.
    replicas = wait_consistent(http, stack, timeout_s=60)
    assert replicas["1"] == replicas["2"] == replicas["3"]
    assert _orders_in_db(stack) - before >= ORDERS // 6
    for order_id in created:  # every order a client was told about was processed
        status = http.get(f"{stack.urls.orders}/orders/{order_id}").json()["status"]
        assert status in ("CONFIRMED", "REJECTED"), (order_id, status)
