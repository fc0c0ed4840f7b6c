"""orders-svc HTTP API: create, cancel and read orders; the ledger."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from stack.common.batch import BatchWriter
from stack.common.db import ensure_schema, open_pool
from stack.common.errors import ApiError, install_error_handlers
from stack.common.health import health_payload
from stack.common.kafka import ORDER_EVENTS, encode, ensure_topics, start_producer
from stack.common.metrics import METRICS_INSERT, RequestMetricsMiddleware
from stack.common.settings import Settings
from stack.common.timeutil import iso, now_iso
from stack.orders.ledger import ledger
from stack.orders.results import ResultsConsumer

__all__ = ["create_app", "parse_order"]

SERVICE = "orders-svc"
REQUIRED = "product_id and quantity are required"


def parse_order(raw: bytes) -> tuple[str, int]:
    """Validate a POST /orders body; raises ApiError(400) with the contract's messages."""
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        body = None
    if (
        not isinstance(body, dict)
        or body.get("product_id") in (None, "")
        or body.get("quantity") is None
    ):
        raise ApiError(400, REQUIRED)
    product_id, quantity = body["product_id"], body["quantity"]
    if not isinstance(product_id, str):
        raise ApiError(400, "product_id must be a string")
    if isinstance(quantity, float) and quantity.is_integer():
        quantity = int(quantity)
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise ApiError(400, "quantity must be an integer")
    if quantity <= 0:
        raise ApiError(400, "quantity must be positive")
    return product_id, quantity


def _order(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"])}


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await open_pool(settings.database_url)
        await ensure_schema(pool)
        await ensure_topics(settings.kafka_bootstrap_servers)
        producer = await start_producer(settings.kafka_bootstrap_servers)
        results = ResultsConsumer(pool, settings.kafka_bootstrap_servers)
        await results.start()
        app.state.pool, app.state.producer = pool, producer
        app.state.metrics_writer = BatchWriter(pool, METRICS_INSERT)
        app.state.metrics_writer.start()
        try:
            yield
        finally:
            await results.stop()
            await producer.stop()
            await app.state.metrics_writer.stop()
            await pool.close()

    app = FastAPI(title="orders-svc", lifespan=lifespan)
    app.add_middleware(RequestMetricsMiddleware, service_name=SERVICE)
    install_error_handlers(app)

    async def publish(request: Request, order_id: str, event: dict[str, Any]) -> None:
        try:
            await request.app.state.producer.send_and_wait(
                ORDER_EVENTS, encode(event), key=order_id.encode()
            )
        except Exception as exc:
            raise ApiError(503, f"could not publish the order event: {exc}") from exc

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return health_payload(SERVICE)

    @app.post("/orders", status_code=201)
    async def create_order(request: Request) -> JSONResponse:
        product_id, quantity = parse_order(await request.body())
        pool = request.app.state.pool
        order_id = str(uuid.uuid4())
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT 1 FROM products WHERE product_id = %s", (product_id,))
            if await cur.fetchone() is None:
                raise ApiError(404, "Product not found")
            await conn.execute(
                "INSERT INTO orders (order_id, product_id, quantity, status)"
                " VALUES (%s, %s, %s, 'PENDING')",
                (order_id, product_id, quantity),
            )
        event = {
            "order_id": order_id,
            "product_id": product_id,
            "quantity": quantity,
            "action": "reserve",
            "timestamp": now_iso(),
            "service": SERVICE,
        }
        try:
            await publish(request, order_id, event)
        except ApiError:
            async with pool.connection() as conn:  # never keep an order nobody will process
                await conn.execute("DELETE FROM orders WHERE order_id = %s", (order_id,))
            raise
        body = {
            "order_id": order_id,
            "product_id": product_id,
            "quantity": quantity,
            "status": "PENDING",
            "message": "Order created successfully",
        }
        return JSONResponse(body, status_code=201)

    @app.post("/orders/{order_id}/cancel")
    async def cancel_order(order_id: str, request: Request) -> dict[str, Any]:
        async with request.app.state.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "SELECT status FROM orders WHERE order_id = %s FOR UPDATE", (order_id,)
            )
            row = await cur.fetchone()
            if row is None:
                raise ApiError(404, "Order not found")
            if row["status"] == "CANCELLED":
                raise ApiError(400, "Order already cancelled")
            await conn.execute(
                "UPDATE orders SET status = 'CANCELLED', updated_at = now() WHERE order_id = %s",
                (order_id,),
            )
            event = {
                "order_id": order_id,
                "action": "cancel",
                "timestamp": now_iso(),
                "service": SERVICE,
            }
            # Published inside the transaction: if publishing fails the cancel is rolled back.
            await publish(request, order_id, event)
        return {
            "order_id": order_id,
            "status": "CANCELLED",
            "message": "Order cancelled successfully",
        }

    @app.get("/orders/{order_id}")
    async def get_order(order_id: str, request: Request) -> dict[str, Any]:
        async with request.app.state.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT order_id, product_id, quantity, status, created_at, updated_at"
                " FROM orders WHERE order_id = %s",
                (order_id,),
            )
            row = await cur.fetchone()
        if row is None:
            raise ApiError(404, "Order not found")
        return _order(row)

    @app.get("/ledger")
    async def get_ledger(request: Request) -> dict[str, Any]:
        return await ledger(request.app.state.pool)

    return app
