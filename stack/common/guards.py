"""What every service puts in front of its routes: a size limit and a last-resort 500.

- :class:`BodyLimitMiddleware` refuses a request body over ``MAX_BODY_BYTES`` with 413,
  from its ``Content-Length`` before reading it, or while reading a chunked one.
- :class:`CatchAllMiddleware` turns an unhandled exception into ``500 {"error":
  "internal error", "request_id"}`` — the exception itself goes to the log under that id,
  never to the client — and, unlike an ``exception_handler(Exception)``, does not
  re-raise: Starlette's outermost error middleware re-raises after answering, and uvicorn
  then drops the client's keep-alive connection.

:func:`install` adds both, the error handlers and the request-metrics middleware, in
the order that lets the metrics see the final status.
"""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stack.common.errors import ApiError, error_response, install_error_handlers
from stack.common.metrics import RequestMetricsMiddleware

__all__ = ["MAX_BODY_BYTES", "BodyLimitMiddleware", "CatchAllMiddleware", "install"]

log = logging.getLogger("stack.guards")

#: The largest request body any route accepts: the biggest legitimate one is ~200 bytes.
MAX_BODY_BYTES = 64 * 1024


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"request body larger than {limit} bytes")


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                exc = _too_large(self.max_bytes)
                await error_response(exc.status, exc.message)(scope, receive, send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _too_large(self.max_bytes)  # answered by the ApiError handler
            return message

        await self.app(scope, limited, send)


class CatchAllMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:
            request_id = uuid.uuid4().hex[:12]
            log.exception("unhandled error (request %s: %s %s)", request_id,
                          scope.get("method"), scope.get("path", "")[:200])
            if started:  # half an answer is out: only closing the connection is left
                raise
            response = error_response(500, "internal error", request_id=request_id)
            await response(scope, receive, send)


def install(app: FastAPI, service_name: str) -> None:
    """Error handlers, the size limit, the catch-all and request metrics, outermost last."""
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(CatchAllMiddleware)
    app.add_middleware(RequestMetricsMiddleware, service_name=service_name)
