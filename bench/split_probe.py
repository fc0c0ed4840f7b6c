"""Probe for issue 15's wrk-p99 target: does decoupling sending from answer-reading help?

Not part of ``make bench``: the probe behind BENCHMARKS.md "Sending apart from reading"
(seventh session), kept so the figures can be re-run on a quiet machine::

    .venv/bin/python -m bench.split_probe --rounds 8 --seconds 4

Each round runs, one after the other on the same nginx URL (``bench/nginx.py``): wrk
paced at 10 connections (as ``make bench`` does), then each arm at the rate wrk achieved,
a fresh process per arm, uniform schedule, latency from the intended send:

- ``generator``: the system file's generator as it is (bench/static_system.py:
  :class:`gameday.systems.load.SystemLoadGenerator`), in one spawned process
  (``bench/loadgen.py``'s step: :mod:`gameday.wire` on uvloop since the ninth session,
  aiohttp before; spinning the last 2 ms before a send);
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
  the fifth session's variant), in a fresh process: a sleeping sender;
- ``asyncio-lean``: the same timing on uvloop with :mod:`gameday.wire` awaited, a task
  and a future per request (until the ninth session a lean httptools client of the
  bench's own), no aiohttp: is it the library or the loop?
- ``asyncio-raw``: the same timing on uvloop with no task or future per request: the
  schedule coroutine writes on an idle connection's transport, the protocol timestamps
  the whole answer: is it asyncio's loop or the per-request objects?
- ``one``: the same raw-socket client in one process, ``epoll`` over the sockets and a
  ``timerfd`` (:mod:`gameday.precise_timer`) 0.2 ms before each send: does the separate
  reader help when the sender sleeps?

The raw clients (``bench/probe_clients.py``) speak HTTP/1.1 for one GET URL (no timeouts,
reconnects, POSTs or follow-ups): a measurement, not a generator.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from typing import Any

from bench.common import REPO, loadavg
from bench.loadgen import _step, _wrk_paced
from bench.nginx import nginx
from bench.probe_clients import (
    FINE_S,
    PATH,
    asyncio_raw_client,
    merge_stats,
    one_process_client,
    split_client,
)
from gameday.precise_timer import PreciseTimer

__all__ = ["main"]

ARMS = ("generator", "generator-timer", "asyncio-lean", "asyncio-raw", "split-sleep",
        "split-spin", "one")


def _generator_timer(base: str, rate: float, seconds: float) -> dict[str, Any]:
    import gameday.load
    from bench.static_system import static_load
    from gameday.load_schedule import WHOLE

    gameday.load._SPIN_S = 0.0003  # sleep on the timerfd whenever a send is > 0.3 ms away
    with static_load(base) as (source, spec, seed):
        gen = source.generator(spec.model_copy(update={"rate": rate}), seed, WHOLE)
        cpu0 = time.process_time()
        records = gen.run_sync("probe", seconds, start_at=time.time() + 0.2)
        cpu = time.process_time() - cpu0
    # as (conn, n, intended, sent) and (conn, n, done, status) on one clock, for merge_stats
    sends = [(i, 0, 0.0, r.send_lag_s or 0.0) for i, r in enumerate(records)]
    answers = [(i, 0, r.latency_s, r.status) for i, r in enumerate(records)]
    return merge_stats(sends, answers, cpu)


async def _asyncio_lean(base: str, rate: float, seconds: float) -> dict[str, Any]:
    from gameday.wire import WireClient

    timer = PreciseTimer.create()
    if timer is None:
        raise RuntimeError("the 'asyncio-lean' arm needs Linux's timerfd")
    url = f"{base}{PATH}"
    sends: list[tuple[int, int, float, float]] = []
    answers: list[tuple[int, int, float, int]] = []

    async def one(i: int, client: WireClient) -> None:
        status, _, _ = await client.fetch("GET", url, timeout_s=2.0)
        answers.append((i, 0, time.perf_counter(), status))

    client = WireClient()
    try:
        tasks = set()
        cpu0 = time.process_time()
        t0 = time.perf_counter() + 0.2
        i = 0
        while (offset := i / rate) < seconds:
            due = t0 + offset
            await timer.sleep_until(due - FINE_S)
            while time.perf_counter() < due:
                await asyncio.sleep(0)
            sends.append((i, 0, due, time.perf_counter()))
            task = asyncio.get_running_loop().create_task(one(i, client))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
        cpu = time.process_time() - cpu0
        await asyncio.gather(*tasks)
    finally:
        client.close()
    timer.close()
    return merge_stats(sends, answers, cpu)


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

        result = run_coroutine(asyncio_raw_client(*args))
    elif name == "one":
        result = one_process_client(*args)
    else:
        result = split_client(*args, sleep=name == "split-sleep")
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
            wrk = _wrk_paced(f"{base}{PATH}", 10, 10.0, args.seconds)
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
