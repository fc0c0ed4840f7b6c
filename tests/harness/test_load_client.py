"""The load generator's HTTP path against real sockets on 127.0.0.1: keep-alive reuse and
every way a server can fail on the wire, each recorded as its error class."""

from __future__ import annotations

import socket
import threading

import pytest

from gameday import metrics
from gameday.load import LoadGenerator
from gameday.runbook import LoadSpec
from gameday.targets.base import StackUrls
from raw_server import raw_server as _raw_server
from raw_server import read_request as _read_request

_OK = (b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s')
_BODY = b'{"quorum_achieved": true, "data": {"available_quantity": 7}}'


def _keep_alive(conn: socket.socket) -> None:
    while _read_request(conn):
        conn.sendall(_OK % (len(_BODY), _BODY))


def _run(base: str, products: list[str], *, rate: float = 50, duration_s: float = 0.2,
         timeout_s: float = 2.0):
    urls = StackUrls((base,), base, base, base)
    spec = LoadSpec(rate=rate, read_ratio=1.0, products=products, timeout_s=timeout_s)
    return metrics.requests_frame(LoadGenerator(urls, spec, seed=1).run_sync("t", duration_s))


def test_answers_are_read_over_kept_alive_connections() -> None:
    with _raw_server(_keep_alive) as (base, accepted):
        df = _run(base, ["PROD-001"], rate=100, duration_s=0.5)
    assert len(df) == 50 and df["ok"].all() and (df["status"] == 200).all()
    assert (df["value"] == 7).all() and df["quorum"].all()
    # 50 requests 10 ms apart, each answered at once: a handful of connections, reused
    assert accepted[0] < 10


def test_a_refused_connection_is_a_connect_failure() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connecting is refused
        df = _run(f"http://127.0.0.1:{port}", ["PROD-001"], rate=20, duration_s=0.1)
    assert len(df) == 2 and (df["error"] == "connect").all() and (df["status"] == 0).all()


@pytest.mark.parametrize(("name", "reply", "error"), [
    ("closed before any answer", b"", "protocol"),
    ("closed mid-body", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"quo", "protocol"),
    ("not HTTP", b"SSH-2.0-OpenSSH_9.2\r\n", "protocol"),
])
def test_a_broken_answer_is_a_protocol_failure(name: str, reply: bytes, error: str) -> None:
    def handle(conn: socket.socket) -> None:
        if _read_request(conn):
            conn.sendall(reply)

    with _raw_server(handle) as (base, _):
        df = _run(base, ["PROD-001"], rate=20, duration_s=0.1)
    assert len(df) == 2, name
    assert (df["error"] == error).all() and not df["ok"].any() and (df["status"] == 0).all()


def test_a_body_that_is_not_json_is_an_answer_without_a_value() -> None:
    def handle(conn: socket.socket) -> None:
        while _read_request(conn):
            conn.sendall(_OK % (9, b"<html/>!!"))

    with _raw_server(handle) as (base, _):
        df = _run(base, ["PROD-001"], rate=20, duration_s=0.1)
    assert len(df) == 2 and df["ok"].all() and df["value"].isna().all()
    assert not df["quorum"].any()


def test_a_server_that_never_answers_times_out_at_the_deadline() -> None:
    release = threading.Event()

    def handle(conn: socket.socket) -> None:
        _read_request(conn)
        release.wait(10)

    try:
        with _raw_server(handle) as (base, _):
            df = _run(base, ["PROD-001"], rate=20, duration_s=0.1, timeout_s=0.3)
    finally:
        release.set()
    assert len(df) == 2 and (df["error"] == "timeout").all()
    assert (df["latency_s"] >= 0.3).all()
