"""The raw HTTP/1.1 clients of bench/split_probe.py: one GET URL over keep-alive sockets
opened beforehand, a uniform schedule, each whole answer timestamped on
``CLOCK_MONOTONIC`` and matched to its request by (connection, order), HTTP/1.1 answering
in request order on a connection. No timeouts, reconnects, POSTs or follow-ups: a
measurement, not a generator.

- :func:`split_client`: a sender process and a reader process forked after the sockets
  were opened (the reader blocks in ``epoll``); per-connection answer counters in shared
  memory tell the sender which connections are idle;
- :func:`one_process_client`: ``epoll`` over the sockets and a ``timerfd`` in one process;
- :func:`asyncio_raw_client`: uvloop, the schedule coroutine writing on the transports,
  no task or future per request.
"""

from __future__ import annotations

import asyncio
import functools
import json
import mmap
import os
import select
import socket
import time
from typing import Any

import httptools

from gameday.metrics import percentile
from gameday.precise_timer import PreciseTimer

__all__ = ["CONNECTIONS", "FINE_S", "PATH", "WAIT_S", "asyncio_raw_client", "merge_stats",
           "one_process_client", "split_client"]

CONNECTIONS = 64
#: The sender sleeps until this long before a send, then busy-waits (as gameday.load).
FINE_S = 0.0002
PATH = "/inventory/PROD-001"
#: How long after the last send the answers are waited for; an answer that never came
#: counts as this late after its send (as the generator records a timeout at its deadline).
WAIT_S = 2.0
class _Answers:
    """Whole answers per connection, timestamped when complete: (conn, n-th, t, status)."""

    def __init__(self, socks: list[socket.socket], counts: Any) -> None:
        self.records: list[tuple[int, int, float, int]] = []
        self.counts = counts  # answers so far per connection (shared memory when split)
        self.by_fd = {s.fileno(): (s, self._parser(c)) for c, s in enumerate(socks)}

    def _parser(self, conn: int) -> Any:
        answers = self

        class Callbacks:
            def on_message_complete(self) -> None:
                answers.records.append((conn, answers.counts[conn], time.perf_counter(),
                                        parser.get_status_code()))
                answers.counts[conn] += 1

        parser = httptools.HttpResponseParser(Callbacks())
        return parser

    def feed(self, fd: int) -> None:
        sock, parser = self.by_fd[fd]
        parser.feed_data(sock.recv(65536))


def _connect(host: str, port: int) -> list[socket.socket]:
    socks = [socket.create_connection((host, port)) for _ in range(CONNECTIONS)]
    for s in socks:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return socks


def _idle(counts: Any, sent: list[int]) -> int:
    """The first connection whose answers caught up with its requests (else the least
    loaded one, pipelined: never needed at these rates with 64 connections)."""
    for c, n in enumerate(sent):
        if counts[c] == n:
            return c
    return min(range(len(sent)), key=lambda c: sent[c] - counts[c])


def merge_stats(sends: list[tuple[int, int, float, float]],
           answers: list[tuple[int, int, float, int]], cpu_s: float) -> dict[str, Any]:
    """Merge sends (conn, n-th, intended, sent) with answers by (conn, n-th); a request
    never answered is a failure of latency ``WAIT_S`` from its send (not left out)."""
    got = {(c, n): (t, status) for c, n, t, status in answers}
    lat, from_send, lag, ok = [], [], [], 0
    for c, n, due, sent in sends:
        t, status = got.get((c, n), (sent + WAIT_S, 0))
        ok += status == 200
        lat.append((t - due) * 1000.0)
        from_send.append((t - sent) * 1000.0)
        lag.append((sent - due) * 1000.0)
    return {"requests": len(sends), "ok": ok / max(len(sends), 1),
            "p50_ms": percentile(lat, 0.5), "p99_ms": percentile(lat, 0.99),
            "p99_from_send_ms": percentile(from_send, 0.99),
            "send_lag_p99_ms": percentile(lag, 0.99),
            "cpu_ms_per_request": 1000.0 * cpu_s / max(len(sends), 1)}


def split_client(host: str, port: int, rate: float, seconds: float, sleep: bool) -> dict[str, Any]:
    socks = _connect(host, port)
    request = f"GET {PATH} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    shared = mmap.mmap(-1, 8 * (CONNECTIONS + 1))  # answer counters + the stop flag
    counts = memoryview(shared).cast("q")
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the reader: blocks in epoll, never sends
        os.close(out_r)
        answers = _Answers(socks, counts)
        poller = select.epoll()
        for fd in answers.by_fd:
            poller.register(fd, select.EPOLLIN)
        while not counts[CONNECTIONS]:
            for fd, _ in poller.poll(0.05):
                answers.feed(fd)
        with os.fdopen(out_w, "w") as out:
            json.dump(answers.records, out)
        os._exit(0)
    os.close(out_w)
    sent = [0] * CONNECTIONS
    sends: list[tuple[int, int, float, float]] = []
    cpu0 = time.process_time()
    t0 = time.perf_counter() + 0.2
    i = 0
    while (offset := i / rate) < seconds:
        due = t0 + offset
        if sleep and (ahead := due - time.perf_counter() - FINE_S) > 0:
            time.sleep(ahead)
        while time.perf_counter() < due:
            pass
        c = _idle(counts, sent)
        at = time.perf_counter()
        socks[c].send(request)
        sends.append((c, sent[c], due, at))
        sent[c] += 1
        i += 1
    cpu = time.process_time() - cpu0
    deadline = time.perf_counter() + WAIT_S
    while time.perf_counter() < deadline and any(counts[c] < n for c, n in enumerate(sent)):
        time.sleep(0.01)
    counts[CONNECTIONS] = 1
    with os.fdopen(out_r) as inp:
        answers = json.load(inp)
    os.waitpid(pid, 0)
    return merge_stats(sends, answers, cpu)


def one_process_client(host: str, port: int, rate: float, seconds: float) -> dict[str, Any]:
    socks = _connect(host, port)
    request = f"GET {PATH} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    for s in socks:
        s.setblocking(False)
    timer = PreciseTimer.create()
    if timer is None:
        raise RuntimeError("the 'one' arm needs Linux's timerfd")
    counts = [0] * CONNECTIONS
    answers = _Answers(socks, counts)
    poller = select.epoll()
    for fd in answers.by_fd:
        poller.register(fd, select.EPOLLIN)
    poller.register(timer._fd, select.EPOLLIN)

    def handle(events: list[tuple[int, int]]) -> bool:
        fired = False
        for fd, _ in events:
            if fd == timer._fd:
                fired = True
                timer._fired()
            else:
                answers.feed(fd)
        return fired

    sent = [0] * CONNECTIONS
    sends: list[tuple[int, int, float, float]] = []
    cpu0 = time.process_time()
    t0 = time.perf_counter() + 0.2
    i = 0
    while (offset := i / rate) < seconds:
        due = t0 + offset
        if due - time.perf_counter() > FINE_S:
            timer._arm(due - FINE_S)
            while not handle(poller.poll(-1)) and due - time.perf_counter() > FINE_S:
                pass
        while time.perf_counter() < due:
            handle(poller.poll(0))
        c = _idle(counts, sent)
        at = time.perf_counter()
        socks[c].send(request)
        sends.append((c, sent[c], due, at))
        sent[c] += 1
        i += 1
        handle(poller.poll(0))
    cpu = time.process_time() - cpu0
    deadline = time.perf_counter() + WAIT_S
    while time.perf_counter() < deadline and counts != sent:
        handle(poller.poll(0.01))
    timer.close()
    return merge_stats(sends, answers.records, cpu)


async def asyncio_raw_client(host: str, port: int, rate: float, seconds: float) -> dict[str, Any]:
    import asyncio

    request = f"GET {PATH} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    timer = PreciseTimer.create()
    if timer is None:
        raise RuntimeError("the 'asyncio-raw' arm needs Linux's timerfd")
    counts = [0] * CONNECTIONS
    records: list[tuple[int, int, float, int]] = []
    loop = asyncio.get_running_loop()

    class Conn(asyncio.Protocol):
        def __init__(self, c: int) -> None:
            self.c, self.parser = c, httptools.HttpResponseParser(self)

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: asyncio.Transport = transport  # type: ignore[assignment]

        def data_received(self, data: bytes) -> None:
            self.parser.feed_data(data)

        def on_message_complete(self) -> None:
            records.append((self.c, counts[self.c], time.perf_counter(),
                            self.parser.get_status_code()))
            counts[self.c] += 1

    conns = [(await loop.create_connection(functools.partial(Conn, c), host, port))[1]
             for c in range(CONNECTIONS)]
    sent = [0] * CONNECTIONS
    sends: list[tuple[int, int, float, float]] = []
    cpu0 = time.process_time()
    t0 = time.perf_counter() + 0.2
    i = 0
    while (offset := i / rate) < seconds:
        due = t0 + offset
        await timer.sleep_until(due - FINE_S)
        while time.perf_counter() < due:
            await asyncio.sleep(0)
        c = _idle(counts, sent)
        at = time.perf_counter()
        conns[c].transport.write(request)
        sends.append((c, sent[c], due, at))
        sent[c] += 1
        i += 1
    cpu = time.process_time() - cpu0
    deadline = time.perf_counter() + WAIT_S
    while time.perf_counter() < deadline and counts != sent:
        await asyncio.sleep(0.01)
    for conn in conns:
        conn.transport.close()
    timer.close()
    return merge_stats(sends, records, cpu)
