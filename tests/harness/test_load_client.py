"""The load generator's HTTP path against real sockets on 127.0.0.1: keep-alive reuse and
every way a server can fail on the wire, each recorded as its error class. The generator
is a system file's (tests/system_load_app.py: one component at the raw server)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from gameday import metrics
from raw_server import raw_server as _raw_server
from raw_server import read_request as _read_request
from system_load_app import app_generator

_OK = (b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s')
_BODY = b'{"quorum_achieved": true, "data": {"available_quantity": 7}}'

#: One read of the raw server: a 200 expected, a quorum and a value read from its answer
#: (the oracle is declared because an ``answer`` needs one; nothing here reads it).
_LOAD = {
    "values": {"product": ["PROD-001"]},
    "requests": {"read": {"url": "{{ app.url }}/inventory/{{ product }}",
                          "quorum": "quorum_achieved",
                          "answer": {"key": "{{ product }}", "value": "data.available_quantity"}}},
    "oracle": {"url": "{{ app.url }}/stock", "items": "products"},
}


def _keep_alive(conn: socket.socket) -> None:
    while _read_request(conn):
        conn.sendall(_OK % (len(_BODY), _BODY))


def _run(folder: Path, base: str, *, rate: float = 50, duration_s: float = 0.2,
         timeout_s: float = 2.0, load: dict | None = None):
    gen = app_generator(folder, base, load or _LOAD, rate=rate, timeout_s=timeout_s)
    return metrics.requests_frame(gen.run_sync("t", duration_s))


def test_answers_are_read_over_kept_alive_connections(tmp_path) -> None:
    with _raw_server(_keep_alive) as (base, accepted):
        df = _run(tmp_path, base, rate=100, duration_s=0.5)
    assert len(df) == 50 and df["ok"].all() and (df["status"] == 200).all()
    assert (df["value"] == 7).all() and df["quorum"].all()
    # 50 requests 10 ms apart, each answered at once: a handful of connections, reused
    assert accepted[0] < 10


def test_a_refused_connection_is_a_connect_failure(tmp_path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connecting is refused
        df = _run(tmp_path, f"http://127.0.0.1:{port}", rate=20, duration_s=0.1)
    assert len(df) == 2 and (df["error"] == "connect").all() and (df["status"] == 0).all()


@pytest.mark.parametrize(("name", "reply", "error"), [
    ("closed before any answer", b"", "protocol"),
    ("closed mid-body", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"quo", "protocol"),
    ("not HTTP", b"SSH-2.0-OpenSSH_9.2\r\n", "protocol"),
])
def test_a_broken_answer_is_a_protocol_failure(name: str, reply: bytes, error: str,
                                               tmp_path) -> None:
    def handle(conn: socket.socket) -> None:
        if _read_request(conn):
            conn.sendall(reply)

    with _raw_server(handle) as (base, _):
        df = _run(tmp_path, base, rate=20, duration_s=0.1)
    assert len(df) == 2, name
    assert (df["error"] == error).all() and not df["ok"].any() and (df["status"] == 0).all()


def test_a_body_that_is_not_json_is_an_answer_without_a_value(tmp_path) -> None:
    def handle(conn: socket.socket) -> None:
        while _read_request(conn):
            conn.sendall(_OK % (9, b"<html/>!!"))

    with _raw_server(handle) as (base, _):
        df = _run(tmp_path, base, rate=20, duration_s=0.1)
    assert len(df) == 2 and df["ok"].all() and df["value"].isna().all()
    assert not df["quorum"].any()


def test_a_server_that_never_answers_times_out_at_the_deadline(tmp_path) -> None:
    release = threading.Event()

    def handle(conn: socket.socket) -> None:
        _read_request(conn)
        release.wait(10)

    try:
        with _raw_server(handle) as (base, _):
            df = _run(tmp_path, base, rate=20, duration_s=0.1, timeout_s=0.3)
    finally:
        release.set()
    assert len(df) == 2 and (df["error"] == "timeout").all()
    assert (df["latency_s"] >= 0.3).all()


def test_an_answer_that_misses_expect_is_an_unexpected_failure(tmp_path) -> None:
    """A 200 whose JSON is not what the request's ``expect`` says fails as "unexpected";
    one that meets it is a success."""
    load = {"requests": {
        "agreed": {"url": "{{ app.url }}/a", "expect": {"json": {"quorum_achieved": True}}},
        "valued": {"url": "{{ app.url }}/b",
                   "expect": {"json": {"data.available_quantity": 8}}}}}
    with _raw_server(_keep_alive) as (base, _):
        df = _run(tmp_path, base, rate=100, duration_s=0.2, load=load)
    agreed, valued = df[df["kind"] == "agreed"], df[df["kind"] == "valued"]
    assert len(agreed) >= 3 and len(valued) >= 3 and len(df) == 20
    assert agreed["ok"].all() and (agreed["error"] == "").all()
    assert not valued["ok"].any() and (valued["error"] == "unexpected").all()
    assert (valued["status"] == 200).all()
