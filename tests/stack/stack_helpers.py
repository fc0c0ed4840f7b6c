"""Helpers for the stack's tests: polling with deadlines, fault injection, replica reads."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import pytest

T = TypeVar("T")


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout_s: float = 15.0,
    interval_s: float = 0.1,
    what: str = "",
) -> T:
    """Call ``probe`` until it returns something truthy; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except httpx.HTTPError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval_s)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what or probe}: last {last!r}")


def inject(client: httpx.Client, stack: Any, instance_id: str, **body: Any) -> httpx.Response:
    response = client.post(
        f"{stack.urls.replica(instance_id)}/inject-failure", json=body, headers=stack.chaos_headers
    )
    assert response.status_code == 200, response.text
    return response


def monitor_state(client: httpx.Client, stack: Any, instance_id: str) -> dict[str, Any]:
    body = client.get(f"{stack.urls.monitor}/status").json()
    return body["monitoring_state"][f"inventory-svc-{instance_id}"]


def wait_all_on(client: httpx.Client, stack: Any, timeout_s: float = 20.0) -> None:
    """Wait until the monitor has every replica ON (earlier tests may have left one OFF)."""

    def all_on() -> bool:
        states = client.get(f"{stack.urls.monitor}/status").json()["monitoring_state"]
        return all(s["status"] == "ON" for s in states.values())

    wait_until(all_on, timeout_s=timeout_s, what="every replica ON")


def replica_stock(client: httpx.Client, stack: Any) -> dict[str, dict[str, tuple[int, int]]]:
    """{instance_id: {product_id: (available, reserved)}} read from each replica directly."""
    out = {}
    for i, url in enumerate(stack.urls.inventory, start=1):
        rows = client.get(f"{url}/inventory").json()["inventory"]
        out[str(i)] = {
            r["product_id"]: (r["available_quantity"], r["reserved_quantity"]) for r in rows
        }
    return out


def ledger_stock(client: httpx.Client, stack: Any) -> dict[str, tuple[int, int]]:
    body = client.get(f"{stack.urls.orders}/ledger").json()
    return {p: (v["available"], v["reserved"]) for p, v in body["products"].items()}


def wait_consistent(client: httpx.Client, stack: Any, timeout_s: float = 20.0) -> dict[str, Any]:
    """Wait until no order is PENDING and every replica's stock equals the ledger."""

    def consistent() -> dict[str, Any] | None:
        ledger = client.get(f"{stack.urls.orders}/ledger").json()
        if ledger["pending_orders"]:
            return None
        expected = ledger_stock(client, stack)
        replicas = replica_stock(client, stack)
        return replicas if all(r == expected for r in replicas.values()) else None

    return wait_until(consistent, timeout_s=timeout_s, what="replicas equal to the ledger")
