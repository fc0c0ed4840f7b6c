"""A fault ends when it says: after ``clear`` or its TTL, every effect is gone within 1 s —
requests sleeping in a latency fault wake up, and the replica's event lag is back to 0.

By default a fault is client-facing only: the replica keeps applying order events while
it answers slowly or with errors. With ``"events": true`` event processing is hooked too
(it lags while the fault lasts), and still catches up within 1 s of the clear.
"""

from __future__ import annotations

import threading
import time

import httpx
import psycopg
import pytest
from stack_helpers import inject, replica_stock, wait_consistent, wait_until

#: The issue's bound: every effect of a fault gone this long after clear or expiry.
GONE_WITHIN_S = 1.0


@pytest.fixture
def stack(clean_faults, http):
    wait_consistent(http, clean_faults)
    return clean_faults


def _order(http, stack, quantity=1):
    response = http.post(f"{stack.urls.orders}/orders",
                         json={"product_id": "PROD-002", "quantity": quantity})
    assert response.status_code == 201, response.text


def _db_stock(stack, replica):
    """A replica's PROD-002 straight from Postgres (its HTTP routes sleep in the fault)."""
    port = stack.settings.base_port + 7
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/experimento") as conn:
        return conn.execute(
            "SELECT available_quantity, reserved_quantity FROM inventory"
            " WHERE instance_id = %s AND product_id = 'PROD-002'", (replica,)).fetchone()


def _events(http, stack, replica):
    return http.get(f"{stack.urls.replica(replica)}/health", timeout=10).json()["events"]


def _slow_read(stack, replica, out: dict) -> threading.Thread:
    """GET /inventory/PROD-002 on ``replica`` in a thread; ``out["done"]`` when it answers."""

    def read() -> None:
        with httpx.Client(timeout=60) as client:
            out["status"] = client.get(f"{stack.urls.replica(replica)}/inventory/PROD-002"
                                       ).status_code
        out["done"] = time.monotonic()

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


class _NotYet:
    """A false probe result that says why (in the timeout's message)."""

    def __init__(self, why: str) -> None:
        self.why = why

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return self.why


def _all_gone(http, stack, replica, since: float) -> float:
    """Seconds after ``since`` until the replica answers at once, equals the others and
    has applied every event; fails the test if that takes longer than GONE_WITHIN_S."""

    def gone() -> bool | _NotYet:
        start = time.monotonic()
        events = _events(http, stack, replica)
        took = time.monotonic() - start
        if took > 0.2 or events["lag"] != 0:
            return _NotYet(f"/health took {took:.3f} s, events {events}")
        stock = replica_stock(http, stack)
        return stock[replica] == stock["1"] or _NotYet(f"stock {stock}")

    wait_until(gone, timeout_s=GONE_WITHIN_S, interval_s=0.05,
               what=f"replica {replica} without any effect of the fault")
    return time.monotonic() - since


def test_clear_wakes_a_latency_sleep_and_the_replica_never_lagged(http, stack):
    inject(http, stack, "3", type="latency", latency_ms=20_000, ttl_s=60)
    pending: dict = {}
    reader = _slow_read(stack, "3", pending)
    for _ in range(3):
        _order(http, stack)  # the client-facing fault does not hold back event processing
    time.sleep(0.8)
    assert "done" not in pending  # still asleep in the fault
    inject(http, stack, "3", type="clear")
    cleared = time.monotonic()
    reader.join(timeout=30)
    assert pending["status"] == 200 and pending["done"] - cleared < GONE_WITHIN_S
    _all_gone(http, stack, "3", cleared)


def test_expiry_wakes_a_latency_sleep_like_a_clear(http, stack):
    answer = inject(http, stack, "2", type="latency", latency_ms=20_000, ttl_s=2).json()
    assert answer["ttl_s"] == 2
    injected = time.monotonic()
    pending: dict = {}
    reader = _slow_read(stack, "2", pending)
    _order(http, stack)
    reader.join(timeout=30)
    expired = injected + 2
    assert pending["status"] == 200 and pending["done"] - expired < GONE_WITHIN_S
    _all_gone(http, stack, "2", expired)


def test_a_fault_on_event_processing_lags_while_it_lasts_and_not_after(http, stack):
    before = _db_stock(stack, "3")
    inject(http, stack, "3", type="latency", latency_ms=20_000, ttl_s=60, events=True)
    for _ in range(3):
        _order(http, stack)
    wait_until(lambda: _db_stock(stack, "1") == _db_stock(stack, "2") != before,
               what="replicas 1 and 2 applied the orders")
    assert _db_stock(stack, "3") == before  # replica 3 holds its events while the fault lasts
    inject(http, stack, "3", type="clear")
    cleared = time.monotonic()
    _all_gone(http, stack, "3", cleared)


def test_a_failing_event_retry_ends_with_the_fault(http, stack):
    inject(http, stack, "1", type="intermittent", probability=1.0, ttl_s=60, events=True)
    for _ in range(2):
        _order(http, stack)
    time.sleep(2.5)  # the retry back-off has grown to its 1 s cap
    inject(http, stack, "1", type="clear")
    _all_gone(http, stack, "1", time.monotonic())
