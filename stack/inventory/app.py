"""inventory-svc HTTP API: health, stock reads, fault injection."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import BackgroundTasks, FastAPI, Request
from fastapi.responses import JSONResponse

from stack.common import direct, guards
from stack.common.auth import require_chaos_token
from stack.common.batch import BatchWriter
from stack.common.db import ensure_schema, open_pool
from stack.common.errors import ApiError
from stack.common.health import health_payload
from stack.common.kafka import ensure_topics, start_producer
from stack.common.metrics import METRICS_INSERT
from stack.common.settings import Settings
from stack.common.ticks import Ticks
from stack.common.timeutil import iso, now_iso
from stack.common.validation import check_id
from stack.inventory import state
from stack.inventory.consumer import SERVICE, EventConsumer
from stack.inventory.fault_body import parse_fault_body
from stack.inventory.faults import FaultState, InjectedFailure

__all__ = ["create_app"]

CRASH_DELAY_S = 0.05
CRASH_EXIT_CODE = 3
#: How long a read with ``?min_offset=N`` waits for this replica to apply event N-1: a
#: little less than the voter's 0.3 s timeout, so its answer still counts.
MIN_OFFSET_WAIT_S = 0.15
_MAX_OFFSET = 2**63 - 1


def _offset_param(request: Request, name: str) -> int | None:
    """The optional offset query parameter ``name``: a non-negative integer, else 400."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or int(raw) > _MAX_OFFSET:
        raise ApiError(400, f"{name} must be an integer between 0 and 2**63-1")
    return int(raw)


def _min_offset(request: Request) -> int | None:
    return _offset_param(request, "min_offset")


async def _exit_soon() -> None:
    # Runs after the 200 has been sent: the client sees the answer, then the process dies.
    await asyncio.sleep(CRASH_DELAY_S)
    os._exit(CRASH_EXIT_CODE)


def _row(row: dict[str, Any], available: int, instance_id: str) -> dict[str, Any]:
    return {
        "product_id": row["product_id"],
        "available_quantity": available,
        "reserved_quantity": row["reserved_quantity"],
        "last_updated": iso(row["updated_at"]),
        "instance_id": instance_id,
    }


def create_app(settings: Settings) -> FastAPI:
    instance_id = settings.instance_id
    faults = FaultState()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await open_pool(settings.database_url)
        await ensure_schema(pool)
        await state.seed_replica(pool, instance_id)
        mirror = state.Mirror(instance_id)
        await mirror.reload(pool)
        await ensure_topics(settings.kafka_bootstrap_servers)
        producer = await start_producer(settings.kafka_bootstrap_servers)
        consumer = EventConsumer(
            pool, producer, settings.kafka_bootstrap_servers, instance_id, faults, mirror,
            Ticks(settings.kafka_tick_s),
        )
        await consumer.start()
        app.state.pool, app.state.consumer, app.state.mirror = pool, consumer, mirror
        app.state.metrics_writer = BatchWriter(pool, METRICS_INSERT)
        app.state.metrics_writer.start()
        try:
            yield
        finally:
            faults.clear()
            await consumer.stop()
            await producer.stop()
            await app.state.metrics_writer.stop()
            await pool.close()

    app = FastAPI(title=f"inventory-svc {instance_id}", lifespan=lifespan)
    guards.install(app, SERVICE)

    async def hooked(request: Request) -> None:
        """The fault's effect on a read, then (``?min_offset=N``) the wait for event N-1."""
        min_offset = _min_offset(request)
        try:
            await faults.hook()
        except InjectedFailure as exc:
            raise ApiError(500, str(exc), instance_id=instance_id) from exc
        if min_offset is not None:
            await request.app.state.consumer.reach(min_offset, MIN_OFFSET_WAIT_S)


    @app.get("/health")
    async def health(request: Request) -> JSONResponse:
        try:
            await faults.hook()
        except InjectedFailure as exc:
            body = {"status": "DOWN", "service": SERVICE, "error": str(exc), "timestamp": now_iso()}
            return JSONResponse({**body, "instance_id": instance_id}, status_code=500)
        fault = faults.current
        return JSONResponse(
            health_payload(
                SERVICE,
                instance_id=instance_id,
                failure_injected=fault is not None,
                failure_type=fault.type if fault else None,
                events=request.app.state.consumer.progress(),
            )
        )

    @app.get("/inventory")
    async def list_inventory(request: Request) -> dict[str, Any]:
        await hooked(request)
        rows = await request.app.state.mirror.list(request.app.state.pool)
        # Only GET /inventory/{product} is wrong under incorrect_response: list the truth.
        items = [_row(r, r["available_quantity"], instance_id) for r in rows]
        return {
            "inventory": items,
            "instance_id": instance_id,
            # The events this answer holds: committed with them, read in the same
            # snapshot as the rows (None before the first event).
            "applied_offset": rows[0]["applied_offset"] if rows else None,
            "timestamp": now_iso(),
        }

    async def read_product(request: Request, product_id: str) -> JSONResponse:
        """``?at_offset=N``: the row as it was once exactly the first N events were
        applied (waiting briefly for them when this replica is behind); 409 when this
        replica no longer keeps that version."""
        check_id(product_id, "product_id")
        at_offset = _offset_param(request, "at_offset")
        await hooked(request)
        mirror = request.app.state.mirror
        if at_offset is not None:
            await request.app.state.consumer.reach(at_offset, MIN_OFFSET_WAIT_S)
            row = mirror.at(product_id, at_offset)
            if row is None:
                if await mirror.get(request.app.state.pool, product_id) is None:
                    raise ApiError(404, "Product not found", instance_id=instance_id)
                raise ApiError(409, f"this replica does not hold {product_id} at offset "
                               f"{at_offset} (not yet applied, or older than it keeps)",
                               instance_id=instance_id)
        else:
            row = await mirror.get(request.app.state.pool, product_id)
        if row is None:
            raise ApiError(404, "Product not found", instance_id=instance_id)
        return JSONResponse({
            "product_id": product_id,
            "available_quantity": faults.reported_available(product_id, row["available_quantity"]),
            "reserved_quantity": row["reserved_quantity"],
            "instance_id": instance_id,
            "applied_offset": row["applied_offset"],
            "timestamp": now_iso(),
        })

    @app.get("/inventory/{product_id}")
    async def get_inventory(product_id: str, request: Request) -> JSONResponse:
        """The replica's row (answered by the direct path for plain GETs)."""
        return await read_product(request, product_id)

    direct.install(app, "/inventory/{product_id}", read_product)

    @app.get("/inject-failure")
    async def get_fault() -> dict[str, Any]:
        fault = faults.current
        return {
            "failure_injected": fault is not None,
            "failure_type": fault.type if fault else None,
            "fault": fault.to_json() if fault else None,
            "expires_at": iso(fault.expires_at) if fault else None,
            "instance_id": instance_id,
            "timestamp": now_iso(),
        }

    @app.post("/inject-failure")
    async def inject(request: Request, background: BackgroundTasks) -> dict[str, Any]:
        require_chaos_token(request, settings.chaos_token)
        body = parse_fault_body(await request.body())
        if body.type == "clear":
            had = faults.clear()
            message = "Failure cleared" if had else "No failure injected (already clear)"
            return {
                "message": message,
                "failure_injected": False,
                "failure_type": None,
                "instance_id": instance_id,
            }
        fault = faults.set(body, settings.fault_default_ttl_s)
        if fault.type == "crash":
            background.add_task(_exit_soon)
        return {
            "message": f"Failure injected: {fault.type}",
            "failure_injected": True,
            "failure_type": fault.type,
            "params": fault.params,
            "ttl_s": fault.ttl_s,
            "expires_at": iso(fault.expires_at),
            "instance_id": instance_id,
        }

    return app
