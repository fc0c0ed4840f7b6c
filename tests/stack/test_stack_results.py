"""The orders service records the replicas' reserve results a whole fetch at a time
(stack/orders/results.py): two successes confirm an order, two failures reject it, a
result delivered twice counts once, only a PENDING order changes. Against the local
stack's real Postgres."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from stack.orders.results import record_results


def _url(stack) -> str:
    return f"postgresql://postgres@127.0.0.1:{stack.settings.base_port + 7}/experimento"


@pytest.fixture
def order_ids(local_stack) -> Iterator[dict[str, str]]:
    """Ids of orders this test writes straight into the table; removed afterwards (the
    replicas never hear of them, so left behind they would break the ledger's agreement
    with the replicas for every later test)."""
    ids = {name: f"test-{name}-{uuid.uuid4().hex[:8]}" for name in
           ("confirmed", "rejected", "undecided", "already")}
    try:
        yield ids
    finally:
        written = (list(ids.values()),)
        with psycopg.connect(_url(local_stack), autocommit=True) as conn:
            conn.execute("DELETE FROM order_results WHERE order_id = ANY(%s)", written)
            conn.execute("DELETE FROM orders WHERE order_id = ANY(%s)", written)


def test_a_batch_of_results_decides_each_order_once(local_stack, order_ids) -> None:
    ids = order_ids
    with psycopg.connect(_url(local_stack), autocommit=True) as conn:
        for name, order_id in ids.items():
            conn.execute("INSERT INTO orders (order_id, product_id, quantity, status)"
                         " VALUES (%s, 'PROD-001', 1, %s)",
                         (order_id, "CANCELLED" if name == "already" else "PENDING"))

    def result(name: str, replica: str, ok: bool) -> dict:
        return {"action": "reserve_result", "order_id": ids[name], "instance_id": replica,
                "success": ok}

    batch = [result("confirmed", "1", True), result("confirmed", "1", True),  # twice: once
             result("rejected", "1", False), result("undecided", "1", True),
             result("confirmed", "2", True), result("rejected", "3", False),
             result("undecided", "2", False), result("already", "1", True),
             result("already", "2", True), {"action": "something else"}, {"order_id": "x"}]

    async def run() -> dict[str, str]:
        async with AsyncConnectionPool(_url(local_stack), min_size=1, max_size=2, open=False,
                                       kwargs={"row_factory": dict_row,
                                               "autocommit": True}) as pool:
            first = await record_results(pool, batch)
            again = await record_results(pool, batch)  # redelivered: changes nothing
            assert again == {}
            return first

    changed = asyncio.run(run())
    assert changed == {ids["confirmed"]: "CONFIRMED", ids["rejected"]: "REJECTED"}
    with psycopg.connect(_url(local_stack)) as conn:
        status = dict(conn.execute("SELECT order_id, status FROM orders WHERE order_id = ANY(%s)",
                                   (list(ids.values()),)).fetchall())
        stored = conn.execute("SELECT count(*) FROM order_results WHERE order_id = %s",
                              (ids["confirmed"],)).fetchone()[0]
    assert status == {ids["confirmed"]: "CONFIRMED", ids["rejected"]: "REJECTED",
                      ids["undecided"]: "PENDING", ids["already"]: "CANCELLED"}
    assert stored == 2
