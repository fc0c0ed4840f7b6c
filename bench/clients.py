"""Which HTTP client the load generator sends with: CPU per request, open loop.

Each candidate sends ``rate`` GETs/s for ``duration_s`` to nginx (bench/nginx.py) from
one process on uvloop, each request its own task at its intended time (the generator's
shape, without its records), and we read the process's CPU time per request
(``time.process_time()``), the achieved rate and the send lag p99. CPU per request is
what decides: the generator's ceiling on one core is about its inverse, and it is the
figure least moved by other processes on a shared machine.

Candidates: httpx's AsyncClient (what the generator used first), aiohttp's ClientSession
(what it used next) and gameday.wire awaited with a future per request (``wire-future``;
until the ninth session a lean httptools client of the bench's own, now gameday.wire's
parser and pool). The generator sends with gameday.wire without a task or future per
request (callbacks): bench/split_probe.py compares that with wrk, which this
task-per-request shape cannot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.common import loadavg
from gameday.load import run_coroutine
from gameday.metrics import percentile

__all__ = ["CANDIDATES", "run"]

CANDIDATES = ("httpx", "aiohttp", "wire-future")


async def _open_loop(send: Callable[[], Awaitable[Any]], rate: float,
                     duration_s: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()
    lags: list[float] = []
    errors = [0]

    async def one() -> None:
        try:
            await send()
        except Exception:  # counted: a candidate that fails is not a candidate
            errors[0] += 1

    t0, cpu0, n = time.perf_counter(), time.process_time(), 0
    while n / rate < duration_s:
        await asyncio.sleep(0)
        while (delay := t0 + n / rate - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        lags.append(time.perf_counter() - (t0 + n / rate))
        task = loop.create_task(one())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        n += 1
    sent_s = time.perf_counter() - t0
    while tasks:
        await asyncio.gather(*list(tasks))
    cpu = time.process_time() - cpu0
    return {"requests": n, "errors": errors[0], "achieved_rate": round(n / sent_s, 1),
            "send_lag_p99_ms": round(1000 * (percentile(lags, 0.99) or 0.0), 2),
            "cpu_ms_per_request": round(1000 * cpu / n, 3)}


async def _candidate(name: str, url: str, rate: float, duration_s: float) -> dict[str, Any]:
    if name == "httpx":
        import httpx

        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
        async with httpx.AsyncClient(limits=limits, trust_env=False) as hc:
            async def send_httpx() -> None:
                (await hc.get(url)).content  # noqa: B018 - the body is read, as ours is
            return await _open_loop(send_httpx, rate, duration_s)
    if name == "aiohttp":
        import aiohttp

        # the generator's session before gameday.wire: one keep-alive pool, no cookies
        connector = aiohttp.TCPConnector(limit=2048, limit_per_host=0)
        async with aiohttp.ClientSession(connector=connector, trust_env=False,
                                         cookie_jar=aiohttp.DummyCookieJar()) as session:
            async def send_aiohttp() -> None:
                async with session.get(url) as resp:
                    await resp.read()
            return await _open_loop(send_aiohttp, rate, duration_s)
    from gameday.wire import WireClient

    wire = WireClient()
    try:
        return await _open_loop(lambda: wire.fetch("GET", url, timeout_s=2.0), rate,
                                duration_s)
    finally:
        wire.close()


def run(base: str, *, rate: float = 300.0, duration_s: float = 5.0, rounds: int = 2,
        progress: Any = print) -> dict[str, Any]:
    """Every candidate ``rounds`` times, interleaved, at ``rate`` against nginx at ``base``."""
    url = f"{base}/inventory/PROD-001"
    out: dict[str, Any] = {"url": url, "rate": rate, "duration_s": duration_s, "runs": []}
    for i in range(rounds):
        for name in CANDIDATES:
            la = loadavg()
            r = run_coroutine(_candidate(name, url, rate, duration_s))
            r.update(candidate=name, round=i + 1, loadavg=la)
            out["runs"].append(r)
            progress(f"  {name}: {r['cpu_ms_per_request']} ms CPU/request, achieved "
                     f"{r['achieved_rate']} of {rate:g} req/s, send lag p99 "
                     f"{r['send_lag_p99_ms']} ms (load {la[0]})")
    out["median_cpu_ms"] = {
        name: percentile([r["cpu_ms_per_request"] for r in out["runs"]
                          if r["candidate"] == name], 0.5) for name in CANDIDATES}
    return out
