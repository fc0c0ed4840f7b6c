"""The guards every service installs, on a real uvicorn server: 500s tell nothing and keep
the connection; bodies over the limit are 413."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fuzz_client import KeepAlive
from stack.common import guards


def _app() -> FastAPI:
    app = FastAPI()
    guards.install(app, "test-svc")

    @app.get("/boom")
    async def boom() -> dict:
        raise RuntimeError("secret detail of the database password=hunter2")

    @app.get("/ok")
    async def ok() -> dict:
        return {"ok": True}

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        return {"size": len(await request.body())}

    return app


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(_app(), host="127.0.0.1", port=port, log_level="critical")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield port
    srv.should_exit = True
    thread.join(timeout=10)


def test_an_unhandled_error_is_a_500_that_says_nothing_and_keeps_the_connection(server):
    conn = KeepAlive("127.0.0.1", server)
    crashed = conn.request("GET", "/boom")
    assert crashed.status == 500
    assert b"hunter2" not in crashed.body and b"RuntimeError" not in crashed.body
    assert b'"error":"internal error"' in crashed.body and b"request_id" in crashed.body
    after = conn.request("GET", "/ok")
    assert after.status == 200
    assert not crashed.dropped and not after.prior_dropped  # the same connection served both
    conn.close()


def test_a_body_over_the_limit_is_413_and_the_connection_stays(server):
    conn = KeepAlive("127.0.0.1", server)
    fits = conn.request("POST", "/echo", b"x" * guards.MAX_BODY_BYTES)
    assert (fits.status, fits.body) == (200, b'{"size":%d}' % guards.MAX_BODY_BYTES)
    big = conn.request("POST", "/echo", b"x" * (10 << 20))
    assert big.status == 413
    assert b"request body larger than 65536 bytes" in big.body
    after = conn.request("GET", "/ok")
    assert after.status == 200 and not after.prior_dropped
    conn.close()


def test_a_chunked_body_over_the_limit_is_413(server):
    conn = KeepAlive("127.0.0.1", server)
    chunk = b"x" * 16384
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(8)) + b"0\r\n\r\n"
    raw = (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    answer = conn.send_raw(raw)
    assert answer.status == 413
    conn.close()
