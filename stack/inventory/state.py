"""A replica's own stock in Postgres: rows keyed by (instance_id, product_id).

Every order event is applied in one transaction together with a ``processed_events`` row,
so an event delivered twice (after a crash, before the offset commit) is applied once.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool

__all__ = ["Outcome", "Mirror", "seed_replica", "get_row", "list_rows", "apply_event",
           "apply_events"]


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


#: The replica's applied offset, read in the same statement (one snapshot) as its rows:
#: the events the answer holds, exactly.
_OFFSET = (
    "(SELECT applied_offset FROM replica_offsets WHERE instance_id = %(i)s) AS applied_offset"
)
OFFSET_SQL = (
    "INSERT INTO replica_offsets (instance_id, applied_offset) VALUES (%s, %s)"
    " ON CONFLICT (instance_id) DO UPDATE SET applied_offset = EXCLUDED.applied_offset"
)


#: Versions of each product's row a replica keeps for ``?at_offset=`` reads.
HISTORY = 512


class Mirror:
    """The replica's committed rows, in memory, for reads; with their recent versions.

    This process is the only writer of its rows (the consumer applies events; nothing
    else changes them after the seed), so after each commit the consumer reloads them here
    (:meth:`reload`: one query per applied batch) and a read costs no query: a read used
    to be one Postgres query, and three replicas' reads were most of the database's work
    under load. A read sees the rows and the applied offset of one commit, as before: the
    rows are replaced whole, after the commit and before the consumer says the events are
    applied.

    **Versions.** :meth:`record` keeps, per product, the row each applied event left
    (computed from the event's outcome and checked against the reloaded rows at the end
    of each batch: a mismatch forgets every version), so :meth:`at` answers "what was
    this product's row once the first N events were applied": two replicas at different
    points of a moving log are compared at the same one (the voter's ``?at_offset=N``).
    """

    def __init__(self, instance_id: str) -> None:
        self.instance_id = instance_id
        #: None: not loaded, or the last reload failed; reads then query Postgres.
        self._rows: dict[str, dict[str, Any]] | None = None
        #: product → [(applied offset, row)], oldest first, at most HISTORY
        self._versions: dict[str, deque[tuple[int, dict[str, Any]]]] = {}
        self._pending_check: dict[str, dict[str, Any]] | None = None

    async def reload(self, pool: AsyncConnectionPool) -> None:
        """Replace the rows with what is committed; on failure, forget them (reads fall
        back to Postgres until a reload succeeds) and raise."""
        try:
            rows = await list_rows(pool, self.instance_id)
        except BaseException:
            self._rows = None
            self._versions = {}
            raise
        self._rows = {r["product_id"]: r for r in rows}
        for product, row in self._rows.items():
            offset = row.get("applied_offset")
            if isinstance(offset, int):
                self._keep(product, offset, row)

    def _keep(self, product: str, offset: int, row: dict[str, Any]) -> None:
        versions = self._versions.setdefault(product, deque(maxlen=HISTORY))
        if versions and versions[-1][0] > offset:
            return  # older than what is kept: never rewrite history
        if versions and versions[-1][0] == offset:
            versions.pop()
        versions.append((offset, row))

    @property
    def applied(self) -> int | None:
        """The applied offset of the rows in memory (None before the first event)."""
        rows = self._rows or {}
        offsets = [r.get("applied_offset") for r in rows.values()]
        known = [o for o in offsets if isinstance(o, int)]
        return max(known) if known else None

    def record(self, first_offset: int, outcomes: list[Outcome | None]) -> None:
        """Keep the row each event left: the event at ``first_offset + k`` had
        ``outcomes[k]``. Called after the commit, before :meth:`reload`, which checks the
        last versions against the database."""
        rows = self._rows
        if rows is None:
            return
        current = {p: dict(r) for p, r in rows.items()}
        for k, outcome in enumerate(outcomes):
            if outcome is None or outcome.duplicate or not outcome.success:
                continue
            row = current.get(outcome.product_id or "")
            if row is None or not isinstance(outcome.quantity, int):
                continue
            sign = -1 if outcome.action == "reserve" else 1
            row["available_quantity"] += sign * outcome.quantity
            row["reserved_quantity"] -= sign * outcome.quantity
            applied = first_offset + k + 1
            row["applied_offset"] = applied
            self._keep(outcome.product_id or "", applied, dict(row))
        self._pending_check: dict[str, dict[str, Any]] | None = current

    def check(self) -> bool:
        """After :meth:`reload`: do the computed rows equal the committed ones? If not,
        forget every version (reads at an offset then answer "not retained")."""
        expected, self._pending_check = self._pending_check, None
        rows = self._rows or {}
        if expected is None:
            return True
        for product, row in expected.items():
            got = rows.get(product)
            if got is None or (got["available_quantity"], got["reserved_quantity"]) != (
                    row["available_quantity"], row["reserved_quantity"]):
                self._versions = {}
                return False
        return True

    def at(self, product_id: str, offset: int) -> dict[str, Any] | None:
        """The product's row once exactly the first ``offset`` events were applied, or
        None when this replica has not kept that version (too old, or not yet applied)."""
        versions = self._versions.get(product_id)
        applied = self.applied
        if not versions or offset < versions[0][0] or applied is None or offset > applied:
            return None
        found = None
        for at_offset, row in versions:
            if at_offset > offset:
                break
            found = row
        return None if found is None else {**found, "applied_offset": offset}

    async def get(self, pool: AsyncConnectionPool, product_id: str) -> dict[str, Any] | None:
        rows = self._rows
        if rows is None:
            return await get_row(pool, self.instance_id, product_id)
        return rows.get(product_id)

    async def list(self, pool: AsyncConnectionPool) -> list[dict[str, Any]]:
        rows = self._rows
        if rows is None:
            return await list_rows(pool, self.instance_id)
        return [rows[p] for p in sorted(rows)]


async def get_row(
    pool: AsyncConnectionPool, instance_id: str, product_id: str
) -> dict[str, Any] | None:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT product_id, available_quantity, reserved_quantity, updated_at, "
            + _OFFSET + " FROM inventory WHERE instance_id = %(i)s AND product_id = %(p)s",
            {"i": instance_id, "p": product_id},
        )
        return await cur.fetchone()


async def list_rows(pool: AsyncConnectionPool, instance_id: str) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT product_id, available_quantity, reserved_quantity, updated_at, "
            + _OFFSET + " FROM inventory WHERE instance_id = %(i)s ORDER BY product_id",
            {"i": instance_id},
        )
        return await cur.fetchall()


#: One statement per event: data-modifying CTEs see one snapshot and commit together, so
#: "already applied?", the stock change and the processed_events row are one round trip
#: (four before). ``done`` is the earlier application of a duplicate.
RESERVE_SQL = """
WITH done AS (
    SELECT product_id, quantity, success FROM processed_events
    WHERE instance_id = %(i)s AND order_id = %(o)s AND action = 'reserve'
), upd AS (
    UPDATE inventory SET available_quantity = available_quantity - %(q)s::int,
        reserved_quantity = reserved_quantity + %(q)s::int, updated_at = now()
    WHERE instance_id = %(i)s AND product_id = %(p)s::text
      AND available_quantity >= %(q)s::int AND %(q)s::int > 0
      AND NOT EXISTS (SELECT 1 FROM done)
    RETURNING 1
), ins AS (
    INSERT INTO processed_events (instance_id, order_id, action, product_id, quantity, success)
    SELECT %(i)s, %(o)s, 'reserve', %(p)s::text, %(q)s::int, EXISTS (SELECT 1 FROM upd)
    WHERE NOT EXISTS (SELECT 1 FROM done)
    RETURNING product_id, quantity, success
)
SELECT true AS duplicate, product_id, quantity, success FROM done
UNION ALL SELECT false, product_id, quantity, success FROM ins
"""
#: A cancel releases what this replica reserved for the order (nothing if it never did).
CANCEL_SQL = """
WITH done AS (
    SELECT product_id, quantity, success FROM processed_events
    WHERE instance_id = %(i)s AND order_id = %(o)s AND action = 'cancel'
), res AS (
    SELECT product_id, quantity, success FROM processed_events
    WHERE instance_id = %(i)s AND order_id = %(o)s AND action = 'reserve'
), upd AS (
    UPDATE inventory SET available_quantity = available_quantity + res.quantity,
        reserved_quantity = reserved_quantity - res.quantity, updated_at = now()
    FROM res
    WHERE inventory.instance_id = %(i)s AND inventory.product_id = res.product_id
      AND res.success AND NOT EXISTS (SELECT 1 FROM done)
    RETURNING 1
), ins AS (
    INSERT INTO processed_events (instance_id, order_id, action, product_id, quantity, success)
    SELECT %(i)s, %(o)s, 'cancel', (SELECT product_id FROM res), (SELECT quantity FROM res),
        COALESCE((SELECT success FROM res), false)
    WHERE NOT EXISTS (SELECT 1 FROM done)
    RETURNING product_id, quantity, success
)
SELECT true AS duplicate, product_id, quantity, success FROM done
UNION ALL SELECT false, product_id, quantity, success FROM ins
"""
LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext(%s))"


def _statement(instance_id: str, event: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    action, order_id = event.get("action"), event.get("order_id")
    if action not in ("reserve", "cancel") or not isinstance(order_id, str):
        return None
    if action == "cancel":
        return CANCEL_SQL, {"i": instance_id, "o": order_id}
    product_id, quantity = event.get("product_id"), event.get("quantity")
    valid_q = isinstance(quantity, int) and not isinstance(quantity, bool)
    return RESERVE_SQL, {
        "i": instance_id,
        "o": order_id,
        # A malformed reservation is recorded as failed, as before (NULLs match nothing).
        "p": product_id if isinstance(product_id, str) else None,
        "q": quantity if valid_q and -(2**31) <= quantity < 2**31 else None,
    }


async def apply_events(
    pool: AsyncConnectionPool,
    instance_id: str,
    events: list[dict[str, Any]],
    next_offset: int | None = None,
) -> list[Outcome | None]:
    """Apply ``events`` in order, each exactly once, in one transaction and one round
    trip (psycopg pipeline mode); None for an event this service ignores. All or none:
    on an exception nothing is applied. ``next_offset`` (the log offset after the last
    event) is committed with them (``replica_offsets``)."""
    statements = [_statement(instance_id, e) for e in events]
    async with pool.connection() as conn, conn.transaction(), conn.pipeline() as pipeline:
        # Serialise with any other process of the same replica id (should be none).
        await conn.execute(LOCK_SQL, (f"inventory-{instance_id}",))
        cursors = [
            await conn.execute(sql, params) if sql else None
            for sql, params in (st or (None, None) for st in statements)
        ]
        if next_offset is not None:
            await conn.execute(OFFSET_SQL, (instance_id, next_offset))
        await pipeline.sync()
        rows = [await cur.fetchone() if cur is not None else None for cur in cursors]
    outcomes: list[Outcome | None] = []
    for event, row in zip(events, rows, strict=True):
        if row is None:
            outcomes.append(None)
            continue
        action, order_id = event["action"], event["order_id"]
        if action == "reserve" and not row["duplicate"]:
            # What the event said, as published before (even when malformed).
            product_id, quantity = event.get("product_id"), event.get("quantity")
        else:
            product_id, quantity = row["product_id"], row["quantity"]
        outcomes.append(
            Outcome(order_id, action, product_id, quantity, row["success"], row["duplicate"])
        )
    return outcomes


async def apply_event(
    pool: AsyncConnectionPool,
    instance_id: str,
    event: dict[str, Any],
    next_offset: int | None = None,
) -> Outcome | None:
    """Apply one order event exactly once; None for an event this service ignores."""
    return (await apply_events(pool, instance_id, [event], next_offset))[0]
