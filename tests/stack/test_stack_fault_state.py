"""Fault bodies and a replica's fault state, in-process: bounds, expiry, waking sleepers."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from stack.common.errors import ApiError
from stack.inventory.fault_body import parse_fault_body
from stack.inventory.faults import INCORRECT_OFFSET, FaultState, InjectedFailure


def _body(**fields):
    return parse_fault_body(json.dumps(fields).encode())


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "body must be a JSON object with a 'type', one of: crash, latency"),
        (b'{"type": "boom"}', "unknown failure type 'boom'; allowed types: crash, latency"),
        (b'{"type": "latency", "latency_ms": -1}', "latency_ms must be a number between 0 and"),
        (b'{"type": "latency", "latency_ms": 1e9}', "latency_ms must be a number between 0 and"),
        (b'{"type": "latency", "latency_ms": NaN}', "latency_ms must be a number between 0 and"),
        (b'{"type": "intermittent", "probability": 1.5}', "probability must be a number between"),
        (b'{"type": "intermittent", "probability": NaN}', "probability must be a number between"),
        (b'{"type": "latency", "ttl_s": "x"}', "ttl_s must be a number"),
        (b'{"type": "latency", "ttl_s": 1e308}', "ttl_s must be a number"),
        (b'{"type": "crash", "ttl_s": Infinity}', "ttl_s must be a number"),
        (b'{"type": "latency", "ttl_s": null}', "ttl_s must be a number"),
        (b'{"type": "latency", "seed": 1.5}', "seed must be an integer"),
        (b'{"type": "latency", "seed": 18446744073709551616}', "seed must be an integer"),
        (b'{"type": "incorrect_response", "product_id": "\\u0000"}', "product_id must be a string"),
        (b'{"type": "latency", "events": "yes"}', "events must be true or false"),
        (b"[" * 100_000 + b"]" * 100_000, "body must be a JSON object with a 'type'"),
    ],
)
def test_bad_fault_bodies_are_400_with_a_sentence(raw, message):
    with pytest.raises(ApiError) as caught:
        parse_fault_body(raw)
    assert caught.value.status == 400
    assert message in caught.value.message


def test_fault_bodies_get_defaults_and_ignore_fields_of_other_types():
    latency = _body(type="latency")
    assert (latency.params(), latency.ttl_s, latency.seed) == ({"latency_ms": 1000.0}, None, None)
    intermittent = _body(type="intermittent", ttl_s=5, seed=7, latency_ms="ignored")
    assert (intermittent.params(), intermittent.ttl_s, intermittent.seed) == (
        {"probability": 0.5}, 5.0, 7)
    assert _body(type="latency", latency_ms=5, events=True).params() == {
        "latency_ms": 5.0, "events": True}


async def test_fault_clears_itself_when_its_ttl_expires():
    faults = FaultState()
    faults.set(_body(type="incorrect_response", product_id="PROD-001", ttl_s=0.05), 300)
    assert faults.reported_available("PROD-001", 10) == 10 + INCORRECT_OFFSET
    assert faults.reported_available("PROD-002", 10) == 10
    await asyncio.sleep(0.1)
    assert faults.current is None
    assert faults.reported_available("PROD-001", 10) == 10


async def test_seeded_intermittent_fault_is_reproducible():
    async def draws(seed: int) -> list[bool]:
        faults = FaultState()
        faults.set(_body(type="intermittent", probability=0.5, ttl_s=60, seed=seed), 300)
        out = []
        for _ in range(30):
            try:
                await faults.hook()
                out.append(True)
            except InjectedFailure:
                out.append(False)
        faults.clear()
        return out

    first = await draws(42)
    assert first == await draws(42)
    assert True in first and False in first


async def test_clear_reports_whether_a_fault_was_in_force():
    faults = FaultState()
    faults.set(_body(type="intermittent", probability=1.0, ttl_s=60), 300)
    with pytest.raises(InjectedFailure):
        await faults.hook()
    assert faults.clear() is True
    assert faults.clear() is False  # "already clear": the route still answers 200
    await faults.hook()


async def _hooked_for(faults: FaultState) -> float:
    start = time.monotonic()
    await faults.hook()
    return time.monotonic() - start


async def test_a_latency_sleep_wakes_up_when_the_fault_is_cleared():
    faults = FaultState()
    faults.set(_body(type="latency", latency_ms=20_000, ttl_s=60), 300)
    sleeper = asyncio.create_task(_hooked_for(faults))
    await asyncio.sleep(0.2)
    faults.clear()
    assert await asyncio.wait_for(sleeper, 5) < 1.0


async def test_a_latency_sleep_ends_when_the_fault_expires():
    faults = FaultState()
    faults.set(_body(type="latency", latency_ms=20_000, ttl_s=0.3), 300)
    assert await asyncio.wait_for(_hooked_for(faults), 5) < 1.0


async def test_a_latency_sleep_wakes_up_when_the_fault_is_replaced():
    faults = FaultState()
    faults.set(_body(type="latency", latency_ms=20_000, ttl_s=60), 300)
    sleeper = asyncio.create_task(_hooked_for(faults))
    await asyncio.sleep(0.2)
    faults.set(_body(type="latency", latency_ms=0, ttl_s=60), 300)
    assert await asyncio.wait_for(sleeper, 5) < 1.0


async def test_event_processing_is_hooked_only_when_the_fault_says_so():
    faults = FaultState()
    faults.set(_body(type="intermittent", probability=1.0, ttl_s=60), 300)
    await faults.hook(event=True)  # client-facing only: events go through
    faults.set(_body(type="intermittent", probability=1.0, ttl_s=60, events=True), 300)
    with pytest.raises(InjectedFailure):
        await faults.hook(event=True)


async def test_a_retry_pause_ends_with_the_fault():
    faults = FaultState()
    faults.set(_body(type="intermittent", probability=1.0, ttl_s=60, events=True), 300)
    pause = asyncio.create_task(faults.pause(30))
    await asyncio.sleep(0.1)
    faults.clear()
    await asyncio.wait_for(pause, 2)
