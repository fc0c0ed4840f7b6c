"""A lean keep-alive HTTP/1.1 GET client: the voter's fan-out and the monitor's checks.

Why not httpx here: profiled under load (py-spy, BENCHMARKS.md), httpx + httpcore + anyio
took about 60 % of the voter's CPU — three client requests per vote, each through
redirect/auth/cookie handling, a pool scan and anyio's stream wrappers. On a 2-core
machine that made the voter the first thing to saturate, and a saturated voter times out
on healthy replicas. This client does only what the fan-out needs: ``GET`` on one
origin over plain asyncio streams, idle connections reused (LIFO), bodies framed by
``Content-Length`` (or chunked), a whole-request deadline.

Errors: :class:`TimeoutError` when no full answer came within ``timeout_s``;
:class:`Http1Error` (an :class:`OSError`) for a refused, reset or malformed exchange, and
for a path that is not already percent-encoded ASCII without spaces (the caller must
encode ids: a raw space or CR/LF would split the request line).
A cancelled or failed request closes its connection, so nothing leaks into the pool, and
an idle connection older than ``_IDLE_S`` is closed the next time a connection is given
back: after a burst (a slow replica makes the voter open many at once) the LIFO pool
reuses the newest and would otherwise keep the rest open, closed by the server and never
by us, for as long as the process lives (the soak saw the voter's sockets grow).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Http1Client", "Http1Error", "Response"]

_IDLE_S = 3.0  # uvicorn closes idle keep-alive connections after 5 s
_MAX_HEAD = 64 * 1024


class Http1Error(OSError):
    """The replica refused, reset or garbled the exchange."""


class Response:
    __slots__ = ("status_code", "content")

    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code = status_code
        self.content = content

    def json(self) -> Any:
        return json.loads(self.content)


_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter, float]


class Http1Client:
    """GETs to one origin (``base_url``, e.g. ``http://127.0.0.1:5001``)."""

    def __init__(self, base_url: str, *, timeout_s: float, max_idle: int = 32) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.base = f"{parts.scheme}://{parts.netloc}"
        self.timeout_s = timeout_s
        self.max_idle = max_idle
        self._idle: list[_Conn] = []
        self._host_header = f"Host: {parts.netloc}\r\n".encode()
        self.in_flight = 0  # requests started and not yet ended (the voter's gauge)
        self.max_in_flight = 0
        self.connections_opened = 0

    async def get(self, url: str) -> Response:
        """``GET url`` (absolute, on this origin, or a path). Raises TimeoutError, Http1Error."""
        path = url[len(self.base):] if url.startswith(self.base) else url
        if not path.isascii() or not path.isprintable() or " " in path:
            raise Http1Error(f"path not percent-encoded: {path[:80]!r}")
        request = b"GET " + path.encode() + b" HTTP/1.1\r\n" + self._host_header + b"\r\n"
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._get(request)
        finally:
            self.in_flight -= 1

    async def _get(self, request: bytes) -> Response:
        async with asyncio.timeout(self.timeout_s):
            conn = self._take()
            if conn is not None:
                try:
                    return await self._exchange(conn, request)
                except (Http1Error, asyncio.IncompleteReadError, ConnectionError):
                    pass  # the server closed the idle connection: once more on a new one
            self.connections_opened += 1
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError as exc:
                raise Http1Error(f"cannot connect to {self.base}: {exc}") from exc
            try:
                return await self._exchange((reader, writer, 0.0), request)
            except asyncio.IncompleteReadError as exc:
                raise Http1Error(f"{self.base} closed the connection mid-answer") from exc
            except ConnectionError as exc:
                raise Http1Error(f"{self.base}: {exc}") from exc

    def _take(self) -> _Conn | None:
        now = time.monotonic()
        while self._idle:
            reader, writer, since = self._idle.pop()
            if now - since < _IDLE_S and not reader.at_eof() and not writer.is_closing():
                return reader, writer, since
            writer.close()
        return None

    async def _exchange(self, conn: _Conn, request: bytes) -> Response:
        reader, writer, _ = conn
        keep = False
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > _MAX_HEAD:
                raise Http1Error(f"{self.base}: answer head too long")
            lines = head.decode("latin-1").split("\r\n")
            try:
                status = int(lines[0].split(" ", 2)[1])
            except (IndexError, ValueError) as exc:
                raise Http1Error(f"{self.base}: bad status line {lines[0]!r}") from exc
            headers = {}
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip().lower()
            if "content-length" in headers:
                body = await reader.readexactly(int(headers["content-length"]))
            elif headers.get("transfer-encoding") == "chunked":
                body = await self._chunked(reader)
            else:
                body = await reader.read()  # framed by the close
                headers["connection"] = "close"
            keep = headers.get("connection") != "close"
            return Response(status, body)
        except asyncio.LimitOverrunError as exc:
            raise Http1Error(f"{self.base}: answer head too long") from exc
        except ValueError as exc:  # a garbled Content-Length or chunk size
            raise Http1Error(f"{self.base}: garbled answer: {exc}") from exc
        finally:
            if keep and len(self._idle) < self.max_idle:
                now = time.monotonic()
                self._idle.append((reader, writer, now))
                self._close_stale(now)
            else:
                writer.close()

    def _close_stale(self, now: float) -> None:
        """Close the idle connections older than ``_IDLE_S``: the oldest are at the bottom."""
        stale = 0
        while stale < len(self._idle) and now - self._idle[stale][2] >= _IDLE_S:
            self._idle[stale][1].close()
            stale += 1
        if stale:
            del self._idle[:stale]

    @staticmethod
    async def _chunked(reader: asyncio.StreamReader) -> bytes:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)

    async def aclose(self) -> None:
        while self._idle:
            self._idle.pop()[1].close()
