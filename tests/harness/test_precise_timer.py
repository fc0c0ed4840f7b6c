"""The load generator's precise timer (gameday.precise_timer): never early, and a sleep
that was cancelled never fires later."""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time

import pytest

from gameday.precise_timer import PreciseTimer

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="timerfd is Linux's; elsewhere create() is None")


@pytest.fixture
def timer():
    t = PreciseTimer.create()
    assert t is not None, "timerfd should be available on Linux"
    yield t
    t.close()


def test_a_sleep_never_ends_before_its_time(timer) -> None:
    rnd = random.Random(7)

    async def scenario() -> list[float]:
        early = []
        for _ in range(200):
            when = time.perf_counter() + rnd.uniform(0.0001, 0.004)
            await timer.sleep_until(when)
            early.append(when - time.perf_counter())
        return early

    assert max(asyncio.run(scenario())) <= 0.0


def test_a_time_already_past_returns_at_once(timer) -> None:
    async def scenario() -> None:
        await timer.sleep_until(time.perf_counter() - 1.0)

    asyncio.run(asyncio.wait_for(scenario(), 0.5))


def test_a_cancelled_sleep_is_disarmed(timer) -> None:
    async def scenario() -> None:
        task = asyncio.create_task(timer.sleep_until(time.perf_counter() + 0.05))
        await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.1)  # past the cancelled sleep's time

    asyncio.run(scenario())
    with pytest.raises(BlockingIOError):  # it never fired: nothing to read
        os.read(timer._fd, 8)


def test_one_timer_serves_one_loop_after_another(timer) -> None:
    async def nap() -> float:
        when = time.perf_counter() + 0.002
        await timer.sleep_until(when)
        return time.perf_counter() - when

    assert asyncio.run(nap()) >= 0.0
    assert asyncio.run(nap()) >= 0.0  # a new loop: the timer moves its reader there
