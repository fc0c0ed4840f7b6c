"""Unit tests of the stack's pure parts: fault parsing and expiry, vote logic, order bodies."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from stack.common.errors import ApiError
from stack.inventory.faults import INCORRECT_OFFSET, FaultState, InjectedFailure, parse_fault
from stack.orders.app import parse_order
from stack.voter.vote import NOT_FOUND, fan_out, product_value


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "body must be a JSON object with a 'type', one of: crash, latency"),
        ({"type": "boom"}, "unknown failure type 'boom'; allowed types: crash, latency"),
        ({"type": "latency", "latency_ms": -1}, "latency_ms must be >= 0"),
        ({"type": "intermittent", "probability": 1.5}, "probability must be between 0 and 1"),
        ({"type": "latency", "ttl_s": "x"}, "ttl_s must be a number"),
        ({"type": "latency", "seed": 1.5}, "seed must be an integer"),
    ],
)
def test_parse_fault_rejects_bad_bodies_with_a_sentence(body, message):
    with pytest.raises(ApiError) as caught:
        parse_fault(body, 300)
    assert caught.value.status == 400
    assert message in caught.value.message


def test_parse_fault_applies_defaults():
    assert parse_fault({"type": "latency"}, 300) == ("latency", {"latency_ms": 1000.0}, 300, None)
    assert parse_fault({"type": "intermittent", "ttl_s": 5, "seed": 7}, 300) == (
        "intermittent",
        {"probability": 0.5},
        5.0,
        7,
    )


async def test_fault_clears_itself_when_its_ttl_expires():
    faults = FaultState()
    faults.set("incorrect_response", {"product_id": "PROD-001"}, 0.05, None)
    assert faults.reported_available("PROD-001", 10) == 10 + INCORRECT_OFFSET
    assert faults.reported_available("PROD-002", 10) == 10
    await asyncio.sleep(0.1)
    assert faults.current is None
    assert faults.reported_available("PROD-001", 10) == 10


async def test_seeded_intermittent_fault_is_reproducible():
    async def draws(seed: int) -> list[bool]:
        faults = FaultState()
        faults.set("intermittent", {"probability": 0.5}, 60, seed)
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
    faults.set("intermittent", {"probability": 1.0}, 60, 1)
    with pytest.raises(InjectedFailure):
        await faults.hook()
    assert faults.clear() is True
    assert faults.clear() is False  # "already clear": the route still answers 200
    await faults.hook()


def _replicas(answers: dict[str, tuple[int, object]]) -> httpx.AsyncClient:
    """A client whose replica ``host`` answers (status, body or "timeout")."""

    async def handler(request: httpx.Request) -> httpx.Response:
        status, body = answers[request.url.host]
        if body == "timeout":
            raise httpx.ReadTimeout("slow", request=request)
        if isinstance(body, float):
            await asyncio.sleep(body)
            body = {"available_quantity": 1, "reserved_quantity": 0}
        return httpx.Response(status, content=json.dumps(body))

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def _stock(available: int) -> dict[str, int]:
    return {"available_quantity": available, "reserved_quantity": 0}


async def test_vote_takes_the_value_two_replicas_agree_on_and_names_the_outlier():
    client = _replicas({"r1": (200, _stock(5)), "r2": (200, _stock(1005)), "r3": (200, _stock(5))})
    targets = {"1": "http://r1/x", "2": "http://r2/x", "3": "http://r3/x"}
    ballot = await fan_out(client, targets, product_value)
    assert ballot.winner == (5, 0)
    assert [r.instance_id for r in ballot.outliers] in ([], ["2"])  # "2" unless cancelled first


async def test_vote_answers_without_waiting_for_a_slow_replica():
    client = _replicas({"r1": (200, 2.0), "r2": (200, _stock(1)), "r3": (200, _stock(1))})
    targets = {"1": "http://r1/x", "2": "http://r2/x", "3": "http://r3/x"}
    ballot = await asyncio.wait_for(fan_out(client, targets, product_value), timeout=1.0)
    assert ballot.winner == (1, 0)
    assert ballot.unanswered == ["1"]


async def test_vote_without_two_answers_has_no_winner_and_counts_failures():
    client = _replicas(
        {"r1": (500, {"error": "x"}), "r2": (200, "timeout"), "r3": (200, _stock(1))}
    )
    targets = {"1": "http://r1/x", "2": "http://r2/x", "3": "http://r3/x"}
    ballot = await fan_out(client, targets, product_value)
    assert ballot.winner is None
    assert sorted((r.instance_id, r.failure) for r in ballot.failed) == [
        ("1", "error"),
        ("2", "timeout"),
    ]
    assert not ballot.disagreement


async def test_vote_majority_not_found_is_a_value():
    missing = (404, {"error": "Product not found"})
    client = _replicas({"r1": missing, "r2": missing, "r3": (200, _stock(1))})
    targets = {"1": "http://r1/x", "2": "http://r2/x", "3": "http://r3/x"}
    assert (await fan_out(client, targets, product_value)).winner == NOT_FOUND


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "product_id and quantity are required"),
        (b'{"product_id": "PROD-001"}', "product_id and quantity are required"),
        (b'{"quantity": 2}', "product_id and quantity are required"),
        (b'{"product_id": "PROD-001", "quantity": "two"}', "quantity must be an integer"),
        (b'{"product_id": "PROD-001", "quantity": 1.5}', "quantity must be an integer"),
        (b'{"product_id": "PROD-001", "quantity": 0}', "quantity must be positive"),
        (b'{"product_id": "PROD-001", "quantity": -3}', "quantity must be positive"),
        (b"not json", "product_id and quantity are required"),
    ],
)
def test_parse_order_answers_the_contract_messages(raw, message):
    with pytest.raises(ApiError) as caught:
        parse_order(raw)
    assert (caught.value.status, caught.value.message) == (400, message)


class _Store:
    service_name = "inventory-svc"


@pytest.mark.parametrize(
    ("stocks", "verdict"),
    [
        # (available, reserved) per replica 1..3; replica 1 is judged
        ({"1": (990, 10), "2": (990, 10), "3": (990, 10)}, "agrees"),
        # one reserve behind the others: the same total, a lag explains it
        ({"1": (992, 8), "2": (990, 10), "3": (990, 10)}, "outlier"),
        # 1000 too many: no event changes available + reserved, so no lag explains it
        ({"1": (1990, 10), "2": (990, 10), "3": (990, 10)}, "impossible"),
        # the others disagree on the split but agree on the total: it is still provably off
        ({"1": (1990, 10), "2": (990, 10), "3": (992, 8)}, "impossible"),
        # in flux and no total to trust: no verdict
        ({"1": (992, 8), "2": (990, 10), "3": (991, 9)}, "unknown"),
        ({"1": None, "2": (990, 10), "3": (990, 10)}, "unknown"),
    ],
)
def test_monitor_verdict_tells_a_lagging_replica_from_an_impossible_one(stocks, verdict):
    from stack.monitor.checker import Monitor

    async def judge() -> str:
        monitor = Monitor(_Store(), ("r1", "r2", "r3"), interval_s=0.2, timeout_s=0.15)

        async def stock(url: str, product_id: str):
            return stocks[url[1:]]

        monitor._stock = stock  # type: ignore[method-assign]
        try:
            return await monitor._verdict(monitor.instances["1"], "PROD-001")
        finally:
            await monitor._client.aclose()

    assert asyncio.run(judge()) == verdict
