"""inventory-svc against each real stack: reads, fault injection and its guards."""

from __future__ import annotations

import time

import pytest
from stack_helpers import inject, wait_until

ALLOWED = "crash, latency, intermittent, incorrect_response, clear"


def test_replica_reads_answer_the_contract(http, stack):
    for i, url in enumerate(stack.urls.inventory, start=1):
        one = http.get(f"{url}/inventory/PROD-001").json()
        assert one["instance_id"] == str(i)
        assert {"product_id", "available_quantity", "reserved_quantity", "timestamp"} <= one.keys()
        listing = http.get(f"{url}/inventory").json()
        assert listing["instance_id"] == str(i)
        assert {r["product_id"] for r in listing["inventory"]} >= {
            "PROD-001",
            "PROD-002",
            "PROD-003",
        }
        missing = http.get(f"{url}/inventory/NOPE-1")
        assert missing.status_code == 404
        assert missing.json()["error"] == "Product not found"


def test_injection_without_the_chaos_token_is_401_and_changes_nothing(http, stack):
    url = f"{stack.urls.replica('1')}/inject-failure"
    for headers in ({}, {"X-Chaos-Token": "wrong"}):
        response = http.post(url, json={"type": "latency", "latency_ms": 50}, headers=headers)
        assert response.status_code == 401
        assert "X-Chaos-Token" in response.json()["error"]
    assert http.get(url).json()["failure_injected"] is False


@pytest.mark.parametrize("body", [None, {}, {"type": "meltdown"}, {"latency_ms": 5}])
def test_bad_injection_is_400_naming_the_allowed_types(http, stack, body):
    url = f"{stack.urls.replica('2')}/inject-failure"
    kwargs = {"json": body} if body is not None else {}
    response = http.post(url, headers=stack.chaos_headers, **kwargs)
    assert response.status_code == 400
    assert ALLOWED in response.json()["error"]
    assert http.get(url).json()["failure_injected"] is False


def test_get_inject_failure_reports_the_fault_and_its_expiry(http, stack):
    url = f"{stack.urls.replica('3')}/inject-failure"
    injected = inject(http, stack, "3", type="latency", latency_ms=10, ttl_s=60).json()
    assert (injected["failure_injected"], injected["failure_type"]) == (True, "latency")
    state = http.get(url).json()
    assert state["failure_type"] == "latency"
    assert state["fault"]["params"] == {"latency_ms": 10.0}
    assert state["expires_at"] == injected["expires_at"]
    health = http.get(f"{stack.urls.replica('3')}/health").json()
    assert (health["failure_injected"], health["failure_type"]) == (True, "latency")


def test_clear_removes_the_fault_and_clearing_twice_is_fine(http, stack):
    inject(http, stack, "1", type="intermittent", probability=1.0, ttl_s=60)
    for _ in range(2):
        cleared = inject(http, stack, "1", type="clear").json()
        assert (cleared["failure_injected"], cleared["failure_type"]) == (False, None)
    assert http.get(f"{stack.urls.replica('1')}/health").status_code == 200


def test_injecting_again_replaces_the_previous_fault(http, stack):
    inject(http, stack, "2", type="intermittent", probability=1.0, ttl_s=60)
    inject(http, stack, "2", type="latency", latency_ms=1, ttl_s=60)
    state = http.get(f"{stack.urls.replica('2')}/inject-failure").json()
    assert state["failure_type"] == "latency"
    assert http.get(f"{stack.urls.replica('2')}/health").status_code == 200


def test_fault_clears_itself_after_its_ttl(http, stack):
    inject(http, stack, "1", type="intermittent", probability=1.0, ttl_s=1.5)
    assert http.get(f"{stack.urls.replica('1')}/health").status_code == 500
    wait_until(
        lambda: (
            not http.get(f"{stack.urls.replica('1')}/inject-failure").json()["failure_injected"]
        ),
        timeout_s=10,
        what="fault expiry",
    )
    assert http.get(f"{stack.urls.replica('1')}/health").status_code == 200


def test_intermittent_fault_fails_health_with_down(http, stack):
    inject(http, stack, "2", type="intermittent", probability=1.0, ttl_s=30)
    response = http.get(f"{stack.urls.replica('2')}/health")
    assert response.status_code == 500
    assert (response.json()["status"], response.json()["service"]) == ("DOWN", "inventory-svc")
    assert http.get(f"{stack.urls.replica('2')}/inventory/PROD-001").status_code == 500


def test_latency_fault_delays_hooked_requests_only(http, stack):
    inject(http, stack, "3", type="latency", latency_ms=1000, ttl_s=30, seed=3)
    start = time.monotonic()
    assert http.get(f"{stack.urls.replica('3')}/inventory/PROD-001").status_code == 200
    assert time.monotonic() - start >= 0.8
    start = time.monotonic()
    http.get(f"{stack.urls.replica('3')}/inject-failure")  # not a hooked route
    assert time.monotonic() - start < 0.6


def test_fault_without_ttl_gets_the_default_ttl(http, stack):
    answer = inject(http, stack, "2", type="latency", latency_ms=1).json()
    assert answer["ttl_s"] == 300  # FAULT_DEFAULT_TTL_S's default
    state = http.get(f"{stack.urls.replica('2')}/inject-failure").json()
    assert state["fault"]["ttl_s"] == 300


def test_incorrect_response_skews_only_that_product_on_that_route(http, stack):
    url = stack.urls.replica("1")
    truth = http.get(f"{stack.urls.replica('2')}/inventory/PROD-002").json()["available_quantity"]
    inject(http, stack, "1", type="incorrect_response", product_id="PROD-002", ttl_s=30)
    wrong = http.get(f"{url}/inventory/PROD-002").json()["available_quantity"]
    assert wrong - truth == 1000
    listed = {r["product_id"]: r for r in http.get(f"{url}/inventory").json()["inventory"]}
    assert listed["PROD-002"]["available_quantity"] == truth
