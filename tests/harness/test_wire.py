"""gameday.wire, the load generator's HTTP/1.1 client, against raw sockets on 127.0.0.1:
how answers are framed, what is never sent, the pool's limits and reuse, deadlines, and
that a request on a kept-alive connection takes no task."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import pytest

from gameday import wire
from gameday.http import classify
from gameday.load import run_coroutine
from gameday.wire import WireClient
from raw_server import raw_server, read_request

Outcome = tuple[int, bytes, str]


def _answering(reply: bytes, seen: list[bytes] | None = None, *, close: bool = False):
    def handle(conn: socket.socket) -> None:
        while read_request(conn, seen) is not None:
            conn.sendall(reply)
            if close:
                return
    return handle


def _send_all(calls: list[tuple[str, str, dict[str, Any]]], *, timeout_s: float = 2.0,
              max_connections: int = 64) -> list[Outcome]:
    """Send every (method, url, options) at once; their outcomes in that order."""
    async def go() -> list[Outcome]:
        client = WireClient(max_connections=max_connections)
        loop = asyncio.get_running_loop()
        futures = []
        for method, url, options in calls:
            fut: asyncio.Future[Outcome] = loop.create_future()
            client.send(method, url, lambda s, b, e, f=fut: f.set_result(
                (s, b, classify(e) if e else "")), timeout_s=timeout_s, **options)
            futures.append(fut)
        try:
            return list(await asyncio.gather(*futures))
        finally:
            client.close()
    return run_coroutine(go())


def test_chunked_and_until_close_bodies_are_read_whole() -> None:
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\n{\"a\":\r\n3\r\n 1}\r\n0\r\n\r\n")
    with raw_server(_answering(chunked)) as (base, _):
        assert _send_all([("GET", f"{base}/x", {})]) == [(200, b'{"a": 1}', "")]
    until_close = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it"
    with raw_server(_answering(until_close, close=True)) as (base, _):
        assert _send_all([("GET", f"{base}/x", {})]) == [(200, b"all of it", "")]


def test_a_head_answer_has_no_body_and_an_interim_answer_is_skipped() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
    with raw_server(_answering(head)) as (base, _):
        assert _send_all([("HEAD", f"{base}/x", {})], timeout_s=1.0) == [(200, b"", "")]
    interim = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" \
              b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
    with raw_server(_answering(interim)) as (base, _):
        assert _send_all([("POST", f"{base}/x", {})]) == [(201, b"ok", "")]


def test_what_is_sent_json_headers_host_and_a_quoted_path() -> None:
    seen: list[bytes] = []
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    with raw_server(_answering(ok, seen)) as (base, _):
        port = base.rsplit(":", 1)[1]
        out = _send_all([("POST", f"{base}/caf\u00e9 x?q=a b", {
            "json_body": {"n": 1}, "headers": {"X-Token": "t0k"}})])
    assert out == [(200, b"", "")]
    request = seen[0]
    assert request.startswith(b"POST /caf%C3%A9%20x?q=a%20b HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{port}\r\n".encode() in request
    assert b"X-Token: t0k\r\n" in request and b"Content-Type: application/json\r\n" in request
    assert request.endswith(b'Content-Length: 8\r\n\r\n{"n": 1}')


@pytest.mark.parametrize(("method", "url", "options"), [
    ("GET", "/x", {"headers": {"X-A": "v\r\nX-Injected: 1"}}),
    ("GET", "/x", {"headers": {"Bad Name": "v"}}),
    ("GET", "ftp://127.0.0.1/x", {}),
    ("GET", "http:///nohost", {}),
    ("POST", "/x", {"json_body": {"o": object()}}),
    ("POST", "/x", {"json_body": {"n": float("nan")}}),  # JSON has no NaN
])
def test_what_cannot_be_sent_is_a_transport_failure_and_nothing_goes_out(
        method: str, url: str, options: dict[str, Any]) -> None:
    with raw_server(_answering(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")) \
            as (base, accepted):
        full = url if "://" in url else base + url
        assert _send_all([(method, full, options)]) == [(0, b"", "transport")]
    assert accepted[0] == 0


def test_an_endless_answer_is_refused_not_held(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire, "MAX_ANSWER_BYTES", 1 << 20)

    def endless(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
        while True:
            conn.sendall(chunk)

    with raw_server(endless) as (base, _):
        assert _send_all([("GET", f"{base}/x", {})], timeout_s=5.0) == [(0, b"", "protocol")]


def test_the_pool_caps_connections_and_queued_requests_wait_their_turn() -> None:
    def slow(conn: socket.socket) -> None:
        while read_request(conn) is not None:
            time.sleep(0.05)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    with raw_server(slow) as (base, accepted):
        out = _send_all([("GET", f"{base}/{i}", {}) for i in range(4)], max_connections=1)
    assert out == [(200, b"", "")] * 4 and accepted[0] == 1
    with raw_server(slow) as (base, accepted):  # the last in line times out waiting
        out = _send_all([("GET", f"{base}/{i}", {}) for i in range(4)], max_connections=1,
                        timeout_s=0.12)
    assert [o[2] for o in out][:2] == ["", ""] and out[-1] == (0, b"", "timeout")


def test_a_timeout_is_never_reported_before_its_deadline_and_spends_the_connection() -> None:
    release = threading.Event()

    def hang(conn: socket.socket) -> None:
        read_request(conn)
        release.wait(10)

    async def go(base: str) -> list[tuple[str, float]]:
        client = WireClient()
        loop = asyncio.get_running_loop()
        out: list[tuple[str, float]] = []
        done = asyncio.Event()
        for _ in range(20):
            started = time.perf_counter()
            client.send("GET", f"{base}/x", lambda s, b, e, t=started: (
                out.append((classify(e), time.perf_counter() - t)),
                len(out) == 20 and loop.call_soon(done.set)), timeout_s=0.05)
            await asyncio.sleep(0.003)
        await done.wait()
        assert client.open_connections == 0  # each timed-out connection was closed
        client.close()
        return out

    try:
        with raw_server(hang) as (base, _):
            out = run_coroutine(go(base))
    finally:
        release.set()
    assert {e for e, _ in out} == {"timeout"}
    assert min(t for _, t in out) >= 0.05


def test_an_idle_connection_past_idle_s_is_not_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire, "IDLE_S", 0.05)

    async def go(base: str) -> list[Outcome]:
        client = WireClient()
        out: list[Outcome] = []
        for _ in range(2):
            fut: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
            client.send("GET", f"{base}/x", lambda s, b, e, f=fut: f.set_result(
                (s, b, classify(e) if e else "")), timeout_s=1.0)
            out.append(await fut)
            await asyncio.sleep(0.1)
        client.close()
        return out

    with raw_server(_answering(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")) \
            as (base, accepted):
        assert run_coroutine(go(base)) == [(200, b"", "")] * 2
    assert accepted[0] == 2


def test_a_request_on_a_kept_alive_connection_takes_no_task() -> None:
    async def go(base: str) -> tuple[int, int]:
        client = WireClient()
        loop = asyncio.get_running_loop()
        made = 0
        factory = loop.get_task_factory()

        def counting(loop: asyncio.AbstractEventLoop, coro: Any, **kw: Any) -> Any:
            nonlocal made
            made += 1
            if factory is None:
                return asyncio.Task(coro, loop=loop, **kw)
            return factory(loop, coro, **kw)

        first: asyncio.Future[None] = loop.create_future()
        client.send("GET", f"{base}/x", lambda *_: first.set_result(None), timeout_s=1.0)
        await first  # one connection opened (the only task) and back in the pool
        loop.set_task_factory(counting)
        answered = 0
        done = asyncio.Event()

        def one(*_: Any) -> None:
            nonlocal answered
            answered += 1
            if answered == 50:
                done.set()

        for _ in range(50):
            client.send("GET", f"{base}/x", one, timeout_s=1.0)
            await asyncio.sleep(0.002)
        await done.wait()
        assert made == 0
        loop.create_task(asyncio.sleep(0))  # the count counts
        loop.set_task_factory(factory)
        client.close()
        return made, answered

    with raw_server(_answering(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")) \
            as (base, accepted):
        made, answered = run_coroutine(go(base))
    assert answered == 50 and made == 1 and accepted[0] == 1
