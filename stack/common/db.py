"""Postgres access: one async connection pool per service, schema created at start-up."""

from __future__ import annotations

import asyncio
import logging

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from stack.common.schema import DDL, SCHEMA_LOCK_ID, SEED_PRODUCTS

__all__ = ["open_pool", "ensure_schema"]

log = logging.getLogger("stack.db")


async def open_pool(
    database_url: str, *, max_size: int = 8, wait_s: float = 60.0
) -> AsyncConnectionPool:
    """Open a pool (rows as dicts), waiting up to ``wait_s`` for Postgres to answer."""
    pool = AsyncConnectionPool(
        database_url,
        min_size=1,
        max_size=max_size,
        open=False,
        kwargs={"row_factory": dict_row, "autocommit": True},
        timeout=10.0,
    )
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        try:
            await pool.open(wait=True, timeout=5.0)
            return pool
        except Exception as exc:  # PoolTimeout, OperationalError: Postgres not up yet
            if asyncio.get_running_loop().time() > deadline:
                await pool.close()
                raise RuntimeError(f"Postgres at {database_url} did not answer: {exc}") from exc
            log.warning("waiting for Postgres: %s", exc)
            await asyncio.sleep(0.5)


async def ensure_schema(pool: AsyncConnectionPool) -> None:
    """Create tables and seed the product catalogue; safe when services start together."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_ID,))
        for statement in DDL:
            await conn.execute(statement)
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO products (product_id, initial_quantity) VALUES (%s, %s)"
                " ON CONFLICT (product_id) DO NOTHING",
                SEED_PRODUCTS,
            )
