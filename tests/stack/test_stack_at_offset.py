"""Comparing two replicas at the same point of the event log (no stack needed): a
replica keeps the row each applied event left (``Mirror``), answers ``?at_offset=N`` from
it, and the voter asks the replica ahead for the one behind's offset instead of letting
them leapfrog under steady writes."""

from __future__ import annotations

import json

import httpx
from stack.inventory.state import HISTORY, Mirror, Outcome
from stack.voter.vote import fan_out, product_value

TARGETS = {"1": "http://r1/x", "2": "http://r2/x", "3": "http://r3/x"}


def _mirror(available: int = 100, offset: int = 10) -> Mirror:
    mirror = Mirror("1")
    row = {"product_id": "P", "available_quantity": available, "reserved_quantity": 0,
           "applied_offset": offset}
    mirror._rows = {"P": row}
    mirror._keep("P", offset, dict(row))
    return mirror


def _reloaded(mirror: Mirror, available: int, reserved: int, offset: int) -> None:
    row = {"product_id": "P", "available_quantity": available, "reserved_quantity": reserved,
           "applied_offset": offset}
    mirror._rows = {"P": row}
    mirror._keep("P", offset, dict(row))


def test_the_row_at_each_offset_of_a_batch() -> None:
    mirror = _mirror()
    outcomes = [Outcome("o1", "reserve", "P", 3, True), None,  # event 11 ignored
                Outcome("o2", "reserve", "P", 2, True), Outcome("o1", "cancel", "P", 3, True),
                Outcome("o3", "reserve", "P", 5, False)]  # refused: no change
    mirror.record(10, outcomes)  # events at offsets 10..14
    _reloaded(mirror, 98, 2, 15)
    assert mirror.check()
    assert [(mirror.at("P", n) or {}).get("available_quantity") for n in range(10, 16)] == [
        100, 97, 97, 95, 98, 98]
    assert mirror.at("P", 12)["applied_offset"] == 12
    assert mirror.at("P", 9) is None  # before what it keeps
    assert mirror.at("P", 16) is None  # not yet applied here
    assert mirror.at("Q", 12) is None


def test_versions_that_disagree_with_postgres_are_forgotten() -> None:
    mirror = _mirror()
    mirror.record(10, [Outcome("o1", "reserve", "P", 3, True)])
    _reloaded(mirror, 90, 3, 11)  # the database says otherwise
    assert not mirror.check()
    assert mirror.at("P", 10) is None and mirror.at("P", 11) is None


def test_history_is_bounded() -> None:
    mirror = _mirror()
    for k in range(HISTORY + 50):
        mirror.record(10 + k, [Outcome(f"o{k}", "reserve", "P", 0, False)])
        _reloaded(mirror, 100, 0, 11 + k)
    assert len(mirror._versions["P"]) == HISTORY


def _client(answer, calls: list[str]) -> httpx.AsyncClient:
    async def handler(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        params = dict(request.url.params)
        calls.append(host + "".join(f"?{k}={v}" for k, v in sorted(params.items())))
        status, body = answer(host, params)
        return httpx.Response(status, content=json.dumps(body))

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def _stock(available: int, offset: int) -> dict[str, int]:
    return {"available_quantity": available, "reserved_quantity": 0, "applied_offset": offset}


async def test_the_replica_ahead_is_asked_for_the_one_behinds_offset() -> None:
    """r1 at 13 (one more order: 4), r3 at 12 (5), r2 held OFF: r1's row at 12 is 5, so
    the two agree at offset 12 with one request and no third replica."""
    calls: list[str] = []

    def answer(host, params):
        if host == "r1":
            return 200, (_stock(5, 12) if params.get("at_offset") == "12" else _stock(4, 13))
        return 200, _stock(5, 12)

    ballot = await fan_out(_client(answer, calls), TARGETS, product_value, standby={"2"},
                           reask_after_s=0.01, max_reasks=3, versioned=True)
    assert ballot.winner == (5, 0) and ballot.lag_reasks == 1
    assert sorted(calls) == ["r1", "r1?at_offset=12", "r3"]


async def test_a_wrong_answer_at_the_same_offset_is_still_outvoted() -> None:
    """r1 is wrong at every offset: its row at r3's offset still differs, so the held-off
    r2 decides and r1 is the outlier."""
    calls: list[str] = []

    def answer(host, params):
        if host == "r1":
            return 200, _stock(1005, int(params.get("at_offset", 13)))
        return 200, _stock(5, 12)

    ballot = await fan_out(_client(answer, calls), TARGETS, product_value, standby={"2"},
                           reask_after_s=0.01, max_reasks=3, versioned=True)
    assert ballot.winner == (5, 0)
    assert [r.instance_id for r in ballot.outliers] == ["1"]
    assert "r2" in calls


async def test_a_replica_that_no_longer_holds_the_offset_falls_back_to_min_offset() -> None:
    calls: list[str] = []

    def answer(host, params):
        if host == "r1":
            if "at_offset" in params:
                return 409, {"error": "not retained"}
            return 200, _stock(4, 13)
        return 200, (_stock(4, 13) if params.get("min_offset") == "13" else _stock(5, 12))

    ballot = await fan_out(_client(answer, calls), TARGETS, product_value, standby={"2"},
                           reask_after_s=0.01, max_reasks=3, versioned=True)
    assert ballot.winner == (4, 0)
    assert "r1?at_offset=12" in calls and "r3?min_offset=13" in calls
