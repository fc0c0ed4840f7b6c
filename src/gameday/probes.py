"""Read-only probes of the stack, over its HTTP API only.

Every function takes the :class:`~gameday.targets.base.StackUrls` and optional
``transport`` (tests) and has its own timeout. Functions that read one resource raise
``httpx.HTTPError`` (connection, timeout, or status via ``raise_for_status``) — the caller
decides; the summary probes (:func:`health`, :func:`steady_state`, :func:`consistency`)
never raise for an unreachable service, they report it. Waiting helpers raise
:class:`~gameday.errors.NotReady` (not transient: the wait was the retry) with a
sentence saying what was awaited and the last thing seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from gameday.errors import NotReady
from gameday.http import classify, client
from gameday.targets.base import StackUrls

__all__ = [
    "health",
    "monitor_status",
    "replica_states",
    "transitions",
    "ledger",
    "voting_stats",
    "replica_inventory",
    "wait_until",
    "wait_replica_on",
    "consistency",
    "steady_state",
    "wait_steady",
]

T = TypeVar("T")
_TIMEOUT_S = 2.0


def _get(url: str, transport: httpx.BaseTransport | None, params: Any = None) -> Any:
    with client(timeout_s=_TIMEOUT_S, transport=transport) as http:
        resp = http.get(url, params=params)
        resp.raise_for_status()
        return resp.json()


def _services(urls: StackUrls) -> dict[str, str]:
    out = {f"inventory-{i}": u for i, u in enumerate(urls.inventory, 1)}
    out.update(monitor=urls.monitor, voter=urls.voter, orders=urls.orders)
    return out


def health(urls: StackUrls, *, transport: httpx.BaseTransport | None = None) -> dict[str, dict]:
    """``GET /health`` of every service: ``{name: {ok, status, body | error}}``; never raises.

    ok = HTTP 200 with ``"status": "UP"``.
    """
    out: dict[str, dict] = {}
    with client(timeout_s=_TIMEOUT_S, transport=transport) as http:
        for name, base in _services(urls).items():
            try:
                resp = http.get(f"{base}/health")
                body = resp.json() if resp.content else None
                up = isinstance(body, dict) and body.get("status") == "UP"
                ok = resp.status_code == 200 and up
                out[name] = {"ok": ok, "status": resp.status_code, "body": body}
            except (httpx.HTTPError, ValueError) as exc:
                out[name] = {"ok": False, "status": 0, "error": classify(exc)}
    return out


def monitor_status(urls: StackUrls, *, transport: httpx.BaseTransport | None = None) -> dict:
    """The monitor's ``GET /status`` body. Raises httpx.HTTPError."""
    return _get(f"{urls.monitor}/status", transport)  # type: ignore[no-any-return]


def replica_states(urls: StackUrls, *, transport: httpx.BaseTransport | None = None
                   ) -> dict[str, str]:
    """``{instance_id: "ON"|"OFF"}`` of the inventory replicas per the monitor."""
    body = monitor_status(urls, transport=transport)
    return {str(i["instance_id"]): str(i["status"]) for i in body.get("instances", [])
            if i.get("service_name", "inventory-svc") == "inventory-svc"}


def transitions(
    urls: StackUrls, since_iso: str | None = None, *, transport: httpx.BaseTransport | None = None
) -> list[dict]:
    """The monitor's stored transitions (``GET /transitions?since=``), oldest first."""
    params = {"since": since_iso} if since_iso else None
    return list(_get(f"{urls.monitor}/transitions", transport, params).get("transitions", []))


def ledger(urls: StackUrls, *, transport: httpx.BaseTransport | None = None) -> dict:
    """The orders service's ``GET /ledger`` body. Raises httpx.HTTPError."""
    return _get(f"{urls.orders}/ledger", transport)  # type: ignore[no-any-return]


def voting_stats(urls: StackUrls, *, transport: httpx.BaseTransport | None = None) -> dict:
    """The voter's ``GET /voting-stats`` counters (the body's ``voting_stats``). Raises
    httpx.HTTPError."""
    return dict(_get(f"{urls.voter}/voting-stats", transport)["voting_stats"])


def replica_inventory(
    urls: StackUrls, replica: str, *, transport: httpx.BaseTransport | None = None
) -> dict[str, dict]:
    """Replica ``replica``'s ``GET /inventory`` rows keyed by product id."""
    body = _get(f"{urls.replica(replica)}/inventory", transport)
    return {row["product_id"]: row for row in body.get("inventory", [])}


def wait_until(
    predicate: Callable[[], T], timeout: float, interval: float = 0.1, *, what: str = "condition"
) -> T:
    """Call ``predicate`` every ``interval`` s until it returns a truthy value, and return it.

    An exception from the predicate counts as "not yet". Raises NotReady naming
    ``what`` and the last value or error after ``timeout`` s.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last = value
        except Exception as exc:  # not yet: the service may be restarting
            last = f"{exc.__class__.__name__}: {exc}"
        if time.monotonic() >= deadline:
            raise NotReady(f"{what} not reached within {timeout:g} s (last: {last!r})")
        time.sleep(interval)


def wait_replica_on(
    urls: StackUrls, replica: str, timeout_s: float = 30.0, *, interval: float = 0.1,
    transport: httpx.BaseTransport | None = None,
) -> float:
    """Wait until the monitor reports ``replica`` ON; returns the epoch time it was seen.
    Raises NotReady."""
    wait_until(lambda: replica_states(urls, transport=transport).get(str(replica)) == "ON",
               timeout_s, interval, what=f"replica {replica} ON per the monitor")
    return time.time()


def _compare(led: dict, replicas: dict[str, Any]) -> list[dict]:
    mismatches = []
    for product, truth in (led.get("products") or {}).items():
        for rid, rows in replicas.items():
            if not isinstance(rows, dict) or "error" in rows:
                mismatches.append({"replica": rid, "product_id": product, "field": "reachable",
                                   "expected": True, "got": rows.get("error") if rows else None})
                continue
            row = rows.get(product)
            for field, key in (("available", "available_quantity"),
                               ("reserved", "reserved_quantity")):
                got = None if row is None else row.get(key)
                if got is None or float(got) != float(truth[field]):
                    mismatches.append({"replica": rid, "product_id": product, "field": field,
                                       "expected": truth[field], "got": got})
    return mismatches


def consistency(
    urls: StackUrls, timeout_s: float = 10.0, *, interval: float = 0.25,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """Compare every replica's stock with the ledger; never raises.

    Waits (≤ ``timeout_s``) until the ledger has no pending orders and every replica
    agrees with it, then returns ``{ok, ledger, replicas, mismatches, waited_s}``;
    after the timeout returns the last comparison with ``ok`` false.
    """
    t0 = time.monotonic()
    deadline = t0 + timeout_s
    while True:
        led: dict = {}
        replicas: dict[str, Any] = {}
        try:
            led = ledger(urls, transport=transport)
        except (httpx.HTTPError, ValueError) as exc:
            led = {"error": classify(exc)}
        for i in range(1, len(urls.inventory) + 1):
            try:
                replicas[str(i)] = replica_inventory(urls, str(i), transport=transport)
            except (httpx.HTTPError, ValueError) as exc:
                replicas[str(i)] = {"error": classify(exc)}
        if "error" in led:
            mismatches = [{"field": "ledger", "expected": "reachable", "got": led["error"]}]
        else:
            mismatches = _compare(led, replicas)
            if led.get("pending_orders", 0):
                mismatches.append({"field": "pending_orders", "expected": 0,
                                   "got": led["pending_orders"]})
        if not mismatches or time.monotonic() >= deadline:
            return {"ok": not mismatches, "ledger": led, "replicas": replicas,
                    "mismatches": mismatches, "waited_s": round(time.monotonic() - t0, 3)}
        time.sleep(interval)


def steady_state(urls: StackUrls, *, transport: httpx.BaseTransport | None = None) -> dict:
    """Every service healthy and every replica ON per the monitor; never raises.

    Returns ``{ok, services: health(), replicas: {id: ON|OFF}, problems: [sentences]}``.
    """
    services = health(urls, transport=transport)
    problems = [f"{name} is not healthy ({h.get('error') or 'HTTP ' + str(h.get('status'))})"
                for name, h in services.items() if not h["ok"]]
    try:
        states = replica_states(urls, transport=transport)
    except (httpx.HTTPError, ValueError) as exc:
        states = {}
        problems.append(f"the monitor's /status cannot be read ({classify(exc)})")
    for i in range(1, len(urls.inventory) + 1):
        if states and states.get(str(i)) != "ON":
            problems.append(f"replica {i} is {states.get(str(i), 'unknown')} per the monitor")
    return {"ok": not problems, "services": services, "replicas": states, "problems": problems}


def wait_steady(
    urls: StackUrls, timeout_s: float = 30.0, *, interval: float = 0.25,
    transport: httpx.BaseTransport | None = None,
) -> dict:
    """Poll :func:`steady_state` until ok; returns it. Raises NotReady listing the
    problems still seen after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = steady_state(urls, transport=transport)
        if state["ok"]:
            return state
        if time.monotonic() >= deadline:
            raise NotReady(
                f"the stack is not in its steady state after {timeout_s:g} s: "
                + "; ".join(state["problems"])
            )
        time.sleep(interval)
