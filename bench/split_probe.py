"""Probe for issue 15's wrk-p99 target: does decoupling sending from answer-reading help?

Not part of ``make bench``: the probe behind BENCHMARKS.md "Sending apart from reading"
(seventh session), kept so the figures can be re-run on a quiet machine::

    .venv/bin/python -m bench.split_probe --rounds 8 --seconds 4

Each round runs, one after the other on the same nginx URL (``bench/nginx.py``): wrk
paced at 10 connections (as ``make bench`` does), then each arm at the rate wrk achieved,
a fresh process per arm, uniform schedule, latency from the intended send:

- ``generator``: :class:`gameday.load.LoadGenerator` as it is, in one spawned process
  (``bench/loadgen.py``'s step: aiohttp on uvloop, spinning the last 2 ms before a send);
- ``split-sleep``: a sender process that sleeps (``clock_nanosleep``) until 0.2 ms before
  each send and busy-waits the rest, and a reader process, forked after the keep-alive
  sockets were opened, that blocks in ``epoll`` and timestamps each whole answer on
  ``CLOCK_MONOTONIC`` (system-wide); the two share per-connection answer counters in
  shared memory (a connection is idle when its answers caught up with its requests; no
  pipelining) and their records merge afterwards by (connection, order), HTTP/1.1
  answering in request order;
- ``split-spin``: the same, the sender busy-waiting all the way (as the generator does
  at these rates): does the separate reader alone help?
- ``generator-timer``: the generator with its timerfd for every gap (``_SPIN_S`` 0.3 ms,
  the fifth session's variant), in a fresh process: a sleeping sender on aiohttp;
- ``asyncio-lean``: the same timing on uvloop with ``bench/lean_client.py`` (an asyncio
  protocol and httptools, a task per request), no aiohttp: is it the library or the loop?
- ``asyncio-raw``: the same timing on uvloop with no task or future per request: the
  schedule coroutine writes on an idle connection's transport, the protocol timestamps
  the whole answer: is it asyncio's loop or the per-request objects?
- ``one``: the same raw-socket client in one process, ``epoll`` over the sockets and a
  ``timerfd`` (:mod:`gameday.precise_timer`) 0.2 ms before each send: does the separate
  reader help when the sender sleeps?

The split client is ~100 lines of raw HTTP/1.1 for one GET URL (no timeouts, reconnects,
POSTs or follow-ups): a measurement, not a generator.
"""

from __future__ import annotations

import argparse
import functools
import json
import mmap
import os
import select
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

import httptools

from bench.common import REPO, loadavg
from bench.loadgen import _step, _wrk_paced
from bench.nginx import nginx
from gameday.metrics import percentile
from gameday.precise_timer import PreciseTimer

__all__ = ["main"]

_CONNECTIONS = 64
#: The sender sleeps until this long before a send, then busy-waits (as gameday.load).
_FINE_S = 0.0002
_PATH = "/inventory/PROD-001"
#: How long after the last send the answers are waited for; an answer that never came
#: counts as this late after its send (as the generator records a timeout at its deadline).
_WAIT_S = 2.0
ARMS = ("generator", "generator-timer", "asyncio-lean", "asyncio-raw", "split-sleep",
        "split-spin", "one")


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
    socks = [socket.create_connection((host, port)) for _ in range(_CONNECTIONS)]
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


def _stats(sends: list[tuple[int, int, float, float]],
           answers: list[tuple[int, int, float, int]], cpu_s: float) -> dict[str, Any]:
    """Merge sends (conn, n-th, intended, sent) with answers by (conn, n-th); a request
    never answered is a failure of latency ``_WAIT_S`` from its send (not left out)."""
    got = {(c, n): (t, status) for c, n, t, status in answers}
    lat, from_send, lag, ok = [], [], [], 0
    for c, n, due, sent in sends:
        t, status = got.get((c, n), (sent + _WAIT_S, 0))
        ok += status == 200
        lat.append((t - due) * 1000.0)
        from_send.append((t - sent) * 1000.0)
        lag.append((sent - due) * 1000.0)
    return {"requests": len(sends), "ok": ok / max(len(sends), 1),
            "p50_ms": percentile(lat, 0.5), "p99_ms": percentile(lat, 0.99),
            "p99_from_send_ms": percentile(from_send, 0.99),
            "send_lag_p99_ms": percentile(lag, 0.99),
            "cpu_ms_per_request": 1000.0 * cpu_s / max(len(sends), 1)}


def _split(host: str, port: int, rate: float, seconds: float, sleep: bool) -> dict[str, Any]:
    socks = _connect(host, port)
    request = f"GET {_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    shared = mmap.mmap(-1, 8 * (_CONNECTIONS + 1))  # answer counters + the stop flag
    counts = memoryview(shared).cast("q")
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the reader: blocks in epoll, never sends
        os.close(out_r)
        answers = _Answers(socks, counts)
        poller = select.epoll()
        for fd in answers.by_fd:
            poller.register(fd, select.EPOLLIN)
        while not counts[_CONNECTIONS]:
            for fd, _ in poller.poll(0.05):
                answers.feed(fd)
        with os.fdopen(out_w, "w") as out:
            json.dump(answers.records, out)
        os._exit(0)
    os.close(out_w)
    sent = [0] * _CONNECTIONS
    sends: list[tuple[int, int, float, float]] = []
    cpu0 = time.process_time()
    t0 = time.perf_counter() + 0.2
    i = 0
    while (offset := i / rate) < seconds:
        due = t0 + offset
        if sleep and (ahead := due - time.perf_counter() - _FINE_S) > 0:
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
    deadline = time.perf_counter() + _WAIT_S
    while time.perf_counter() < deadline and any(counts[c] < n for c, n in enumerate(sent)):
        time.sleep(0.01)
    counts[_CONNECTIONS] = 1
    with os.fdopen(out_r) as inp:
        answers = json.load(inp)
    os.waitpid(pid, 0)
    return _stats(sends, answers, cpu)


def _one(host: str, port: int, rate: float, seconds: float) -> dict[str, Any]:
    socks = _connect(host, port)
    request = f"GET {_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    for s in socks:
        s.setblocking(False)
    timer = PreciseTimer.create()
    if timer is None:
        raise RuntimeError("the 'one' arm needs Linux's timerfd")
    counts = [0] * _CONNECTIONS
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

    sent = [0] * _CONNECTIONS
    sends: list[tuple[int, int, float, float]] = []
    cpu0 = time.process_time()
    t0 = time.perf_counter() + 0.2
    i = 0
    while (offset := i / rate) < seconds:
        due = t0 + offset
        if due - time.perf_counter() > _FINE_S:
            timer._arm(due - _FINE_S)
            while not handle(poller.poll(-1)) and due - time.perf_counter() > _FINE_S:
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
    deadline = time.perf_counter() + _WAIT_S
    while time.perf_counter() < deadline and counts != sent:
        handle(poller.poll(0.01))
    timer.close()
    return _stats(sends, answers.records, cpu)


def _generator_timer(base: str, rate: float, seconds: float) -> dict[str, Any]:
    import gameday.load
    from gameday.load import LoadGenerator
    from gameday.runbook import LoadSpec
    from gameday.targets import StackUrls

    gameday.load._SPIN_S = 0.0003  # sleep on the timerfd whenever a send is > 0.3 ms away
    spec = LoadSpec(rate=rate, read_ratio=1.0, products=["PROD-001"], timeout_s=2.0)
    gen = LoadGenerator(StackUrls((base,), base, base, base), spec, 5)
    cpu0 = time.process_time()
    records = gen.run_sync("probe", seconds, start_at=time.time() + 0.2)
    cpu = time.process_time() - cpu0
    # as (conn, n, intended, sent) and (conn, n, done, status) on one clock, for _stats
    sends = [(i, 0, 0.0, r.send_lag_s or 0.0) for i, r in enumerate(records)]
    answers = [(i, 0, r.latency_s, r.status) for i, r in enumerate(records)]
    return _stats(sends, answers, cpu)


async def _asyncio_lean(base: str, rate: float, seconds: float) -> dict[str, Any]:
    import asyncio

    from bench.lean_client import LoadClient

    timer = PreciseTimer.create()
    if timer is None:
        raise RuntimeError("the 'asyncio-lean' arm needs Linux's timerfd")
    url = f"{base}{_PATH}"
    sends: list[tuple[int, int, float, float]] = []
    answers: list[tuple[int, int, float, int]] = []

    async def one(i: int, client: LoadClient) -> None:
        response = await client.request("GET", url, timeout_s=2.0)
        answers.append((i, 0, time.perf_counter(), response.status_code))

    async with LoadClient() as client:
        tasks = set()
        cpu0 = time.process_time()
        t0 = time.perf_counter() + 0.2
        i = 0
        while (offset := i / rate) < seconds:
            due = t0 + offset
            await timer.sleep_until(due - _FINE_S)
            while time.perf_counter() < due:
                await asyncio.sleep(0)
            sends.append((i, 0, due, time.perf_counter()))
            task = asyncio.get_running_loop().create_task(one(i, client))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
        cpu = time.process_time() - cpu0
        await asyncio.gather(*tasks)
    timer.close()
    return _stats(sends, answers, cpu)


async def _asyncio_raw(host: str, port: int, rate: float, seconds: float) -> dict[str, Any]:
    import asyncio

    request = f"GET {_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    timer = PreciseTimer.create()
    if timer is None:
        raise RuntimeError("the 'asyncio-raw' arm needs Linux's timerfd")
    counts = [0] * _CONNECTIONS
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
             for c in range(_CONNECTIONS)]
    sent = [0] * _CONNECTIONS
    sends: list[tuple[int, int, float, float]] = []
    cpu0 = time.process_time()
    t0 = time.perf_counter() + 0.2
    i = 0
    while (offset := i / rate) < seconds:
        due = t0 + offset
        await timer.sleep_until(due - _FINE_S)
        while time.perf_counter() < due:
            await asyncio.sleep(0)
        c = _idle(counts, sent)
        at = time.perf_counter()
        conns[c].transport.write(request)
        sends.append((c, sent[c], due, at))
        sent[c] += 1
        i += 1
    cpu = time.process_time() - cpu0
    deadline = time.perf_counter() + _WAIT_S
    while time.perf_counter() < deadline and counts != sent:
        await asyncio.sleep(0.01)
    for conn in conns:
        conn.transport.close()
    timer.close()
    return _stats(sends, records, cpu)


def _arm(name: str, base: str, rate: float, seconds: float) -> dict[str, Any]:
    if name == "generator":
        return _step(base, rate, seconds, 1)
    host, port = base.removeprefix("http://").split(":")
    cmd = [sys.executable, "-m", "bench.split_probe", "--client", name, host, port,
           str(rate), str(seconds)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=True,
                         timeout=seconds + 60)
    return json.loads(out.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def _client(name: str, host: str, port: str, rate: str, seconds: str) -> None:
    args = (host, int(port), float(rate), float(seconds))
    if name == "generator-timer":
        result = _generator_timer(f"http://{host}:{port}", *args[2:])
    elif name == "asyncio-lean":
        from gameday.load import run_coroutine

        result = run_coroutine(_asyncio_lean(f"http://{host}:{port}", *args[2:]))
    elif name == "asyncio-raw":
        from gameday.load import run_coroutine

        result = run_coroutine(_asyncio_raw(*args))
    elif name == "one":
        result = _one(*args)
    else:
        result = _split(*args, sleep=name == "split-sleep")
    print(json.dumps(result))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    parser.add_argument("--client", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        _client(*args.client)
        return 0
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in ("wrk", *args.arms)}
    with nginx() as base:
        for r in range(args.rounds):
            la = loadavg()[0]
            wrk = _wrk_paced(f"{base}{_PATH}", 10, 10.0, args.seconds)
            rate = float(round(wrk["achieved_rate"] or 0.0))
            rows["wrk"].append(wrk)
            line = [f"round {r} (load {la}) wrk @ {rate:g}/s {wrk['p50_ms']:.2f}/"
                    f"{wrk['p99_ms']:.2f} ms"]
            for name in args.arms:
                got = _arm(name, base, rate, args.seconds)
                rows[name].append(got)
                line.append(f"{name} {got['p50_ms']:.2f}/{got['p99_ms']:.2f} ms (from the "
                            f"send p99 {got['p99_from_send_ms']:.2f}, send lag p99 "
                            f"{got['send_lag_p99_ms']:.2f} ms, CPU "
                            f"{got['cpu_ms_per_request']:.2f} ms/request, ok {got['ok']:.3f})")
            print(" · ".join(line), flush=True)
    print(f"medians over {args.rounds} rounds of {args.seconds:g} s (p50/p99 from the intended "
          f"send, ms; wrk from its send), load now {loadavg()}:")
    for name, runs in rows.items():
        print(f"  {name}: {statistics.median(g['p50_ms'] for g in runs):.2f}/"
              f"{statistics.median(g['p99_ms'] for g in runs):.2f} ms, per-round p99 "
              f"{sorted(round(g['p99_ms'], 2) for g in runs)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
