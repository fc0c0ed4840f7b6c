"""Open-loop load generator: requests on a fixed schedule, latency from the intended time.

Contract:

- Requests are scheduled at intended times ``t_i``: every ``1/rate`` s (``uniform``) or
  with exponential gaps drawn from ``Random(f"{seed}:{phase}")`` (``poisson``), see
  :mod:`gameday.load_schedule`; a generator given a :class:`~gameday.load_schedule.Shard`
  sends only that shard's requests (several processes share one schedule, see
  :mod:`gameday.load_shards`). Each is written on a connection of one keep-alive pool
  (:mod:`gameday.wire`: no pipelining, no task per request; its answer is recorded by a
  callback), so a slow answer never delays the next send; when the generator itself
  falls behind it sends late (never skips) and records ``send_lag_s``.
- ``latency_s`` runs from the *intended* send time to the answer or the failure (no
  coordinated omission). Each request has a total deadline of ``spec.timeout_s`` from its
  send; a timeout is a failure recorded at its elapsed time.
- What is sent, and how an answer is judged, is a subclass's: :meth:`LoadGenerator._plan`
  gives the schedule and :meth:`LoadGenerator._begin` sends one planned request
  (:class:`~gameday.systems.load.SystemLoadGenerator`: a system file's request templates,
  their follow-ups, the oracle's ``wrong`` judged by a :class:`~gameday.truth.Truth`).
  When a run ends, pending follow-ups are sent at once and awaited. With ``owed``
  (:class:`~gameday.owed.OwedRequests`) a request whose follow-up ends what it started is
  written down until it is done, so a killed run's can be sent later.

:meth:`LoadGenerator.run` never raises for a failed request (it is a record); it returns
early when ``should_abort()`` turns true or :meth:`stop` is called.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from gameday.http import classify, classify_status
from gameday.load_schedule import WHOLE, Shard
from gameday.metrics import percentile
from gameday.owed import OwedRequests
from gameday.precise_timer import PreciseTimer
from gameday.quiet_gc import quiet_gc
from gameday.records import RequestRecord
from gameday.runbook import LoadSpec
from gameday.truth import Truth
from gameday.wire import WireClient

__all__ = ["LoadGenerator", "run_coroutine"]

_STATS_HORIZON_S = 120.0
_MAX_CONNECTIONS = 2048
#: The last stretch before a send spent yielding to the loop rather than on a timer.
_SPIN_S = 0.002
#: With a precise timer (gameday.precise_timer), a send more than _SPIN_S away is slept
#: for on it until this long before (its wake takes ~0.1 ms), then yielded for. Sends
#: closer together than _SPIN_S (above ~500 req/s) are yielded for all the way: a sleeping
#: process on this VM sometimes wakes milliseconds late (measured: BENCHMARKS.md).
_FINE_S = 0.0002
#: Use the precise timer where there is one (False: the millisecond timer and _SPIN_S).
_PRECISE = True


def run_coroutine(coro: Any) -> Any:
    """Run ``coro`` to completion on a fresh event loop (uvloop when installed).

    Called from a thread that already runs an event loop (an async Prefect task, a
    notebook kernel), it runs the loop in a helper thread and waits for it.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run_here(coro)
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = _run_here(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target, name="gameday-load", daemon=True)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


def _run_here(coro: Any) -> Any:
    try:
        import uvloop

        factory: Any = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


class LoadGenerator:
    """Open-loop load: the schedule, the sends, the records and live statistics; what is
    sent is a subclass's (:meth:`_plan`, :meth:`_begin`).

    Live statistics (:meth:`window_availability`, :attr:`achieved_rate`, :attr:`counts`)
    may be read from another thread while :meth:`run` is going.
    """

    #: The run's client, and the event set whenever no scheduled request is in flight.
    _wire: WireClient
    _drained: asyncio.Event

    def __init__(
        self,
        spec: LoadSpec,
        seed: int,
        *,
        truth: Truth | None = None,
        owed: OwedRequests | None = None,
        shard: Shard = WHOLE,
    ) -> None:
        self.spec = spec
        self.seed = seed
        self.truth = truth
        self.owed = owed
        self.shard = shard
        self._stop = threading.Event()
        self._lock = threading.Lock()
        # (monotonic done time, ok, latency s)
        self._done: deque[tuple[float, bool, float]] = deque()
        self._counts = {"scheduled": 0, "completed": 0, "ok": 0, "failed": 0}
        self._run_start: float | None = None
        self._run_end: float | None = None
        self._run_sent = 0
        self._in_flight = 0  # scheduled requests sent and not answered yet

    # ---- live statistics -------------------------------------------------------------
    def window_stats(self, window_s: float) -> tuple[int, int]:
        """``(ok, total)`` of this run's requests completed in the last ``window_s`` s
        (each :meth:`run` starts an empty window: one phase never aborts the next)."""
        since = time.monotonic() - window_s
        ok = total = 0
        with self._lock:
            for t, good, _ in reversed(self._done):
                if t < since:
                    break
                total += 1
                ok += good
        return ok, total

    def window_latency_ms(self, window_s: float, q: float = 0.95) -> float | None:
        """The ``q`` quantile (:func:`gameday.metrics.percentile`) of the latency, in ms, of
        the requests completed in the last ``window_s`` s, failures included; None when
        there are none."""
        since = time.monotonic() - window_s
        with self._lock:
            lat = [latency * 1000.0 for t, _, latency in self._done if t >= since]
        return percentile(lat, q)

    def window_availability(self, window_s: float, min_samples: int = 1) -> float | None:
        """Share ok over the last ``window_s`` s; None with fewer than ``min_samples``."""
        ok, total = self.window_stats(window_s)
        return None if total < max(1, min_samples) else ok / total

    @property
    def achieved_rate(self) -> float:
        """Scheduled requests actually sent per second in the current (or last) run."""
        if self._run_start is None:
            return 0.0
        end = self._run_end or time.monotonic()
        return self._run_sent / max(end - self._run_start, 1e-9)

    @property
    def counts(self) -> dict[str, int]:
        """Totals since construction: scheduled, completed, ok, failed, in_flight."""
        with self._lock:
            c = dict(self._counts)
        c["in_flight"] = c["scheduled"] - c["completed"]
        return c

    def stop(self) -> None:
        """Ask a running :meth:`run` to stop scheduling (thread-safe)."""
        self._stop.set()

    # ---- running ---------------------------------------------------------------------
    def run_sync(
        self, phase: str, duration_s: float, should_abort: Callable[[], bool] | None = None,
        *, start_at: float | None = None,
    ) -> list[RequestRecord]:
        """:meth:`run` on its own event loop, for synchronous callers (Prefect tasks)."""
        return run_coroutine(  # type: ignore[no-any-return]
            self.run(phase, duration_s, should_abort, start_at=start_at))

    async def run(
        self, phase: str, duration_s: float, should_abort: Callable[[], bool] | None = None,
        *, start_at: float | None = None,
    ) -> list[RequestRecord]:
        """Send load for ``duration_s`` seconds labelled ``phase``; return every record
        (reads, writes and their cancels) once all of them completed.

        ``start_at`` (epoch s) is when the schedule's time 0 falls (default: now); shards
        in several processes pass the same one, so their records merge exactly."""
        self._stop.clear()
        with self._lock:  # the sliding window judges this run only, not the last phase
            self._done.clear()
        # no full GC pass while sending: one took 80-160 ms of CPU, every send due
        # meanwhile went that late (gameday.quiet_gc)
        with quiet_gc():
            return await self._run(phase, duration_s, should_abort, start_at)

    async def _run(
        self, phase: str, duration_s: float, should_abort: Callable[[], bool] | None,
        start_at: float | None,
    ) -> list[RequestRecord]:
        records: list[RequestRecord] = []
        follow_ups: set[asyncio.Task[None]] = set()
        flush = asyncio.Event()
        timer = PreciseTimer.create() if _PRECISE else None
        async with contextlib.AsyncExitStack() as stack:
            if timer is not None:
                stack.callback(timer.close)
            self._wire = WireClient(max_connections=_MAX_CONNECTIONS)
            stack.callback(self._wire.close)
            self._in_flight = 0
            self._drained = asyncio.Event()
            self._drained.set()
            # perf_counter, not loop.time(): uvloop's loop time is cached per loop iteration
            # at 1 ms resolution, so latencies read from it came out whole milliseconds
            # and short by however long the iteration had been running (found by bench/
            # comparing with hey).
            t0_wall = time.time() if start_at is None else start_at
            t0 = time.perf_counter() + (t0_wall - time.time())
            self._run_start, self._run_end, self._run_sent = time.monotonic(), None, 0
            for planned in self._plan(phase):
                offset = planned.offset_s
                if offset >= duration_s:
                    break
                if self._stop.is_set() or (should_abort is not None and should_abort()):
                    break
                # uvloop's timers tick in whole milliseconds and can wake early or up to a
                # tick late: sleep on the precise timer until _FINE_S before the intended
                # time when it is more than _SPIN_S away (else, or without one, on the
                # loop's timer until _SPIN_S before), then yield to the loop until it
                # comes, so a request is neither sent early (its latency would read
                # short) nor a tick late. Behind schedule, still yield once so the
                # answers that came in are read.
                await asyncio.sleep(0)
                while (delay := t0 + offset - time.perf_counter()) > 0:
                    if timer is not None and delay > _SPIN_S:
                        await timer.sleep_until(t0 + offset - _FINE_S)
                    else:
                        await asyncio.sleep(delay - _SPIN_S if delay > _SPIN_S else 0)
                lag = max(0.0, time.perf_counter() - (t0 + offset))
                self._begin(planned, phase, t0_wall + offset, t0 + offset, lag, records,
                            follow_ups, flush)
                self._run_sent += 1
                if self.truth is not None and self._run_sent % 256 == 0:
                    # reads in flight were sent after now − timeout − lag: keep what they need
                    self.truth.prune(time.time() - self.spec.timeout_s - 5.0)
                with self._lock:
                    self._counts["scheduled"] += 1
            self._run_end = time.monotonic()
            await self._drained.wait()
            flush.set()
            while follow_ups:
                await asyncio.gather(*list(follow_ups))
        if self.truth is not None:
            self.truth.prune(time.time() - _STATS_HORIZON_S)
        records.sort(key=lambda r: r.intended_s)
        return records

    def _plan(self, phase: str) -> Iterator[Any]:
        """The phase's schedule: items with ``offset_s`` (and what :meth:`_begin` needs),
        in intended-time order, endless."""
        raise NotImplementedError

    def _begin(self, planned: Any, phase: str, intended: float, intended_mono: float,
               lag: float, records: list[RequestRecord], follow_ups: set[asyncio.Task[None]],
               flush: asyncio.Event) -> None:
        """Send ``planned`` (its answer is recorded by a callback, see :meth:`_call`);
        follow-up tasks go into ``follow_ups`` and wait for ``flush`` at the run's end."""
        raise NotImplementedError

    def _finish(self, rec: RequestRecord, records: list[RequestRecord]) -> None:
        records.append(rec)
        now = time.monotonic()
        with self._lock:
            self._done.append((now, rec.ok, rec.latency_s))
            while self._done and self._done[0][0] < now - _STATS_HORIZON_S:
                self._done.popleft()
            self._counts["completed"] += 1
            self._counts["ok" if rec.ok else "failed"] += 1

    # ---- the wire ---------------------------------------------------------------------
    @staticmethod
    def _outcome(status: int, content: bytes, error: BaseException | None
                 ) -> tuple[int, Any, str]:
        """``(status, JSON body or None, error class)``; status 0 when no answer came."""
        if error is not None:
            return 0, None, classify(error)
        try:
            parsed = json.loads(content) if content else None
        except (ValueError, RecursionError):  # not JSON, or nested past the parser
            parsed = None
        return status, parsed, classify_status(status)

    def _call(self, method: str, url: str, answered: Callable[[int, Any, str], None],
              body: Any = None, headers: dict[str, str] | None = None) -> None:
        """Send a scheduled request; ``answered(status, JSON, error class)`` records it.
        No task or future per request: the generator's tail is its measurement's."""
        self._in_flight += 1
        self._drained.clear()

        def done(status: int, content: bytes, error: BaseException | None) -> None:
            self._in_flight -= 1
            try:
                answered(*self._outcome(status, content, error))
            finally:
                if self._in_flight == 0:
                    self._drained.set()

        self._wire.send(method, url, done, timeout_s=self.spec.timeout_s, json_body=body,
                        headers=headers)

    async def _send(self, method: str, url: str, body: Any = None,
                    headers: dict[str, str] | None = None) -> tuple[int, Any, str]:
        """A follow-up request, awaited: ``(status, JSON body or None, error class)``."""
        return self._outcome(*await self._wire.fetch(
            method, url, timeout_s=self.spec.timeout_s, json_body=body, headers=headers))
