"""The reports folder over HTTP, read-only: what ``gameday serve --reports`` runs.

    python -m gameday.reports_server --dir reports --host 127.0.0.1 --port 8088

Starlette's ``StaticFiles`` (``html=True``: ``/`` is ``index.html``) under uvicorn: GET
and HEAD only (405 otherwise), paths resolved inside the folder (``..``, encoded or not,
a symlink out of it, a NUL byte: 404), a missing file a plain 404. Every answer carries
``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer``, so a report's
file is never taken for another type and a link out of a report does not name the run.
Loopback by default: what the reports hold is readable by anyone who can reach the port.
"""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gameday.http import is_loopback

__all__ = ["DEFAULT_PORT", "reports_app", "public_url", "is_loopback", "main"]

DEFAULT_PORT = 8088
_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
            (b"cache-control", b"no-cache")]


class _SafeHeaders:
    """Adds :data:`_HEADERS` to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


def reports_app(reports_dir: str | Path) -> Starlette:
    """The ASGI app serving ``reports_dir`` (which must exist)."""
    files = StaticFiles(directory=Path(reports_dir), html=True, check_dir=True)
    return Starlette(routes=[Mount("/", app=files)], middleware=[Middleware(_SafeHeaders)])


def public_url(host: str, port: int) -> str:
    """The base URL people use for a server listening on ``host``:``port`` (a wildcard
    address is named by this machine's name)."""
    if host in ("0.0.0.0", "::", ""):
        host = socket.getfqdn()
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gameday.reports_server",
                                     description="Serve the reports folder over HTTP.")
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    import uvicorn

    args.dir.mkdir(parents=True, exist_ok=True)
    uvicorn.run(reports_app(args.dir), host=args.host, port=args.port, log_level="warning",
                server_header=False, proxy_headers=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
