"""Detection: concurrent health checks, the ON/OFF state machine, and the voter's reports.

3 consecutive failed checks turn a replica OFF, 5 consecutive good ones turn it back ON.
A replica reported by the voter for an incorrect answer is marked OFF at once and stays
*suspect*: each of its checks then also compares its stock with the other replicas', so it
only returns ON once it agrees with the majority again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from stack.common.bounded import bounded
from stack.common.timeutil import iso, utcnow
from stack.monitor.store import Store

__all__ = ["Monitor", "InstanceState", "FAILURES_TO_OFF", "SUCCESSES_TO_ON", "REPORT_REASONS"]

log = logging.getLogger("stack.monitor")

FAILURES_TO_OFF = 3
SUCCESSES_TO_ON = 5
REPORT_REASONS = ("incorrect_response", "error", "timeout")
INCORRECT_REPORTED = "incorrect_response reported by voter"
#: When the monitor re-reads a reported replica before marking it OFF.
CONFIRM_DELAYS_S = (0.0, 0.1, 0.15)
#: Reads in a row, this far apart, that make a replica's impossible total a verdict.
IMPOSSIBLE_READS = 2
IMPOSSIBLE_RETRY_S = 0.03
#: A verdict without a majority is looked at again after this, at most this many times.
UNSURE_RETRY_S = 0.03
MAX_UNSURE_VERDICTS = 8


@dataclass
class InstanceState:
    instance_id: str
    url: str
    status: str = "ON"
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    last_check: datetime | None = None
    first_failure_at: datetime | None = None
    failure_type: str | None = None
    suspect_product: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "consecutive_failures": self.consecutive_failures,
            "consecutive_successes": self.consecutive_successes,
            "last_check": iso(self.last_check),
            "suspect": self.suspect_product is not None,
        }


class Monitor:
    def __init__(
        self, store: Store, urls: tuple[str, ...], *, interval_s: float, timeout_s: float
    ) -> None:
        self.store = store
        self.service_name = store.service_name
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.instances = {str(i + 1): InstanceState(str(i + 1), url) for i, url in enumerate(urls)}
        self._locks = {i: asyncio.Lock() for i in self.instances}
        self._confirming: set[str] = set()
        self._client = httpx.AsyncClient(timeout=timeout_s, limits=httpx.Limits(max_connections=50))
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()

    def key(self, instance_id: str) -> str:
        return f"{self.service_name}-{instance_id}"

    async def start(self) -> None:
        await self.store.init_instances(tuple(self.instances), utcnow())
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        for task in [self._task, *self._background]:
            if task:
                task.cancel()
        await asyncio.gather(
            *(t for t in [self._task, *self._background] if t), return_exceptions=True
        )
        await self._client.aclose()

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                await asyncio.gather(*(self._check(s) for s in self.instances.values()))
                await self.store.record_checks(
                    [(s.instance_id, s.last_check) for s in self.instances.values()]
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("check round failed")
            await asyncio.sleep(max(0.0, self.interval_s - (loop.time() - started)))

    async def _health(self, state: InstanceState) -> str | None:
        """None when healthy, else what was wrong."""
        try:
            # bounded() bounds the whole check without cancelling the request (see
            # stack.common.bounded); httpx's timeout applies to each phase.
            response = await bounded(self._client.get(f"{state.url}/health"), self.timeout_s)
        except (httpx.TimeoutException, TimeoutError):
            return "health check failure: timeout"
        except httpx.HTTPError as exc:
            return f"health check failure: {type(exc).__name__}"
        if response.status_code != 200:
            return f"health check failure: HTTP {response.status_code}"
        try:
            up = response.json().get("status") == "UP"
        except ValueError:
            up = False
        return None if up else "health check failure: status not UP"

    async def _stock(self, url: str, product_id: str) -> tuple[int, int] | None:
        try:
            response = await bounded(
                self._client.get(f"{url}/inventory/{product_id}"), self.timeout_s
            )
            body = response.json()
            if response.status_code != 200:
                return None
            return body["available_quantity"], body["reserved_quantity"]
        except (httpx.HTTPError, TimeoutError, ValueError, KeyError):
            return None

    async def _verdict(self, state: InstanceState, product_id: str) -> str:
        """Compare ``state``'s stock of ``product_id`` with every replica's at once:
        "agrees" (it holds a majority's value), "impossible" (its total, available +
        reserved, differs from a majority's total: no lag explains that, since events only
        move stock between available and reserved), "outlier" (a majority holds another
        value, maybe one event ahead of it) or "unknown" (no answer from it, or no
        majority: replicas in flux under writes)."""
        values = await asyncio.gather(
            *(self._stock(s.url, product_id) for s in self.instances.values())
        )
        by_id = dict(zip(self.instances, values, strict=True))
        mine = by_id[state.instance_id]
        if mine is None:
            return "unknown"
        answered = [v for v in by_id.values() if v is not None]
        total, total_count = Counter(sum(v) for v in answered).most_common(1)[0]
        if total_count * 2 > len(by_id) and sum(mine) != total:
            return "impossible"
        value, count = Counter(answered).most_common(1)[0]
        if count * 2 <= len(by_id):
            return "unknown"
        return "agrees" if value == mine else "outlier"

    async def _check(self, state: InstanceState) -> None:
        problem = await self._health(state)
        product_id = state.suspect_product
        if problem is None and product_id is not None:
            verdict = await self._verdict(state, product_id)
            if verdict != "agrees":
                problem = f"incorrect_response check of {product_id}: {verdict}"
        await self.record(state.instance_id, problem)

    async def record(self, instance_id: str, problem: str | None) -> None:
        """Count one check of ``instance_id``: good when ``problem`` is None."""
        state = self.instances[instance_id]
        async with self._locks[instance_id]:
            now = utcnow()
            state.last_check = now
            if problem is None:
                state.consecutive_failures = 0
                state.consecutive_successes += 1
                if state.status == "OFF" and state.consecutive_successes >= SUCCESSES_TO_ON:
                    # Stored first: whoever reads ON from /status finds the audit resolved.
                    reason = f"{SUCCESSES_TO_ON} consecutive successful checks"
                    await self.store.mark_on(instance_id, now, reason)
                    state.status, state.suspect_product = "ON", None
                    log.info("%s ON", self.key(instance_id))
                return
            state.consecutive_successes = 0
            state.consecutive_failures += 1
            if state.consecutive_failures == 1:
                state.first_failure_at, state.failure_type = now, problem
            if state.status == "ON" and state.consecutive_failures >= FAILURES_TO_OFF:
                await self.store.mark_off(
                    instance_id, now, state.failure_type or problem, state.first_failure_at or now
                )
                state.status = "OFF"
                log.info("%s OFF: %s", self.key(instance_id), state.failure_type)

    def report(self, instance_id: str, reason: str, product_id: str | None) -> None:
        """Act on the voter's report (never blocks the caller)."""
        if reason == "incorrect_response":
            state = self.instances[instance_id]
            if not product_id or (state.status == "OFF" and state.suspect_product):
                return
            if instance_id in self._confirming:
                return
            self._confirming.add(instance_id)
            self._spawn(self._confirm_incorrect(instance_id, product_id))
        else:
            self._spawn(self.record(instance_id, f"{reason} reported by voter"))

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _confirm_incorrect(self, instance_id: str, product_id: str) -> None:
        """Mark OFF if the replica is still the outlier on every one of a few quick reads:
        a replica one event behind the others under writes catches up within them. A
        total no lag can explain ("impossible") needs only two reads in a row."""
        state = self.instances[instance_id]
        try:
            confirmed, unsure, impossible = 0, 0, 0
            delay = CONFIRM_DELAYS_S[0]
            while confirmed < len(CONFIRM_DELAYS_S) and impossible < IMPOSSIBLE_READS:
                await asyncio.sleep(delay)
                verdict = await self._verdict(state, product_id)
                if verdict == "agrees":
                    return
                if verdict == "impossible":
                    impossible += 1
                    delay = IMPOSSIBLE_RETRY_S
                    continue
                impossible = 0
                if verdict == "unknown":
                    # The others are one write apart (no majority) or it did not answer:
                    # no evidence either way, look again soon instead of dropping the
                    # report and waiting for the voter's next one.
                    unsure += 1
                    if unsure > MAX_UNSURE_VERDICTS:
                        return
                    delay = UNSURE_RETRY_S
                    continue
                confirmed += 1
                if confirmed < len(CONFIRM_DELAYS_S):
                    delay = CONFIRM_DELAYS_S[confirmed]
            async with self._locks[instance_id]:
                state.suspect_product = product_id
                state.consecutive_successes = 0
                if state.status == "ON":
                    now = utcnow()
                    await self.store.mark_off(instance_id, now, INCORRECT_REPORTED, now)
                    state.status, state.failure_type = "OFF", INCORRECT_REPORTED
                    log.info("%s OFF: %s", self.key(instance_id), INCORRECT_REPORTED)
        finally:
            self._confirming.discard(instance_id)
