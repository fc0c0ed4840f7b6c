"""A direct path to a service's hottest route, inside its guards.

FastAPI's per-request work on a plain GET — routing, solving the endpoint's parameters,
encoding what it returns — costs more CPU than the answer itself. Measured with ``hey``
at 400 req/s on this 2-core machine, one uvicorn process answering the same six-field JSON
(load 4–5): **0.58–0.72 ms** of CPU per request through a FastAPI route behind the
guards, **0.27–0.29 ms** through this middleware in the same app, 0.19–0.21 ms with no
framework at all. Every client read of the stack is one voter request and up to three
replica requests, so at the nightly's 150 req/s this is ~20 % of one of the machine's two
cores (BENCHMARKS.md, issue 16).

:func:`install` registers ``handler`` for a route template with one trailing parameter
(``/inventory/{product_id}``). A ``GET`` whose path is the template's prefix and one
non-empty segment, and which carries no body, is answered by ``handler(request, segment)``
(a Starlette response) without going through FastAPI's router; anything else — ``HEAD``,
a body, another path — goes on to FastAPI as before, where the same route stays
registered (and documented). Inside the direct path the answers are the route's:
:class:`~stack.common.errors.ApiError` becomes the same error JSON the exception handlers
give, any other exception goes on to the catch-all 500 as from a route, and
``scope["route"]`` is the route, so request metrics name it as before. It is installed as
the innermost middleware, inside those of :func:`stack.common.guards.install`: the size
limit, the catch-all and the metrics wrap it as they wrap every route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from stack.common.errors import ApiError, error_response

__all__ = ["Handler", "DirectRouteMiddleware", "install"]

Handler = Callable[[Request, str], Awaitable[Response]]


def _has_body(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False


class DirectRouteMiddleware:
    """Answers ``GET {prefix}{segment}`` with ``handler`` (module docstring)."""

    def __init__(self, app: ASGIApp, prefix: str, route: BaseRoute, handler: Handler) -> None:
        self.app = app
        self.prefix = prefix
        self.route = route
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        segment = path[len(self.prefix):] if path.startswith(self.prefix) else ""
        if (not segment or "/" in segment or scope.get("method") != "GET"
                or _has_body(scope)):
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        scope.setdefault("path_params", {})
        request = Request(scope, receive)
        try:
            response = await self.handler(request, segment)
        except ApiError as exc:
            response = error_response(exc.status, exc.message, **exc.extra)
        await response(scope, receive, send)


def install(app: FastAPI, template: str, handler: Handler) -> None:
    """Answer ``template``'s GETs directly (module docstring); ``template`` must be a
    route of ``app`` that ends in one ``{parameter}``."""
    prefix, _, last = template.rpartition("/")
    if not (last.startswith("{") and last.endswith("}")):
        raise ValueError(f"{template!r}: the direct path takes a template ending in "
                         "one {parameter}")
    route = next((r for r in app.routes if getattr(r, "path", None) == template), None)
    if route is None:
        raise ValueError(f"{template!r} is not a route of this app: register it first")
    if app.middleware_stack is not None:
        raise RuntimeError("install the direct path before the app serves requests")
    # innermost: inside the guards (add_middleware would put it outside them)
    app.user_middleware.append(Middleware(DirectRouteMiddleware, prefix=prefix + "/",
                                          route=route, handler=handler))
