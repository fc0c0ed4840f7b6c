"""The monitor's tables: instance_status, status_transitions, failure_audit, request_metrics."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from stack.common.timeutil import iso

__all__ = ["Store"]


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: iso(v) if isinstance(v, datetime) else v for k, v in row.items()}


class Store:
    def __init__(self, pool: AsyncConnectionPool, service_name: str) -> None:
        self.pool = pool
        self.service_name = service_name

    async def init_instances(self, instance_ids: tuple[str, ...], at: datetime) -> None:
        async with self.pool.connection() as conn, conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO instance_status (service_name, instance_id, status, updated_at)"
                " VALUES (%s, %s, 'ON', %s) ON CONFLICT (service_name, instance_id)"
                " DO UPDATE SET status = 'ON', updated_at = EXCLUDED.updated_at",
                [(self.service_name, i, at) for i in instance_ids],
            )

    async def products(self) -> list[str]:
        """The catalogue's product ids (what the checks read)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT product_id FROM products ORDER BY product_id")
            return [r["product_id"] for r in await cur.fetchall()]

    async def record_checks(self, checks: list[tuple[str, datetime]]) -> None:
        async with self.pool.connection() as conn, conn.cursor() as cur:
            await cur.executemany(
                "UPDATE instance_status SET last_health_check = %s"
                " WHERE service_name = %s AND instance_id = %s",
                [(at, self.service_name, i) for i, at in checks],
            )

    async def mark_off(
        self, instance_id: str, at: datetime, failure_type: str, started_at: datetime
    ) -> None:
        ttd_ms = max(0.0, (at - started_at).total_seconds() * 1000.0)
        async with self.pool.connection() as conn, conn.transaction():
            await self._transition(conn, instance_id, "OFF", at, failure_type)
            await conn.execute(
                "INSERT INTO failure_audit (service_name, instance_id, failure_type,"
                " failure_started_at, detected_at, ttd_ms) VALUES (%s, %s, %s, %s, %s, %s)",
                (self.service_name, instance_id, failure_type, started_at, at, ttd_ms),
            )

    async def mark_on(self, instance_id: str, at: datetime, reason: str) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            await self._transition(conn, instance_id, "ON", at, reason)
            await conn.execute(
                "UPDATE failure_audit SET resolved_at = %(at)s,"
                " ttr_ms = EXTRACT(EPOCH FROM (%(at)s - detected_at)) * 1000.0"
                " WHERE service_name = %(s)s AND instance_id = %(i)s AND resolved_at IS NULL",
                {"at": at, "s": self.service_name, "i": instance_id},
            )

    async def _transition(
        self, conn, instance_id: str, status: str, at: datetime, reason: str
    ) -> None:
        await conn.execute(
            "UPDATE instance_status SET status = %s, updated_at = %s"
            " WHERE service_name = %s AND instance_id = %s",
            (status, at, self.service_name, instance_id),
        )
        await conn.execute(
            "INSERT INTO status_transitions (service_name, instance_id, status, at, reason)"
            " VALUES (%s, %s, %s, %s, %s)",
            (self.service_name, instance_id, status, at, reason),
        )

    async def instances(self, instance_id: str | None = None, service_name: str | None = None):
        query = (
            "SELECT service_name, instance_id, status, last_health_check, updated_at"
            " FROM instance_status WHERE (%(s)s::text IS NULL OR service_name = %(s)s)"
            " AND (%(i)s::text IS NULL OR instance_id = %(i)s) ORDER BY service_name, instance_id"
        )
        async with self.pool.connection() as conn:
            cur = await conn.execute(query, {"s": service_name, "i": instance_id})
            return [_jsonable(r) for r in await cur.fetchall()]

    async def failures(self, limit: int = 500) -> list[dict[str, Any]]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT id, service_name, instance_id, failure_type, failure_started_at,"
                " detected_at,"
                " resolved_at, ttd_ms, ttr_ms FROM failure_audit ORDER BY detected_at DESC, id DESC"
                " LIMIT %s",
                (limit,),
            )
            return [_jsonable(r) for r in await cur.fetchall()]

    async def transitions(self, since: datetime | None) -> list[dict[str, Any]]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT service_name, instance_id, status, at, reason FROM status_transitions"
                " WHERE (%(since)s::timestamptz IS NULL OR at >= %(since)s) ORDER BY at, id",
                {"since": since},
            )
            return [_jsonable(r) for r in await cur.fetchall()]

    async def metrics(self, since: datetime) -> list[dict[str, Any]]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT service_name, endpoint, method, status_code,"
                " avg(latency_ms) AS avg_latency, count(*) AS request_count,"
                " max(latency_ms) AS max_latency, min(latency_ms) AS min_latency"
                " FROM request_metrics WHERE at >= %s"
                " GROUP BY service_name, endpoint, method, status_code"
                " ORDER BY service_name, endpoint, method, status_code",
                (since,),
            )
            return [_jsonable(r) for r in await cur.fetchall()]
