"""Unit tests of the vote's two ways of sparing a slow replica (no stack needed):
a replica the monitor holds OFF is asked only when needed, and two replicas an event
apart are told apart from a wrong one by the offsets they answer with."""

from __future__ import annotations

import json

import httpx
from stack.voter.vote import fan_out, product_value

TARGETS = {"1": "http://r1/x", "2": "http://r2/x", "3": "http://r3/x"}


def _client(answer, calls: list[str]) -> httpx.AsyncClient:
    """``answer(host, n, min_offset)`` → (status, body); ``calls`` records each request."""
    counts: dict[str, int] = {}

    async def handler(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        counts[host] = counts.get(host, 0) + 1
        min_offset = request.url.params.get("min_offset")
        calls.append(f"{host}?{min_offset}" if min_offset else host)
        status, body = answer(host, counts[host], int(min_offset) if min_offset else None)
        return httpx.Response(status, content=json.dumps(body))

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def _stock(available: int, offset: int | None = None) -> dict[str, int]:
    body = {"available_quantity": available, "reserved_quantity": 0}
    return body if offset is None else {**body, "applied_offset": offset}


async def test_a_replica_held_off_is_not_asked_when_the_others_agree():
    calls: list[str] = []
    client = _client(lambda host, n, m: (200, _stock(5, 10)), calls)
    ballot = await fan_out(client, TARGETS, product_value, standby={"2"}, reask_after_s=0.01)
    assert ballot.winner == (5, 0)
    assert sorted(calls) == ["r1", "r3"] and ballot.skipped == ["2"]


async def test_a_replica_held_off_is_asked_when_another_fails():
    calls: list[str] = []

    def answer(host, n, m):
        return (500, {"error": "x"}) if host == "r3" else (200, _stock(5, 10))

    client = _client(answer, calls)
    ballot = await fan_out(client, TARGETS, product_value, standby={"2"}, reask_after_s=0.01)
    assert ballot.winner == (5, 0)
    assert "r2" in calls and ballot.skipped == []
    assert sorted(r.instance_id for r in ballot.agreeing) == ["1", "2"]


async def test_replicas_an_offset_apart_are_asked_again_for_the_leaders_events():
    """r1 holds events up to 12, r3 up to 10 (another value): both are asked again with
    min_offset=12 (r3 answers once it holds them), and the vote needs no third replica."""
    calls: list[str] = []

    def answer(host, n, min_offset):
        if host == "r1":
            return 200, _stock(5, 12)
        return (200, _stock(5, 12)) if min_offset == 12 else (200, _stock(6, 10))

    client = _client(answer, calls)
    ballot = await fan_out(client, TARGETS, product_value, standby={"2"}, reask_after_s=0.01,
                           max_reasks=3)
    assert ballot.winner == (5, 0) and ballot.lag_reasks == 1
    assert sorted(calls) == ["r1", "r1?12", "r3", "r3?12"]


async def test_a_wrong_answer_is_still_outvoted_when_the_other_replica_lags():
    """r1 is wrong (1005) and ahead; r3 is right and behind: once r3 holds r1's events
    they still differ, so no lag explains it and the held-off r2 decides."""
    calls: list[str] = []

    def answer(host, n, min_offset):
        if host == "r1":
            return 200, _stock(1005, 12)
        if host == "r3":
            return 200, _stock(5, 12) if min_offset == 12 else _stock(6, 10)
        return 200, _stock(5, 12)

    client = _client(answer, calls)
    ballot = await fan_out(client, TARGETS, product_value, standby={"2"}, reask_after_s=0.01,
                           max_reasks=3)
    assert ballot.winner == (5, 0)
    assert [r.instance_id for r in ballot.outliers] == ["1"]
    assert "r2" in calls


async def test_a_replica_claiming_a_far_offset_cannot_carry_a_value_alone():
    """A lying offset only makes the others wait; a value still needs two holders."""
    calls: list[str] = []

    def answer(host, n, min_offset):
        if host == "r1":
            return 200, _stock(1005, 10**9)
        return 200, _stock(5, 12)

    client = _client(answer, calls)
    ballot = await fan_out(client, TARGETS, product_value, reask_after_s=0.01, max_reasks=3)
    assert ballot.winner == (5, 0)


async def test_a_lone_answer_is_followed_by_a_re_ask_of_the_replica_that_failed():
    """r2 is held off and slow to help; r3 fails once (a starved moment): asked again."""
    calls: list[str] = []

    def answer(host, n, min_offset):
        if host == "r3" and n == 1:
            return 500, {"error": "x"}
        if host == "r2":
            return 500, {"error": "still faulty"}
        return 200, _stock(5, 12)

    client = _client(answer, calls)
    ballot = await fan_out(client, TARGETS, product_value, standby={"2"}, reask_after_s=0.01,
                           max_reasks=3)
    assert ballot.winner == (5, 0)
    assert calls.count("r3") == 2


async def test_an_empty_retry_budget_makes_no_re_ask():
    """A burst that overloads the voter must not double its own load: without budget
    the failed replica is not asked again, and the refusal is counted."""
    from stack.voter.retry_budget import RetryBudget

    calls: list[str] = []

    def answer(host, n, min_offset):
        return (500, {"error": "x"}) if host == "r3" else (200, _stock(5 + (host == "r1"), 12))

    budget = RetryBudget(ratio=0.2, cap=1.0)
    budget.withdraw(1)
    client = _client(answer, calls)
    ballot = await fan_out(client, TARGETS, product_value, reask_after_s=0.01, max_reasks=3,
                           retry_budget=budget)
    assert ballot.winner is None and ballot.reasks == 0 and ballot.failure_reasks == 0
    assert sorted(calls) == ["r1", "r2", "r3"] and budget.refused >= 1
    for _ in range(5):
        budget.deposit()
    assert budget.withdraw(1) and not budget.withdraw(1)


async def test_a_replica_ahead_of_the_majority_is_lagging_not_an_outlier():
    """The defect: under writes the replica that applied an event first disagrees, for a
    moment, with the two that have not; it was counted an outlier (1,287 of 4,000 votes at
    150 req/s) and reported to the monitor each time. A different answer at the majority's
    own offset is still an outlier."""
    calls: list[str] = []

    def answer(host, n, min_offset):
        return 200, (_stock(4, 13) if host == "r1" else _stock(5, 12))

    ballot = await fan_out(_client(answer, calls), TARGETS, product_value, reask_after_s=0.01,
                           max_reasks=3)
    assert ballot.winner == (5, 0)
    assert ballot.outliers == [] and [r.instance_id for r in ballot.lagging] == ["1"]

    def wrong(host, n, min_offset):
        return 200, (_stock(1005, 12) if host == "r1" else _stock(5, 12))

    ballot = await fan_out(_client(wrong, []), TARGETS, product_value, reask_after_s=0.01,
                           max_reasks=3)
    assert [r.instance_id for r in ballot.outliers] == ["1"] and ballot.lagging == []
