"""A replica's own stock in Postgres: rows keyed by (instance_id, product_id).

Every order event is applied in one transaction together with a ``processed_events`` row,
so an event delivered twice (after a crash, before the offset commit) is applied once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

__all__ = ["Outcome", "seed_replica", "get_row", "list_rows", "apply_event"]


@dataclass(frozen=True)
class Outcome:
    """What applying an event produced: the result to publish."""

    order_id: str
    action: str  # "reserve" | "cancel"
    product_id: str | None
    quantity: int | None
    success: bool
    duplicate: bool = False


async def seed_replica(pool: AsyncConnectionPool, instance_id: str) -> None:
    """Give this replica its starting stock from the catalogue (only the first time)."""
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO inventory (instance_id, product_id, available_quantity, reserved_quantity)"
            " SELECT %s, product_id, initial_quantity, 0 FROM products"
            " ON CONFLICT (instance_id, product_id) DO NOTHING",
            (instance_id,),
        )


async def get_row(
    pool: AsyncConnectionPool, instance_id: str, product_id: str
) -> dict[str, Any] | None:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT product_id, available_quantity, reserved_quantity, updated_at FROM inventory"
            " WHERE instance_id = %s AND product_id = %s",
            (instance_id, product_id),
        )
        return await cur.fetchone()


async def list_rows(pool: AsyncConnectionPool, instance_id: str) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT product_id, available_quantity, reserved_quantity, updated_at FROM inventory"
            " WHERE instance_id = %s ORDER BY product_id",
            (instance_id,),
        )
        return await cur.fetchall()


async def _already(conn: AsyncConnection, instance_id: str, order_id: str, action: str):
    cur = await conn.execute(
        "SELECT product_id, quantity, success FROM processed_events"
        " WHERE instance_id = %s AND order_id = %s AND action = %s",
        (instance_id, order_id, action),
    )
    return await cur.fetchone()


async def _reserve(
    conn: AsyncConnection, instance_id: str, event: dict[str, Any]
) -> tuple[Any, Any, bool]:
    product_id, quantity = event.get("product_id"), event.get("quantity")
    if (
        not isinstance(product_id, str)
        or isinstance(quantity, bool)
        or not isinstance(quantity, int)
    ):
        return product_id, quantity, False
    cur = await conn.execute(
        "UPDATE inventory SET available_quantity = available_quantity - %(q)s,"
        " reserved_quantity = reserved_quantity + %(q)s, updated_at = now()"
        " WHERE instance_id = %(i)s AND product_id = %(p)s AND available_quantity >= %(q)s"
        " AND %(q)s > 0",
        {"q": quantity, "i": instance_id, "p": product_id},
    )
    return product_id, quantity, cur.rowcount == 1


async def _cancel(conn: AsyncConnection, instance_id: str, order_id: str) -> tuple[Any, Any, bool]:
    reserved = await _already(conn, instance_id, order_id, "reserve")
    if reserved is None or not reserved["success"]:
        # Never reserved here (or rejected): nothing to release.
        product_id = reserved["product_id"] if reserved else None
        return product_id, reserved["quantity"] if reserved else None, False
    await conn.execute(
        "UPDATE inventory SET available_quantity = available_quantity + %(q)s,"
        " reserved_quantity = reserved_quantity - %(q)s, updated_at = now()"
        " WHERE instance_id = %(i)s AND product_id = %(p)s",
        {"q": reserved["quantity"], "i": instance_id, "p": reserved["product_id"]},
    )
    return reserved["product_id"], reserved["quantity"], True


async def apply_event(
    pool: AsyncConnectionPool, instance_id: str, event: dict[str, Any]
) -> Outcome | None:
    """Apply one order event exactly once; None for an event this service ignores."""
    action, order_id = event.get("action"), event.get("order_id")
    if action not in ("reserve", "cancel") or not isinstance(order_id, str):
        return None
    async with pool.connection() as conn, conn.transaction():
        # Serialise with any other process of the same replica id (should be none).
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"inventory-{instance_id}",)
        )
        done = await _already(conn, instance_id, order_id, action)
        if done is not None:
            return Outcome(
                order_id, action, done["product_id"], done["quantity"], done["success"], True
            )
        if action == "reserve":
            product_id, quantity, success = await _reserve(conn, instance_id, event)
        else:
            product_id, quantity, success = await _cancel(conn, instance_id, order_id)
        await conn.execute(
            "INSERT INTO processed_events"
            " (instance_id, order_id, action, product_id, quantity, success)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (
                instance_id,
                order_id,
                action,
                product_id if isinstance(product_id, str) else None,
                quantity if isinstance(quantity, int) and not isinstance(quantity, bool) else None,
                success,
            ),
        )
    return Outcome(order_id, action, product_id, quantity, success)
