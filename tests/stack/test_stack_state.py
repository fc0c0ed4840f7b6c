"""A replica's state on the stack's real Postgres: each event applied once, cancel releases."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from stack.common.db import ensure_schema, open_pool
from stack.inventory.state import apply_event, get_row, seed_replica


@pytest.fixture
async def replica(local_stack):
    """A throwaway replica id in the test stack's database (the real replicas never see it)."""
    port = local_stack.settings.base_port + 7
    pool = await open_pool(f"postgresql://postgres@127.0.0.1:{port}/experimento", wait_s=10)
    await ensure_schema(pool)
    instance_id = f"test-{uuid.uuid4().hex[:8]}"
    await seed_replica(pool, instance_id)
    try:
        yield pool, instance_id
    finally:
        async with pool.connection() as conn:
            await conn.execute("DELETE FROM inventory WHERE instance_id = %s", (instance_id,))
            await conn.execute(
                "DELETE FROM processed_events WHERE instance_id = %s", (instance_id,)
            )
        await pool.close()


def _reserve(order_id: str, quantity: int, product_id: str = "PROD-002") -> dict:
    return {
        "order_id": order_id,
        "product_id": product_id,
        "quantity": quantity,
        "action": "reserve",
    }


async def _stock(pool, instance_id, product_id="PROD-002"):
    row = await get_row(pool, instance_id, product_id)
    return row["available_quantity"], row["reserved_quantity"]


async def test_an_event_delivered_twice_is_applied_once(replica):
    pool, instance_id = replica
    first = await apply_event(pool, instance_id, _reserve("o-1", 7))
    again = await apply_event(pool, instance_id, _reserve("o-1", 7))
    assert (first.success, first.duplicate) == (True, False)
    assert (again.success, again.duplicate) == (True, True)
    assert await _stock(pool, instance_id) == (493, 7)


async def test_reserve_beyond_the_stock_fails_and_changes_nothing(replica):
    pool, instance_id = replica
    outcome = await apply_event(pool, instance_id, _reserve("o-big", 501))
    assert outcome.success is False
    assert await _stock(pool, instance_id) == (500, 0)


async def test_cancel_releases_only_what_this_replica_reserved_and_only_once(replica):
    pool, instance_id = replica
    await apply_event(pool, instance_id, _reserve("o-2", 5))
    cancel = {"order_id": "o-2", "action": "cancel"}
    assert (await apply_event(pool, instance_id, cancel)).success is True
    assert (await apply_event(pool, instance_id, cancel)).duplicate is True
    assert await _stock(pool, instance_id) == (500, 0)
    never = await apply_event(pool, instance_id, {"order_id": "o-unknown", "action": "cancel"})
    assert never.success is False
    assert await _stock(pool, instance_id) == (500, 0)


async def test_unknown_actions_are_ignored(replica):
    pool, instance_id = replica
    assert await apply_event(pool, instance_id, {"order_id": "o-3", "action": "explode"}) is None


async def test_a_batch_applies_in_order_once_each_and_all_or_nothing(replica):
    """One fetch of events in one transaction: a reserve, its duplicate, its cancel, a
    rejected reserve and a malformed one — the same outcomes as one event at a time."""
    from stack.inventory.state import apply_events

    pool, instance_id = replica
    events = [
        _reserve("b-1", 4),
        _reserve("b-1", 4),  # delivered twice within one fetch
        {"order_id": "b-1", "action": "cancel"},
        _reserve("b-2", 10_000),  # more than the stock: rejected
        {"order_id": "b-3", "action": "reserve", "product_id": "PROD-002", "quantity": "4"},
        {"order_id": "b-4", "action": "restock"},  # not ours: ignored
    ]
    outcomes = await apply_events(pool, instance_id, events)
    assert [(o.action, o.success, o.duplicate) if o else None for o in outcomes] == [
        ("reserve", True, False),
        ("reserve", True, True),
        ("cancel", True, False),
        ("reserve", False, False),
        ("reserve", False, False),
        None,
    ]
    assert await _stock(pool, instance_id) == (500, 0)
    with pytest.raises(psycopg.DataError):  # a batch that fails (NUL in text) applies nothing
        await apply_events(pool, instance_id, [_reserve("b-5", 1), _reserve("b-6\x00", 2)])
    assert await _stock(pool, instance_id) == (500, 0)
