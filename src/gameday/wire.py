"""The load generator's HTTP/1.1 client: callbacks on asyncio protocols, no task per request.

Why not aiohttp (or httpx) here: the generator is the project's measuring instrument, and
a coroutine, a task and a future per request cost it its tail. Side by side on a quiet
machine against nginx (BENCHMARKS.md "The same probe on a quiet machine"), the generator
on aiohttp read a p99 1.62× wrk's; the same timing without aiohttp but with a task per
request 1.38×; a sender with no task or future per request 0.67×. So a request here is
a write on a kept-alive transport and a callback when its answer is whole; answers are
parsed by httptools (llhttp, the parser of uvicorn and Node.js).

Contract:

- :meth:`WireClient.send` never raises and never blocks: it calls ``done(status,
  body, error)`` exactly once, later, from the event loop: ``(status, body bytes, None)``
  for a whole answer, ``(0, b"", exception)`` for none. The exceptions are httpx's types,
  so :func:`gameday.http.classify` stays the one place that classifies:
  ``httpx.ConnectError`` (refused, unreachable) → "connect"; ``httpx.RemoteProtocolError``
  (closed before or during the answer, not HTTP/1.x) → "protocol"; ``TimeoutError`` (the
  deadline passed) → "timeout"; ``httpx.UnsupportedProtocol`` / ``httpx.TransportError``
  (a URL or header that cannot be sent) → "transport".
- One total deadline per request from the call of :meth:`send` (waiting for a connection,
  connecting, sending, the answer). Its timer is the loop's, whose clock ticks in whole
  milliseconds and may fire early on the ``perf_counter`` clock latencies are read from: a
  timer that fires early is set again, so a timeout is never reported before its deadline.
  A timed-out request's connection is closed (its answer may still come).
- One request per connection at a time (no pipelining). A connection whose answer came
  whole and says keep-alive goes back to its host's idle pool (most recent first); one
  idle for longer than :data:`IDLE_S` is closed instead of reused (servers close idle
  connections; uvicorn after 5 s, and a request written as they do fails). At most
  ``max_connections`` are open; a request that finds none free waits, in order, within
  its own deadline. A new connection is the only thing that takes a task.
- Requests carry ``Host``, ``User-Agent: gameday-load``, ``Accept: */*``, the caller's
  headers (a caller's ``Host`` replaces ours), and with a JSON body ``Content-Type:
  application/json`` and ``Content-Length``. A header name that is not an HTTP token or a
  value with a line break is refused ("transport"), never sent. The answer's body is
  framed by Content-Length, chunked encoding or the end of the connection; an answer to
  ``HEAD`` has none. 1xx interim answers are skipped. An answer longer than
  :data:`MAX_ANSWER_BYTES` is refused ("protocol"), never held whole.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import time
from collections import deque
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlsplit

import httptools
import httpx

from gameday.http import ssl_context

__all__ = ["IDLE_S", "MAX_ANSWER_BYTES", "Done", "WireClient"]

#: ``done(status, body, error)``: see the module docstring.
Done = Callable[[int, bytes, BaseException | None], None]
#: An idle connection older than this is closed rather than reused.
IDLE_S = 4.0
#: The most bytes one answer may take (head and body); past it the answer is refused as
#: a protocol failure and its connection closed, so an endless answer cannot take the
#: generator's memory.
MAX_ANSWER_BYTES = 32 * 1024 * 1024

_Key = tuple[str, str, int]
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


@lru_cache(maxsize=4096)
def _split(url: str) -> tuple[_Key, bytes, bytes]:
    """(scheme, host, port), the request target and the Host header of ``url``."""
    try:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("not an http(s) URL with a host")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        target = quote(parts.path or "/", safe=_PATH_SAFE)
        if parts.query:
            target += "?" + quote(parts.query, safe=_QUERY_SAFE)
        host = parts.netloc.rpartition("@")[2].encode("idna")
    except (ValueError, UnicodeError) as exc:
        raise httpx.UnsupportedProtocol(f"cannot send to {url[:200]!r}: {exc}") from None
    return (parts.scheme, parts.hostname, port), target.encode("ascii"), host


def encode_request(method: str, url: str, *, json_body: Any = None,
                   headers: Mapping[str, str] | None = None) -> tuple[_Key, bytes]:
    """Where ``url`` goes and the bytes of its request (raises an httpx exception for what
    cannot be sent: see the module docstring)."""
    key, target, host = _split(url)
    lines = [b"%s %s HTTP/1.1\r\n" % (method.encode("ascii"), target)]
    given = {k.lower() for k in headers} if headers else set()
    if "host" not in given:
        lines.append(b"Host: %s\r\n" % host)
    if "user-agent" not in given:
        lines.append(b"User-Agent: gameday-load\r\n")
    if "accept" not in given:
        lines.append(b"Accept: */*\r\n")
    for name, value in (headers or {}).items():
        value = str(value)
        if not _TOKEN.match(name) or any(c in value for c in "\r\n\0"):
            raise httpx.TransportError(f"header {name[:60]!r} cannot be sent: a name must be "
                                       "an HTTP token and a value one line")
        lines.append(f"{name}: {value}\r\n".encode())
    payload = b""
    if json_body is not None:
        try:
            payload = json.dumps(json_body, allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise httpx.TransportError(f"the body is not JSON: {exc}") from None
        if "content-type" not in given:
            lines.append(b"Content-Type: application/json\r\n")
    if payload or method in ("POST", "PUT", "PATCH"):
        lines.append(b"Content-Length: %d\r\n" % len(payload))
    lines.append(b"\r\n")
    lines.append(payload)
    return key, b"".join(lines)


class _Exchange:
    """One request from :meth:`WireClient.send` to its ``done``."""

    __slots__ = ("key", "raw", "done", "deadline", "timer", "conn", "head_only", "finished")

    def __init__(self, key: _Key, raw: bytes, done: Done, deadline: float,
                 head_only: bool) -> None:
        self.key, self.raw, self.done, self.deadline = key, raw, done, deadline
        self.head_only = head_only
        self.timer: asyncio.TimerHandle | None = None
        self.conn: _Connection | None = None
        self.finished = False


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; httptools calls the ``on_*`` methods."""

    def __init__(self, client: WireClient, key: _Key) -> None:
        self.client, self.key = client, key
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.ex: _Exchange | None = None
        self.body: list[bytes] = []
        self.framed = self.headers_done = self.closed = False
        self.idle_since = 0.0
        self.taken = 0  # bytes of the current answer so far

    # ---- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.ex is None:  # bytes nobody asked for: the connection is not ours to trust
            self.abort()
            return
        self.taken += len(data)
        if self.taken > MAX_ANSWER_BYTES:
            self._fail(httpx.RemoteProtocolError(
                f"the answer is longer than {MAX_ANSWER_BYTES // 2**20} MiB"))
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("the server upgraded the connection"))
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"not an HTTP/1.x answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.client._forget(self)
        ex, self.ex = self.ex, None
        if ex is None:
            return
        if self.headers_done and not self.framed:  # a body that ends with the connection
            self.client._finish(ex, self.parser.get_status_code(), b"".join(self.body), None)
            return
        said = "during the answer" if self.headers_done else "before an answer"
        self.client._finish(ex, 0, b"", httpx.RemoteProtocolError(
            f"the server closed the connection {said}" + (f": {exc}" if exc else "")))

    # ---- httptools -------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-length" or (name == b"transfer-encoding"
                                         and b"chunked" in value.lower()):
            self.framed = True

    def on_headers_complete(self) -> None:
        self.headers_done = True
        if self.ex is not None and self.ex.head_only \
                and self.parser.get_status_code() >= 200:
            # the parser, not knowing the request was HEAD, would wait for a body
            self._complete(reusable=False)

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self.parser.get_status_code() < 200:  # an interim answer: wait on
            self.body, self.framed, self.headers_done = [], False, False
            return
        self._complete(reusable=self.parser.should_keep_alive())

    # ---- ours -------------------------------------------------------------------------
    def start(self, ex: _Exchange) -> None:
        self.ex, ex.conn = ex, self
        self.body, self.framed, self.headers_done, self.taken = [], False, False, 0
        assert self.transport is not None
        self.transport.write(ex.raw)

    def _complete(self, *, reusable: bool) -> None:
        ex, self.ex = self.ex, None
        if ex is None:
            return
        ex.conn = None
        self.client._finish(ex, self.parser.get_status_code(), b"".join(self.body), None)
        self.client._release(self, reusable and not self.closed)

    def _fail(self, exc: BaseException) -> None:
        ex, self.ex = self.ex, None
        if ex is not None:
            self.client._finish(ex, 0, b"", exc)
        self.abort()

    def abort(self) -> None:
        self.closed = True
        self.client._forget(self)
        if self.transport is not None:
            self.transport.abort()


class WireClient:
    """A pool of keep-alive HTTP/1.1 connections per (scheme, host, port). Create it in
    the event loop that uses it; :meth:`close` it there. TLS uses ``ssl_context``, by
    default the harness's one shared context (:func:`gameday.http.ssl_context`)."""

    def __init__(self, *, max_connections: int = 2048,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.max_connections = max_connections
        self._ssl = ssl_context
        self._loop = asyncio.get_running_loop()
        self._idle: dict[_Key, list[_Connection]] = {}
        self._conns: set[_Connection] = set()
        self._connecting: dict[asyncio.Task[None], _Exchange] = {}
        self._queued: deque[_Exchange] = deque()
        self._closed = False

    @property
    def open_connections(self) -> int:
        """Connections open or being opened."""
        return len(self._conns) + len(self._connecting)

    def send(self, method: str, url: str, done: Done, *, timeout_s: float,
             json_body: Any = None, headers: Mapping[str, str] | None = None) -> None:
        """Send one request; ``done`` is called once with its outcome (module docstring)."""
        try:
            key, raw = encode_request(method, url, json_body=json_body, headers=headers)
        except httpx.HTTPError as exc:
            self._loop.call_soon(done, 0, b"", exc)
            return
        ex = _Exchange(key, raw, done, time.perf_counter() + timeout_s, method == "HEAD")
        ex.timer = self._loop.call_later(timeout_s, self._expire, ex)
        if self._closed:
            self._finish(ex, 0, b"", httpx.TransportError("the load client is closed"))
        elif not self._queued and (conn := self._take_idle(key)) is not None:
            conn.start(ex)
        else:
            self._queued.append(ex)
            self._pump()

    async def fetch(self, method: str, url: str, *, timeout_s: float, json_body: Any = None,
                    headers: Mapping[str, str] | None = None
                    ) -> tuple[int, bytes, BaseException | None]:
        """:meth:`send`, awaited (one future): ``(status, body, error)``. For the few
        requests that wait anyway (follow-ups); a scheduled request takes :meth:`send`."""
        answer: asyncio.Future[tuple[int, bytes, BaseException | None]] = (
            self._loop.create_future())

        def done(status: int, body: bytes, error: BaseException | None) -> None:
            if not answer.done():
                answer.set_result((status, body, error))

        self.send(method, url, done, timeout_s=timeout_s, json_body=json_body,
                  headers=headers)
        return await answer

    def close(self) -> None:
        """Close every connection; requests not answered yet fail ("transport")."""
        self._closed = True
        for task, ex in list(self._connecting.items()):
            task.cancel()
            self._finish(ex, 0, b"", httpx.TransportError("the load client closed"))
        for conn in list(self._conns):
            answering = conn.ex
            conn.abort()
            if answering is not None:
                self._finish(answering, 0, b"",
                             httpx.TransportError("the load client closed"))
        while self._queued:
            self._finish(self._queued.popleft(), 0, b"",
                         httpx.TransportError("the load client closed"))
        self._idle.clear()

    # ---- the pool ----------------------------------------------------------------------
    def _take_idle(self, key: _Key) -> _Connection | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if conn.closed:
                continue
            if now - conn.idle_since > IDLE_S:
                conn.abort()
                continue
            return conn
        return None

    def _pump(self) -> None:
        """Start queued requests while a connection is idle or may be opened."""
        queued = self._queued
        while queued:
            ex = queued[0]
            if ex.finished:  # timed out while it waited
                queued.popleft()
                continue
            conn = self._take_idle(ex.key)
            if conn is None and self.open_connections >= self.max_connections:
                self._evict_idle()
            if conn is None and self.open_connections >= self.max_connections:
                return
            queued.popleft()
            if conn is not None:
                conn.start(ex)
            else:
                task = self._loop.create_task(self._connect(ex))
                self._connecting[task] = ex
                task.add_done_callback(self._connect_ended)

    def _evict_idle(self) -> None:
        """Close the longest-idle connection (to any host) to make room."""
        for idle in self._idle.values():
            while idle:
                conn = idle.pop(0)
                if not conn.closed:
                    conn.abort()
                    return

    async def _connect(self, ex: _Exchange) -> None:
        scheme, host, port = ex.key
        conn = _Connection(self, ex.key)
        try:
            async with asyncio.timeout(max(ex.deadline - time.perf_counter(), 0.001)):
                await self._loop.create_connection(
                    lambda: conn, host, port,
                    ssl=(self._ssl or ssl_context()) if scheme == "https" else None)
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            self._finish(ex, 0, b"", httpx.ConnectError(
                f"cannot connect to {host}:{port}: {exc or type(exc).__name__}"))
            return
        if self._closed:
            conn.abort()
            return
        self._conns.add(conn)
        if ex.finished:  # timed out while connecting: the connection serves the next one
            self._release(conn, True)
        else:
            conn.start(ex)

    def _connect_ended(self, task: asyncio.Task[None]) -> None:
        self._connecting.pop(task, None)
        if self._queued and not self._closed:  # a failed attempt no longer counts
            self._pump()

    def _release(self, conn: _Connection, reusable: bool) -> None:
        if reusable and not self._closed:
            conn.idle_since = time.monotonic()
            self._idle.setdefault(conn.key, []).append(conn)
        else:
            conn.abort()
        self._pump()

    def _forget(self, conn: _Connection) -> None:
        if conn in self._conns:
            self._conns.discard(conn)
            if self._queued:
                self._loop.call_soon(self._pump)

    # ---- outcomes ----------------------------------------------------------------------
    def _expire(self, ex: _Exchange) -> None:
        if ex.finished:
            return
        early = ex.deadline - time.perf_counter()
        if early > 0:  # the loop's millisecond clock fired before the deadline
            ex.timer = self._loop.call_later(early, self._expire, ex)
            return
        conn = ex.conn
        self._finish(ex, 0, b"", TimeoutError("no whole answer before the deadline"))
        if conn is not None:
            conn.ex = None
            conn.abort()

    def _finish(self, ex: _Exchange, status: int, body: bytes,
                error: BaseException | None) -> None:
        if ex.finished:
            return
        ex.finished = True
        if ex.timer is not None:
            ex.timer.cancel()
        try:
            ex.done(status, body, error)
        except Exception as exc:  # noqa: BLE001 - a caller's bug must not break the pool
            self._loop.call_exception_handler({
                "message": "a load request's done callback raised", "exception": exc})
