"""monitor-svc HTTP API: status, failures, transitions, metrics, and the voter's reports."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from stack.common import guards
from stack.common.auth import require_chaos_token
from stack.common.batch import BatchWriter
from stack.common.db import ensure_schema, open_pool
from stack.common.errors import ApiError
from stack.common.health import health_payload
from stack.common.metrics import METRICS_INSERT
from stack.common.settings import Settings
from stack.common.timeutil import iso, now_iso, parse_iso, utcnow
from stack.common.validation import short
from stack.monitor.checker import Monitor
from stack.monitor.report_body import parse_report
from stack.monitor.store import Store

__all__ = ["create_app"]

SERVICE = "monitor-svc"
WATCHED = "inventory-svc"
#: The longest window ``GET /metrics?minutes=`` accepts: one year.
MAX_METRICS_MINUTES = 525_600


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
    guards.install(app, SERVICE)

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
        monitor: Monitor = request.app.state.monitor
        # Only watched instances exist: nothing else reaches the database (a NUL cannot).
        rows = (
            await request.app.state.store.instances(instance_id, service_name)
            if service_name == WATCHED and instance_id in monitor.instances
            else []
        )
        if not rows:
            raise ApiError(404, f"Instance {short(service_name)}/{short(instance_id)} not found")
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
        except (ValueError, OverflowError) as exc:
            raise ApiError(
                400, f"since must be an ISO 8601 timestamp, got {short(since, 60)}"
            ) from exc
        return {
            "transitions": await request.app.state.store.transitions(since_at),
            "timestamp": now_iso(),
        }

    @app.get("/metrics")
    async def metrics(request: Request, minutes: float = 5) -> dict[str, Any]:
        if not (math.isfinite(minutes) and 0 < minutes <= MAX_METRICS_MINUTES):
            raise ApiError(
                400, f"minutes must be a number greater than 0 and at most {MAX_METRICS_MINUTES}"
            )
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
        require_chaos_token(request, settings.chaos_token)
        report = parse_report(await request.body())
        monitor: Monitor = request.app.state.monitor
        if report.instance_id not in monitor.instances:
            raise ApiError(404, f"Instance {WATCHED}/{short(report.instance_id)} not found")
        monitor.report(report.instance_id, report.reason, report.product_id)
        return JSONResponse(
            {"accepted": True, "instance_id": report.instance_id, "reason": report.reason},
            status_code=202,
        )

    return app
