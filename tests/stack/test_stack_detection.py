"""The monitor finds every fault by itself, with no client traffic at all (the original
experiment runner injects, then only polls ``GET /status``), and never marks a healthy
replica OFF: not in a quiet stack, not under writes that keep replicas one event apart.

How fast it finds them is a benchmark (``bench/quiet.py``, BENCHMARKS.md); here the bound
is only "found at all, within a few seconds".
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import httpx
import pytest
from stack_helpers import inject, monitor_state, wait_all_on, wait_consistent, wait_until

#: Generous: the benchmark's p95 is well under 1 s; this only says "detected at all".
FOUND_WITHIN_S = 5.0


@pytest.fixture
def stack(clean_faults, http):
    wait_all_on(http, clean_faults)
    return clean_faults


def _offs(http, stack, since: str) -> list[dict]:
    body = http.get(f"{stack.urls.monitor}/transitions", params={"since": since}).json()
    return [t for t in body["transitions"] if t["status"] == "OFF"]


@pytest.mark.parametrize(
    ("replica", "fault", "reason"),
    [
        ("1", {"type": "latency", "latency_ms": 500}, "health check failure: health: timeout"),
        ("2", {"type": "intermittent", "probability": 0.3, "seed": 3}, "health check failure"),
        ("3", {"type": "incorrect_response", "product_id": "PROD-002"},
         "incorrect_response check of PROD-002: total 1"),
    ],
    ids=["latency", "intermittent", "incorrect_response"],
)
def test_every_fault_is_found_with_no_client_traffic(http, stack, replica, fault, reason):
    since = datetime.now(UTC).isoformat()
    inject(http, stack, replica, ttl_s=60, **fault)
    wait_until(lambda: monitor_state(http, stack, replica)["status"] == "OFF",
               timeout_s=FOUND_WITHIN_S, interval_s=0.05, what=f"replica {replica} OFF")
    off = [t for t in _offs(http, stack, since) if t["instance_id"] == replica]
    assert off and off[0]["reason"].startswith(reason), off
    inject(http, stack, replica, type="clear")
    wait_until(lambda: monitor_state(http, stack, replica)["status"] == "ON", timeout_s=15,
               what=f"replica {replica} ON after the clear")
    assert not [t for t in _offs(http, stack, since) if t["instance_id"] != replica]


@pytest.mark.slow
def test_a_crash_is_found_with_no_client_traffic(http, stack):
    since = datetime.now(UTC).isoformat()
    inject(http, stack, "2", type="crash")
    wait_until(lambda: monitor_state(http, stack, "2")["status"] == "OFF",
               timeout_s=FOUND_WITHIN_S, interval_s=0.05, what="replica 2 OFF")
    stack.restart_replica("2", timeout_s=30)
    wait_until(lambda: monitor_state(http, stack, "2")["status"] == "ON", timeout_s=20,
               what="replica 2 ON after its restart")
    assert [t["instance_id"] for t in _offs(http, stack, since)] == ["2"]


def _writes(stack, stop: threading.Event, placed: list[int]) -> None:
    """Orders and their cancels at ~25 events/s: replicas are often one event apart."""
    with httpx.Client(timeout=5) as client:
        while not stop.is_set():
            answer = client.post(f"{stack.urls.orders}/orders",
                                 json={"product_id": "PROD-001", "quantity": 1})
            if answer.status_code == 201:
                client.post(f"{stack.urls.orders}/orders/{answer.json()['order_id']}/cancel")
                placed[0] += 1
            time.sleep(0.05)


@pytest.mark.slow
def test_healthy_replicas_are_never_marked_off_quiet_or_under_writes(http, stack):
    wait_consistent(http, stack)
    since = datetime.now(UTC).isoformat()
    time.sleep(8)  # quiet
    stop, placed = threading.Event(), [0]
    writer = threading.Thread(target=_writes, args=(stack, stop, placed), daemon=True)
    writer.start()
    time.sleep(12)  # under writes
    stop.set()
    writer.join(timeout=10)
    assert placed[0] > 50
    assert _offs(http, stack, since) == []
    wait_consistent(http, stack)
