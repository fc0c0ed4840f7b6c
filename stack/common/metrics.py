"""Request metrics: an ASGI middleware that records every request into ``request_metrics``."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stack.common.batch import BatchWriter
from stack.common.timeutil import utcnow

__all__ = ["RequestMetricsMiddleware", "METRICS_INSERT", "UNMATCHED"]

UNMATCHED = "(no route)"

METRICS_INSERT = (
    "INSERT INTO request_metrics (service_name, endpoint, method, status_code, latency_ms, at)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
)


class RequestMetricsMiddleware:
    """Times each HTTP request and hands one row to the app's ``state.metrics_writer``.

    The endpoint is the route template (``/inventory/{product_id}``) so the table stays small;
    a request no route matched is recorded as ``UNMATCHED``, never by its path (a path can
    hold a NUL, which Postgres refuses: one such row would lose the whole batch).
    """

    def __init__(self, app: ASGIApp, service_name: str) -> None:
        self.app = app
        self.service_name = service_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            writer: BatchWriter | None = getattr(scope["app"].state, "metrics_writer", None)
            if writer is not None:
                route = scope.get("route")
                endpoint = getattr(route, "path", None) or UNMATCHED
                writer.add(
                    (
                        self.service_name,
                        endpoint,
                        scope.get("method", ""),
                        status["code"],
                        (time.perf_counter() - start) * 1000.0,
                        utcnow(),
                    )
                )
