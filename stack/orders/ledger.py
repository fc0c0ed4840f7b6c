"""The stock the orders in Postgres imply: PENDING and CONFIRMED orders hold their quantity."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from stack.common.timeutil import now_iso

__all__ = ["HOLDING_STATUSES", "ledger"]

HOLDING_STATUSES = ("PENDING", "CONFIRMED")


async def ledger(pool: AsyncConnectionPool) -> dict[str, Any]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT p.product_id, p.initial_quantity,"
            # bigint: many PENDING orders of up to MAX_QUANTITY could overflow an int4 sum
            " COALESCE(SUM(o.quantity) FILTER (WHERE o.status = ANY(%s)), 0)::bigint AS reserved"
            " FROM products p LEFT JOIN orders o ON o.product_id = p.product_id"
            " GROUP BY p.product_id, p.initial_quantity ORDER BY p.product_id",
            (list(HOLDING_STATUSES),),
        )
        rows = await cur.fetchall()
        cur = await conn.execute("SELECT count(*) AS n FROM orders WHERE status = 'PENDING'")
        pending = (await cur.fetchone())["n"]
    products = {
        r["product_id"]: {
            "initial": r["initial_quantity"],
            "reserved": r["reserved"],
            "available": r["initial_quantity"] - r["reserved"],
        }
        for r in rows
    }
    return {"products": products, "pending_orders": pending, "timestamp": now_iso()}
