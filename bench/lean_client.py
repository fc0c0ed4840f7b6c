"""The load generator's HTTP/1.1 client: a keep-alive pool of asyncio protocols.

Why not httpx here: at 150 req/s httpx's request path took about one core of this
2-core machine (py-spy: 726 of 965 samples), so the open-loop generator fell behind its
own schedule. bench/loadgen.py measures the candidates side by side (BENCHMARKS.md
"Load generator client"); this client parses answers with httptools (the parser of
uvicorn and of Node's http_parser, a well-kept C library) and writes requests itself.

Contract:

- One request per connection at a time (no pipelining); a connection whose answer came
  back whole and says keep-alive goes back to its host's idle pool (most recent first),
  any other is closed. At most ``max_connections`` connections are open per client; a
  request that finds none free waits for one within its own deadline.
- :meth:`LoadClient.request` has one total deadline from its call (connect, send, answer);
  past it the connection is aborted and :class:`TimeoutError` raised.
- Failures raise httpx's own exception types, so :func:`gameday.http.classify` stays the
  one place that classifies: ``httpx.ConnectError`` (refused, unreachable),
  ``httpx.ReadError`` (connection lost before the answer), ``httpx.RemoteProtocolError``
  (not HTTP/1.x, or closed mid-answer), ``httpx.UnsupportedProtocol`` (not http/https).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import httptools
import httpx

__all__ = ["LoadClient", "LoadResponse"]


@dataclass(slots=True)
class LoadResponse:
    """A whole answer: status code and body bytes (headers are not kept)."""

    status_code: int
    content: bytes

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError when it is not JSON)."""
        return json.loads(self.content)


@lru_cache(maxsize=4096)
def _split(url: str) -> tuple[tuple[str, str, int], str, bytes]:
    """(scheme, host, port), path with query, and the Host header of ``url``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise httpx.UnsupportedProtocol(f"the load generator sends http(s) only, not {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (parts.scheme, parts.hostname, port), path, parts.netloc.encode("ascii")


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; httptools calls the ``on_*`` methods."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[LoadResponse] | None = None
        self.body: list[bytes] = []
        self.complete = False
        self.closed = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("the server upgraded the connection"))
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"not an HTTP/1.x answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            if self.body or self.parser.get_status_code():
                self.waiter.set_exception(httpx.RemoteProtocolError("closed mid-answer"))
            else:
                self.waiter.set_exception(httpx.ReadError(
                    f"connection closed before an answer{f': {exc}' if exc else ''}"))

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(LoadResponse(self.parser.get_status_code(),
                                                b"".join(self.body)))

    # ours
    def send(self, raw: bytes) -> asyncio.Future[LoadResponse]:
        assert self.transport is not None
        self.body, self.complete = [], False
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return self.waiter

    def reusable(self) -> bool:
        return not self.closed and self.complete and self.parser.should_keep_alive()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        self.close()


class LoadClient:
    """A pool of keep-alive connections per (scheme, host, port). Use ``async with``."""

    def __init__(self, *, max_connections: int = 2048,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.max_connections = max_connections
        self._ssl = ssl_context
        self._idle: dict[tuple[str, str, int], deque[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._waiting: deque[asyncio.Future[None]] = deque()

    async def __aenter__(self) -> LoadClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every connection (requests in flight fail)."""
        for conn in list(self._open):
            conn.close()
        self._open.clear()
        self._idle.clear()

    @property
    def open_connections(self) -> int:
        return len(self._open)

    async def request(self, method: str, url: str, *, json_body: Any = None,
                      timeout_s: float = 1.0) -> LoadResponse:
        """Send one request and return its whole answer within ``timeout_s`` s."""
        key, path, host = _split(url)
        payload = b"" if json_body is None else json.dumps(json_body).encode()
        head = [f"{method} {path} HTTP/1.1\r\nHost: ".encode(), host,
                b"\r\nUser-Agent: gameday-load\r\nAccept: */*\r\n"]
        if json_body is not None:
            head.append(b"Content-Type: application/json\r\n")
        if payload or method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {len(payload)}\r\n".encode())
        raw = b"".join((*head, b"\r\n", payload))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        conn: _Connection | None = None
        try:
            async with asyncio.timeout_at(deadline):
                conn = await self._acquire(key)
                response = await conn.send(raw)
        except BaseException:  # timed out, failed or cancelled: the connection is spent
            if conn is not None:
                conn.close()
            raise
        finally:
            if conn is not None:
                self._release(key, conn)
        return response

    async def _acquire(self, key: tuple[str, str, int]) -> _Connection:
        idle = self._idle.get(key)
        while True:
            while idle:
                conn = idle.pop()
                if not conn.closed:
                    return conn
                self._open.discard(conn)
            if len(self._open) >= self.max_connections:
                self._evict_idle()  # an idle connection to another host makes room
            if len(self._open) < self.max_connections:
                return await self._connect(key)
            wake = asyncio.get_running_loop().create_future()
            self._waiting.append(wake)
            try:
                await wake
            finally:
                if not wake.done():
                    wake.cancel()
            idle = self._idle.get(key)

    async def _connect(self, key: tuple[str, str, int]) -> _Connection:
        scheme, host, port = key
        conn = _Connection()
        self._open.add(conn)  # counted while connecting, so the cap holds
        try:
            await asyncio.get_running_loop().create_connection(
                lambda: conn, host, port,
                ssl=(self._ssl or ssl.create_default_context()) if scheme == "https" else None,
            )
        except OSError as exc:
            self._open.discard(conn)
            self._wake()
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
        except BaseException:
            self._open.discard(conn)
            self._wake()
            raise
        return conn

    def _release(self, key: tuple[str, str, int], conn: _Connection) -> None:
        if conn.reusable():
            self._idle.setdefault(key, deque()).append(conn)
        else:
            conn.close()
            self._open.discard(conn)
        self._wake()

    def _evict_idle(self) -> None:
        for idle in self._idle.values():
            if idle:
                conn = idle.popleft()
                conn.close()
                self._open.discard(conn)
                return

    def _wake(self) -> None:
        while self._waiting:
            wake = self._waiting.popleft()
            if not wake.done():
                wake.set_result(None)
                return
