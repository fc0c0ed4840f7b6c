"""monitor-svc HTTP API: status, failures, transitions, metrics, and the voter's reports."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from stack.common.batch import BatchWriter
from stack.common.db import ensure_schema, open_pool
from stack.common.errors import ApiError, install_error_handlers
from stack.common.health import health_payload
from stack.common.metrics import METRICS_INSERT, RequestMetricsMiddleware
from stack.common.settings import Settings
from stack.common.timeutil import iso, now_iso, parse_iso, utcnow
from stack.monitor.checker import REPORT_REASONS, Monitor
from stack.monitor.store import Store

__all__ = ["create_app"]

SERVICE = "monitor-svc"
WATCHED = "inventory-svc"


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await open_pool(settings.database_url)
        await ensure_schema(pool)
        store = Store(pool, WATCHED)
        monitor = Monitor(
            store,
            settings.inventory_urls,
            interval_s=settings.monitor_interval_s,
            timeout_s=settings.monitor_timeout_s,
        )
        await monitor.start()
        app.state.store, app.state.monitor = store, monitor
        app.state.metrics_writer = BatchWriter(pool, METRICS_INSERT)
        app.state.metrics_writer.start()
        try:
            yield
        finally:
            await monitor.stop()
            await app.state.metrics_writer.stop()
            await pool.close()

    app = FastAPI(title="monitor-svc", lifespan=lifespan)
    app.add_middleware(RequestMetricsMiddleware, service_name=SERVICE)
    install_error_handlers(app)

    def monitoring_state(request: Request) -> dict[str, Any]:
        monitor: Monitor = request.app.state.monitor
        return {monitor.key(i): s.to_json() for i, s in monitor.instances.items()}

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return health_payload(SERVICE)

    @app.get("/status")
    async def status(request: Request) -> dict[str, Any]:
        instances = await request.app.state.store.instances()
        return {
            "instances": instances,
            "monitoring_state": monitoring_state(request),
            "timestamp": now_iso(),
        }

    @app.get("/status/{service_name}/{instance_id}")
    async def status_one(service_name: str, instance_id: str, request: Request) -> dict[str, Any]:
        rows = await request.app.state.store.instances(instance_id, service_name)
        if not rows:
            raise ApiError(404, f"Instance {service_name}/{instance_id} not found")
        monitor: Monitor = request.app.state.monitor
        state = monitor.instances.get(instance_id)
        return {
            **rows[0],
            "monitoring_state": state.to_json() if state else None,
            "timestamp": now_iso(),
        }

    @app.get("/failures")
    async def failures(request: Request) -> dict[str, Any]:
        return {"failures": await request.app.state.store.failures(), "timestamp": now_iso()}

    @app.get("/transitions")
    async def transitions(request: Request, since: str | None = None) -> dict[str, Any]:
        try:
            since_at = parse_iso(since) if since else None
        except ValueError as exc:
            raise ApiError(400, f"since must be an ISO 8601 timestamp, got {since!r}") from exc
        return {
            "transitions": await request.app.state.store.transitions(since_at),
            "timestamp": now_iso(),
        }

    @app.get("/metrics")
    async def metrics(request: Request, minutes: float = 5) -> dict[str, Any]:
        if minutes <= 0:
            raise ApiError(400, "minutes must be positive")
        since = utcnow() - timedelta(minutes=minutes)
        rows = await request.app.state.store.metrics(since)
        return {
            "metrics": rows,
            "period_minutes": int(minutes) if float(minutes).is_integer() else minutes,
            "since": iso(since),
            "timestamp": now_iso(),
        }

    @app.post("/reports", status_code=202)
    async def reports(request: Request) -> JSONResponse:
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict) or "instance_id" not in body or "reason" not in body:
            raise ApiError(400, "body must be a JSON object with instance_id and reason")
        instance_id, reason = str(body["instance_id"]), body["reason"]
        if reason not in REPORT_REASONS:
            raise ApiError(400, f"reason must be one of: {', '.join(REPORT_REASONS)}")
        monitor: Monitor = request.app.state.monitor
        if instance_id not in monitor.instances:
            raise ApiError(404, f"Instance {WATCHED}/{instance_id} not found")
        product_id = body.get("product_id")
        monitor.report(instance_id, reason, product_id if isinstance(product_id, str) else None)
        return JSONResponse(
            {"accepted": True, "instance_id": instance_id, "reason": reason}, status_code=202
        )

    return app
