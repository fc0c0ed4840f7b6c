"""A slow replica under load, on the real local stack: what the nightly's latency phase
needs (issue 16). Judged by counts of requests, not by wall-clock thresholds."""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from stack_helpers import inject, monitor_state, wait_all_on, wait_consistent, wait_until

PRODUCTS = ("PROD-001", "PROD-002", "PROD-003")


@pytest.fixture
def stack(stack, http):
    wait_all_on(http, stack)
    return stack


def _mixed_load(stack, reads: int, orders: int) -> tuple[list[dict], list[int]]:
    """``reads`` voted reads and ``orders`` orders (each cancelled), interleaved from 8
    threads, so that replicas are often an event apart while they are read."""
    rng = random.Random(16)
    jobs = ["read"] * reads + ["order"] * orders
    rng.shuffle(jobs)

    def one(job: str, client: httpx.Client) -> tuple[str, int, dict | None]:
        if job == "read":
            r = client.get(f"{stack.urls.voter}/inventory/{rng.choice(PRODUCTS)}")
            return job, r.status_code, r.json()
        r = client.post(f"{stack.urls.orders}/orders",
                        json={"product_id": rng.choice(PRODUCTS), "quantity": 1})
        if r.status_code == 201:
            client.post(f"{stack.urls.orders}/orders/{r.json()['order_id']}/cancel")
        return job, r.status_code, None

    with httpx.Client(timeout=5.0) as client, ThreadPoolExecutor(8) as pool:
        done = list(pool.map(lambda j: one(j, client), jobs))
    return [b for j, _, b in done if j == "read"], [s for j, s, _ in done if j == "read"]


def test_a_replica_the_monitor_holds_off_is_not_asked_and_reads_keep_their_quorum(http, stack):
    """Replica 2 answers 800 ms late; once the monitor holds it OFF the voter stops
    sending it a request per vote (which cost a connection and a 0.3 s timer each, and
    under the nightly's 150 req/s took the voter down) — and every vote still has two
    agreeing replicas, also while the other two are an event apart under writes."""
    inject(http, stack, "2", type="latency", latency_ms=800, ttl_s=60)
    wait_until(lambda: monitor_state(http, stack, "2")["status"] == "OFF", timeout_s=15,
               what="replica 2 OFF")
    time.sleep(0.5)  # the voter follows the monitor's status every 0.2 s
    bodies, statuses = _mixed_load(stack, reads=200, orders=50)
    failed = [b for b, s in zip(bodies, statuses, strict=True) if s != 200]
    # At most 2 %: on a machine at load 10+ a second replica sometimes stalls for a
    # second, and no voter masks two replicas out (before the fix: 503s "no two replicas
    # agreed" as well, and replica 2 asked in every vote).
    assert len(failed) <= len(bodies) // 50, [
        (b["detail"], b["total_time_ms"], b["voting_metrics"]) for b in failed]
    assert all(b["quorum_achieved"] for b, s in zip(bodies, statuses, strict=True) if s == 200)
    asked_slow = [b for b in bodies
                  if "2" in b["voting_metrics"]["participating_instances"]
                  or "2" in b["voting_metrics"]["late_instances"]]
    # The held-off replica is asked only to settle a vote the other two could not.
    assert len(asked_slow) <= len(bodies) // 10, f"{len(asked_slow)} of {len(bodies)} asked 2"
    assert sum(b["voting_metrics"].get("skipped_instances") == ["2"] for b in bodies) >= (
        len(bodies) * 9 // 10
    )
    stats = http.get(f"{stack.urls.voter}/voting-stats").json()["voting_stats"]
    assert stats["skipped_by_instance"]["2"] >= len(bodies) * 9 // 10
    assert stats["off_instances"] == ["2"]
    wait_consistent(http, stack)


def test_a_replica_answers_with_its_applied_offset_and_waits_for_a_min_offset(http, stack):
    """What the voter's lag-aware re-ask rests on: a read says which events it holds, and
    ``?min_offset=N`` answers once the replica holds events up to N-1."""
    created = http.post(f"{stack.urls.orders}/orders",
                        json={"product_id": "PROD-001", "quantity": 1})
    assert created.status_code == 201
    end = max(http.get(f"{u}/health").json()["events"]["log_end_offset"] or 0
              for u in stack.urls.inventory)
    for url in stack.urls.inventory:
        body = http.get(f"{url}/inventory/PROD-001", params={"min_offset": end}).json()
        assert body["applied_offset"] >= end
        listing = http.get(f"{url}/inventory", params={"min_offset": end}).json()
        assert listing["applied_offset"] >= end
    http.post(f"{stack.urls.orders}/orders/{created.json()['order_id']}/cancel")
    for bad in ("-1", "x", "1.5", "9" * 30, ""):
        response = http.get(f"{stack.urls.replica('1')}/inventory/PROD-001",
                            params={"min_offset": bad})
        assert response.status_code == 400, bad
        assert "min_offset" in response.json()["error"]
