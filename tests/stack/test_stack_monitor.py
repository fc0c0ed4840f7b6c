"""monitor-svc against each real stack: detection, recovery, audit, transitions, metrics."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from stack_helpers import inject, monitor_state, wait_all_on, wait_until


@pytest.fixture
def stack(stack, http):
    wait_all_on(http, stack)
    return stack


def _transitions(http, stack, since):
    response = http.get(f"{stack.urls.monitor}/transitions", params={"since": since})
    assert response.status_code == 200
    return response.json()["transitions"]


def test_status_lists_every_replica(http, stack):
    body = http.get(f"{stack.urls.monitor}/status").json()
    ids = sorted(i["instance_id"] for i in body["instances"])
    assert ids == ["1", "2", "3"]
    assert all(i["service_name"] == "inventory-svc" for i in body["instances"])
    assert set(body["monitoring_state"]) == {f"inventory-svc-{i}" for i in "123"}
    one = http.get(f"{stack.urls.monitor}/status/inventory-svc/2").json()
    assert (one["instance_id"], one["status"]) == ("2", "ON")
    assert one["last_health_check"] is not None
    missing = http.get(f"{stack.urls.monitor}/status/inventory-svc/9")
    assert missing.status_code == 404 and "error" in missing.json()


@pytest.mark.slow
def test_slow_replica_goes_off_after_failed_checks_and_back_on(http, stack):
    since = datetime.now(UTC).isoformat()
    inject(http, stack, "1", type="latency", latency_ms=1000, ttl_s=60)
    wait_until(lambda: monitor_state(http, stack, "1")["status"] == "OFF", timeout_s=10, what="OFF")
    inject(http, stack, "1", type="clear")
    wait_until(lambda: monitor_state(http, stack, "1")["status"] == "ON", timeout_s=15, what="ON")
    mine = [t for t in _transitions(http, stack, since) if t["instance_id"] == "1"]
    assert [t["status"] for t in mine][:2] == ["OFF", "ON"]
    assert mine[0]["at"] < mine[1]["at"]
    failure = next(
        f
        for f in http.get(f"{stack.urls.monitor}/failures").json()["failures"]
        if f["instance_id"] == "1" and f["detected_at"] >= since
    )
    assert failure["failure_type"].startswith("health check failure")
    assert failure["resolved_at"] is not None and failure["resolved_at"] > failure["detected_at"]
    assert failure["ttr_ms"] > 0


def test_failures_are_newest_first(http, stack):
    failures = http.get(f"{stack.urls.monitor}/failures").json()["failures"]
    detected = [f["detected_at"] for f in failures]
    assert detected == sorted(detected, reverse=True)


def test_transitions_reject_a_bad_since(http, stack):
    response = http.get(f"{stack.urls.monitor}/transitions", params={"since": "yesterday"})
    assert response.status_code == 400
    assert "ISO 8601" in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"instance_id": "2", "reason": "bored"}, 400),
        ({"reason": "error"}, 400),
        ({"instance_id": "7", "reason": "error"}, 404),
        ({"instance_id": "2", "reason": "timeout", "detail": "test"}, 202),
    ],
)
def test_reports_are_validated(http, stack, body, status):
    response = http.post(f"{stack.urls.monitor}/reports", json=body, headers=stack.chaos_headers)
    assert response.status_code == status, response.text


def test_reports_without_the_chaos_token_are_401_and_change_nothing(http, stack):
    report = {"instance_id": "3", "reason": "error", "detail": "anyone local"}
    for headers in ({}, {"X-Chaos-Token": "wrong"}):
        for _ in range(4):  # two accepted error reports within a second would mark it OFF
            response = http.post(f"{stack.urls.monitor}/reports", json=report, headers=headers)
            assert response.status_code == 401
            assert "X-Chaos-Token" in response.json()["error"]
    state = monitor_state(http, stack, "3")
    assert (state["status"], state["recent_error_rounds"]) == ("ON", 0)


def test_metrics_aggregate_requests_of_every_service(http, stack):
    http.get(f"{stack.urls.voter}/inventory/PROD-001")
    http.get(f"{stack.urls.orders}/ledger")

    def services():
        body = http.get(f"{stack.urls.monitor}/metrics", params={"minutes": 5}).json()
        names = {m["service_name"] for m in body["metrics"]}
        wanted = {"inventory-svc", "voter-svc", "orders-svc"}
        return body if wanted <= names else None

    body = wait_until(services, timeout_s=10, what="metrics of every service")
    assert body["period_minutes"] == 5
    row = next(m for m in body["metrics"] if m["service_name"] == "inventory-svc")
    assert {"endpoint", "method", "status_code", "avg_latency", "request_count"} <= row.keys()
    assert row["min_latency"] <= row["avg_latency"] <= row["max_latency"]
    bad = http.get(f"{stack.urls.monitor}/metrics", params={"minutes": "x"})
    assert bad.status_code == 400


def test_voter_error_reports_count_as_failed_checks(http, stack):
    since = datetime.now(UTC).isoformat()
    report = {"instance_id": "3", "reason": "error", "detail": "test"}

    def reported_off() -> bool:
        for _ in range(3):  # two within a second are enough
            http.post(f"{stack.urls.monitor}/reports", json=report, headers=stack.chaos_headers)
        return monitor_state(http, stack, "3")["status"] == "OFF"

    wait_until(reported_off, timeout_s=10, interval_s=0.05, what="OFF after error reports")
    # Nothing is wrong with replica 3: the monitor's own checks bring it back.
    wait_until(lambda: monitor_state(http, stack, "3")["status"] == "ON", timeout_s=15, what="ON")
    mine = [t for t in _transitions(http, stack, since) if t["instance_id"] == "3"]
    assert [t["status"] for t in mine][:2] == ["OFF", "ON"]
    assert mine[0]["reason"] == "error reported by voter"
    failure = next(
        f
        for f in http.get(f"{stack.urls.monitor}/failures").json()["failures"]
        if f["instance_id"] == "3" and f["detected_at"] >= since
    )
    assert failure["failure_type"] == "error reported by voter"
    assert failure["resolved_at"] > failure["detected_at"]
