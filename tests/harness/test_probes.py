from __future__ import annotations

from typing import Any

import httpx
import pytest

from gameday import probes
from gameday.errors import NotReady
from gameday.targets.base import StackUrls

URLS = StackUrls(("http://r1", "http://r2", "http://r3"), "http://mon", "http://vot", "http://ord")
LEDGER = {"products": {"PROD-001": {"initial": 1000, "reserved": 2, "available": 998}},
          "pending_orders": 0}


def _transport(routes: dict[str, Any]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        key = f"{request.url.host}{request.url.path}"
        answer = routes.get(key)
        if answer is None:
            raise httpx.ConnectError("connection refused", request=request)
        if callable(answer):
            answer = answer()
        status, body = answer if isinstance(answer, tuple) else (200, answer)
        return httpx.Response(status, json=body)
    return httpx.MockTransport(handler)


def _row(available: int, reserved: int = 2) -> dict:
    return {"inventory": [{"product_id": "PROD-001", "available_quantity": available,
                           "reserved_quantity": reserved}]}


def _status(*states: str) -> dict:
    return {"instances": [{"service_name": "inventory-svc", "instance_id": str(i), "status": s}
                          for i, s in enumerate(states, 1)]}


def test_consistency_names_the_replica_and_field_that_disagree() -> None:
    t = _transport({"ord/ledger": LEDGER, "r1/inventory": _row(998), "r2/inventory": _row(997),
                    "r3/inventory": _row(998, reserved=1)})
    out = probes.consistency(URLS, timeout_s=0, transport=t)
    assert out["ok"] is False
    assert out["mismatches"] == [
        {"replica": "2", "product_id": "PROD-001", "field": "available", "expected": 998,
         "got": 997},
        {"replica": "3", "product_id": "PROD-001", "field": "reserved", "expected": 2,
         "got": 1},
    ]


def test_consistency_waits_for_pending_orders_and_lagging_replicas() -> None:
    calls = {"n": 0}

    def ledger() -> dict:
        calls["n"] += 1
        return {**LEDGER, "pending_orders": 1 if calls["n"] < 3 else 0}

    t = _transport({"ord/ledger": ledger, "r1/inventory": _row(998), "r2/inventory": _row(998),
                    "r3/inventory": _row(998)})
    out = probes.consistency(URLS, timeout_s=5, interval=0.01, transport=t)
    assert out["ok"] and out["mismatches"] == [] and calls["n"] == 3
    assert set(out["replicas"]) == {"1", "2", "3"}


def test_consistency_reports_an_unreachable_replica_instead_of_raising() -> None:
    t = _transport({"ord/ledger": LEDGER, "r1/inventory": _row(998), "r2/inventory": _row(998)})
    out = probes.consistency(URLS, timeout_s=0, transport=t)
    assert not out["ok"]
    assert out["mismatches"] == [{"replica": "3", "product_id": "PROD-001",
                                  "field": "reachable", "expected": True, "got": "connect"}]


def _all_up() -> dict[str, Any]:
    up = {"status": "UP"}
    return {"r1/health": up, "r2/health": up, "r3/health": up, "mon/health": up,
            "vot/health": up, "ord/health": up}


def test_steady_state_lists_every_problem_as_a_sentence() -> None:
    routes = {**_all_up(), "vot/health": (500, {"status": "DOWN"}),
              "mon/status": _status("ON", "OFF", "ON")}
    del routes["ord/health"]
    out = probes.steady_state(URLS, transport=_transport(routes))
    assert not out["ok"]
    assert out["problems"] == ["voter is not healthy (HTTP 500)",
                               "orders is not healthy (connect)",
                               "replica 2 is OFF per the monitor"]


def test_wait_steady_returns_once_everything_is_on() -> None:
    routes = {**_all_up(), "mon/status": _status("ON", "ON", "ON")}
    out = probes.wait_steady(URLS, timeout_s=1, transport=_transport(routes))
    assert out["ok"] and out["replicas"] == {"1": "ON", "2": "ON", "3": "ON"}


def test_wait_replica_on_times_out_with_what_it_saw() -> None:
    t = _transport({"mon/status": _status("ON", "OFF", "ON")})
    with pytest.raises(NotReady, match=r"replica 2 ON per the monitor not reached within "
                                           r"0.2 s \(last: False\)"):
        probes.wait_replica_on(URLS, "2", timeout_s=0.2, interval=0.05, transport=t)


def test_wait_until_treats_exceptions_as_not_yet() -> None:
    seq = iter([RuntimeError("restarting"), 0, 42])

    def pred() -> int:
        v = next(seq)
        if isinstance(v, Exception):
            raise v
        return v

    assert probes.wait_until(pred, timeout=5, interval=0.01) == 42


def test_transitions_pass_since_and_return_the_list() -> None:
    seen: dict[str, str] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["since"] = request.url.params.get("since", "")
        return httpx.Response(200, json={"transitions": [{"instance_id": "1", "status": "OFF"}]})

    out = probes.transitions(URLS, "2026-01-01T00:00:00+00:00",
                             transport=httpx.MockTransport(handler))
    assert out == [{"instance_id": "1", "status": "OFF"}]
    assert seen["since"] == "2026-01-01T00:00:00+00:00"
