"""Unit tests of the stack's pure parts: vote logic, order bodies, the monitor's verdicts.

(Fault bodies and the fault state: ``test_stack_fault_state.py``.)"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from stack.common.errors import ApiError
from stack.orders.order_body import parse_order
from stack.voter.vote import NOT_FOUND, fan_out, product_value


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


@pytest.mark.parametrize(("late_s", "timeout_s", "timed_out"), [(0.05, 0.2, 0), (0.4, 0.2, 1)])
async def test_a_late_replys_outcome_is_counted_after_the_vote(late_s, timeout_s, timed_out):
    """What a latency sweep across the voter's timeout reads (/voting-stats'
    timeouts_by_instance): the slow replica is late in every vote either way; whether its
    answer came within the voter's timeout is only known after the vote."""
    from stack.voter.stats import VotingStats

    stats = VotingStats()
    client = _replicas({"r1": (200, late_s), "r2": (200, _stock(1)), "r3": (200, _stock(1))})
    targets = {"1": "http://r1/x", "2": "http://r2/x", "3": "http://r3/x"}
    ballot = await fan_out(client, targets, product_value, keep_late=True, timeout_s=timeout_s,
                           on_reply=lambda r: stats.record_reply(r.instance_id, r.failure))
    assert ballot.unanswered == ["1"]  # the vote did not wait for it, below or above
    await asyncio.gather(*ballot.late)
    await asyncio.sleep(0)  # done-callbacks run on the next loop turn
    assert stats.asked_by_instance == {"1": 1, "2": 1, "3": 1}
    assert dict(stats.timeouts_by_instance) == ({"1": 1} if timed_out else {})
    assert stats.to_json()["timeouts_by_instance"] == dict(stats.timeouts_by_instance)


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


_BAD_PRODUCT = "product_id must be a string of 1 to 128 characters without control characters"


def test_an_integral_float_quantity_is_that_integer():
    assert parse_order(b'{"product_id": "PROD-001", "quantity": 2.0}') == ("PROD-001", 2)


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
        (b'{"product_id": "", "quantity": 2}', "product_id and quantity are required"),
        (b"[" * 100_000 + b"]" * 100_000, "product_id and quantity are required"),
        (b'{"product_id": "PROD-001", "quantity": NaN}', "quantity must be an integer"),
        (b'{"product_id": "PROD-001", "quantity": Infinity}', "quantity must be an integer"),
        (b'{"product_id": "PROD-001", "quantity": true}', "quantity must be an integer"),
        (b'{"product_id": "PROD-001", "quantity": 1e308}', "quantity must be at most 1000000"),
        (b'{"product_id": "PROD-001", "quantity": 2147483648}',
         "quantity must be at most 1000000"),
        (b'{"product_id": "PROD\\u0000", "quantity": 1}', _BAD_PRODUCT),
        (b'{"product_id": "\\ud800", "quantity": 1}', "product_id and quantity are required"),
        (b'{"product_id": 5, "quantity": 1}', _BAD_PRODUCT),
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
        monitor = Monitor(_Store(), ("http://r1", "http://r2", "http://r3"),
                          interval_s=0.2, timeout_s=0.15)

        async def stock(instance_id: str, product_id: str):
            return stocks[instance_id]

        monitor._stock = stock  # type: ignore[method-assign]
        try:
            return await monitor._verdict(monitor.instances["1"], "PROD-001")
        finally:
            await monitor.stop()

    assert asyncio.run(judge()) == verdict


def _check(values: dict[str, tuple[int, int] | None]):
    from stack.monitor.probe import Check, Read

    return Check([Read("ok")], {p: Read("ok", value=v) for p, v in values.items()})


def test_a_round_marks_a_wrong_total_and_spares_a_replica_one_event_behind():
    from stack.monitor.probe import judge

    checks = {
        "1": _check({"PROD-001": (1990, 10), "PROD-002": (498, 2)}),  # +1000 on PROD-001
        "2": _check({"PROD-001": (990, 10), "PROD-002": (500, 0)}),  # one reserve behind
        "3": _check({"PROD-001": (990, 10), "PROD-002": (498, 2)}),
    }
    judge(checks, ["PROD-001", "PROD-002"])
    assert checks["1"].wrong == "PROD-001: total 2000 where a majority of replicas hold 1000"
    assert checks["1"].wrong_product == "PROD-001"
    assert not checks["1"].clean
    assert checks["2"].wrong is None and checks["2"].clean
    assert checks["2"].outliers == {"PROD-002"}  # only held against a suspect
    assert checks["3"].wrong is None and checks["3"].clean


def test_a_round_without_a_majority_total_judges_nobody():
    from stack.monitor.probe import judge

    checks = {"1": _check({"P": (5, 0)}), "2": _check({"P": (7, 0)}), "3": _check({"P": None})}
    judge(checks, ["P"])
    assert all(c.wrong is None for c in checks.values())


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"instance_id": 2, "reason": "error"}', ("2", "error")),
        (b'{"instance_id": "3", "reason": "timeout", "detail": "x", "extra": 1}', ("3", "timeout")),
        (b'{"instance_id": true, "reason": "error"}', "body must be a JSON object"),
        (b'{"instance_id": "\\u0000", "reason": "error"}', "body must be a JSON object"),
        (b'{"instance_id": "2", "reason": "bored"}', "reason must be one of"),
        (b'{"instance_id": "2", "reason": "error", "product_id": "\\u0000"}', "product_id must"),
        (b'{"instance_id": "2", "reason": "error", "detail": 5}', "detail must"),
        (b"[" * 100_000 + b"]" * 100_000, "body must be a JSON object"),
    ],
)
def test_report_bodies_are_typed(raw, expected):
    from stack.monitor.report_body import parse_report

    if isinstance(expected, tuple):
        report = parse_report(raw)
        assert (report.instance_id, report.reason) == expected
        return
    with pytest.raises(ApiError) as caught:
        parse_report(raw)
    assert caught.value.status == 400 and caught.value.message.startswith(expected)


async def _garbling_server(answer: bytes):
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}",  # closed mid-answer
    b"garbage\r\n\r\n",
])
async def test_a_garbled_answer_is_an_http1_error(answer):
    from stack.common.http1 import Http1Client, Http1Error

    server = await _garbling_server(answer)
    port = server.sockets[0].getsockname()[1]
    client = Http1Client(f"http://127.0.0.1:{port}", timeout_s=2)
    try:
        with pytest.raises(Http1Error):
            await client.get("/x")
    finally:
        await client.aclose()
        server.close()


@pytest.mark.parametrize("path", ["/inventory/PROD 001", "/inventory/a\r\nX: 1", "/inventory/é"])
async def test_the_http1_client_refuses_a_path_that_is_not_encoded(path):
    from stack.common.http1 import Http1Client, Http1Error

    client = Http1Client("http://127.0.0.1:9", timeout_s=1)
    with pytest.raises(Http1Error, match="not percent-encoded"):
        await client.get(path)


async def test_the_http1_client_closes_idle_connections_left_by_a_burst(monkeypatch):
    """A slow replica makes the voter open many connections at once; afterwards the LIFO
    pool reuses the newest, and the rest must not stay open for the process's life."""
    import stack.common.http1 as http1

    monkeypatch.setattr(http1, "_IDLE_S", 0.3)
    open_now = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_now
        open_now += 1
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                await asyncio.sleep(0.05)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            open_now -= 1
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    client = http1.Http1Client(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}",
                               timeout_s=2)
    try:
        await asyncio.gather(*(client.get("/x") for _ in range(10)))  # ten at once
        assert client.connections_opened == 10
        for _ in range(12):  # then one at a time for 1.2 s: the newest is reused
            await client.get("/x")
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.05)  # the server sees the closes
        assert open_now <= 2, f"{open_now} connections still open after the burst"
    finally:
        await client.aclose()
        server.close()


class _RecordingStore:
    service_name = "inventory-svc"

    def __init__(self) -> None:
        self.offs: list[tuple[str, str]] = []

    async def products(self) -> list[str]:
        return ["PROD-001"]

    async def mark_off(self, instance_id, at, reason, since) -> None:
        self.offs.append((instance_id, reason))

    async def mark_on(self, instance_id, at, reason) -> None:
        pass

    async def record_checks(self, checks) -> None:
        pass


async def _rounds(slow: set[str], rounds: int) -> list[tuple[str, str]]:
    """Run ``rounds`` check rounds in which the health checks of ``slow`` time out."""
    from stack.monitor import checker
    from stack.monitor.probe import Check, Read

    async def fake_probe(client, products):
        slow_one = any(client.port == 7000 + int(i) for i in slow)
        health = Read("timeout", "health: timeout") if slow_one else Read("ok")
        return Check([health] * 3, {p: Read("ok", value=(10, 0)) for p in products})

    store = _RecordingStore()
    monitor = checker.Monitor(store, tuple(f"http://127.0.0.1:{7000 + i}" for i in (1, 2, 3)),
                              interval_s=0.2, timeout_s=0.15)
    original, checker.probe = checker.probe, fake_probe
    try:
        for _ in range(rounds):
            await monitor.check_round()
    finally:
        checker.probe = original
        await monitor.stop()
    return store.offs


async def test_one_slow_replica_goes_off_after_three_rounds():
    assert await _rounds({"2"}, 3) == [("2", "health check failure: health: timeout")]


async def test_every_replica_timing_out_at_once_is_the_monitors_own_stall():
    assert await _rounds({"1", "2", "3"}, 9) == []
    assert [i for i, _ in await _rounds({"1", "2", "3"}, 12)] == ["1", "2", "3"]


async def test_disagreeing_replicas_are_re_asked_within_the_vote_with_growing_delays(
    monkeypatch,
):
    """Replica 1 is one event behind for its first two answers, replica 3 fails: the vote
    re-asks 1 and 2 (after 10, then 20 ms) and takes the value they then agree on."""
    from stack.voter import vote

    answers = {"r1": 0}
    delays: list[tuple[str, float]] = []
    real_ask = vote._ask

    async def recording_ask(client, instance_id, url, value_of, timeout_s, delay_s=0.0):
        delays.append((instance_id, delay_s))
        return await real_ask(client, instance_id, url, value_of, timeout_s, delay_s)

    async def handler(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host == "r3":
            return httpx.Response(500, content=b'{"error": "x"}')
        if host == "r1":
            answers["r1"] += 1
        behind = host == "r1" and answers["r1"] <= 2
        return httpx.Response(200, content=json.dumps(_stock(6 if behind else 5)))

    monkeypatch.setattr(vote, "_ask", recording_ask)
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    targets = {"1": "http://r1/x", "2": "http://r2/x", "3": "http://r3/x"}
    ballot = await fan_out(client, targets, product_value, reask_after_s=0.01, max_reasks=3)
    assert ballot.winner == (5, 0) and ballot.reasks == 2
    assert sorted(d for i, d in delays if i == "1") == [0.0, 0.01, 0.02]


async def test_voter_timeout_reports_count_only_on_top_of_a_failed_check():
    from stack.monitor.checker import Monitor

    store = _RecordingStore()
    monitor = Monitor(store, ("http://r1", "http://r2", "http://r3"),
                      interval_s=0.2, timeout_s=0.15)
    try:
        for _ in range(5):  # a healthy replica the busy voter timed out on
            await monitor._reported("2", "timeout")
        assert monitor.instances["2"].consecutive_failures == 0 and store.offs == []
        await monitor._failed_check(monitor.instances["2"], "health check failure: timeout")
        await monitor._reported("2", "timeout")
        await monitor._reported("2", "timeout")
        assert store.offs == [("2", "health check failure: timeout")]
    finally:
        await monitor.stop()


async def test_a_re_ask_includes_a_replica_that_failed_and_never_erases_an_answer():
    """r2 stays one event behind; r3 fails first, then answers: the majority is r1's and
    r3's value. r1's own re-asks fail: its first answer still counts."""
    calls = {"r1": 0, "r3": 0}

    async def handler(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host == "r2":
            return httpx.Response(200, content=json.dumps(_stock(6)))
        calls[host] += 1
        if (host == "r1" and calls[host] > 1) or (host == "r3" and calls[host] == 1):
            return httpx.Response(500, content=b'{"error": "x"}')
        return httpx.Response(200, content=json.dumps(_stock(5)))

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    targets = {"1": "http://r1/x", "2": "http://r2/x", "3": "http://r3/x"}
    ballot = await fan_out(client, targets, product_value, reask_after_s=0.01, max_reasks=3)
    assert ballot.winner == (5, 0)
    assert sorted(r.instance_id for r in ballot.agreeing) == ["1", "3"]


async def test_a_replica_left_behind_by_the_event_log_goes_off_and_back_on_caught_up(
    monkeypatch: pytest.MonkeyPatch,
):
    """Rule 5: cut from the broker, replica 3 answers fast with totals that add up, but
    its applied event offset stays where it was while a majority moves on. Not for a
    moment of ordinary lag; OFF once it is behind what a majority had STALE_AFTER_S ago;
    ON again after catching up."""
    from stack.monitor import checker
    from stack.monitor.probe import Check, Read

    monkeypatch.setattr(checker, "STALE_AFTER_S", 0.1)
    offsets = {"1": 10, "2": 10, "3": 10}

    async def fake_probe(client, products):
        offset = offsets[str(client.port - 7000)]
        return Check([Read("ok", offset=offset)] * 3,
                     {p: Read("ok", value=(10, 0)) for p in products})

    store = _RecordingStore()
    ons: list[str] = []

    async def mark_on(instance_id, at, reason) -> None:
        ons.append(instance_id)

    store.mark_on = mark_on  # type: ignore[method-assign]
    monitor = checker.Monitor(store, tuple(f"http://127.0.0.1:{7000 + i}" for i in (1, 2, 3)),
                              interval_s=0.2, timeout_s=0.15)
    monkeypatch.setattr(checker, "probe", fake_probe)
    try:
        await monitor.check_round()
        offsets.update({"1": 13, "2": 12})  # events flow; 3 sees none, 2 is one behind 1
        for _ in range(3):
            await monitor.check_round()
        assert store.offs == []  # newer than STALE_AFTER_S: ordinary lag
        await asyncio.sleep(0.12)
        await monitor.check_round()
        assert [i for i, _ in store.offs] == ["3"]  # its 10 is below the 12 of 0.1 s ago
        assert "stale: applied event offset 10" in store.offs[0][1]
        offsets["3"] = 13  # healed: it catches up
        for _ in range(checker.SUCCESSES_TO_ON):
            await monitor.check_round()
        assert ons == ["3"]
    finally:
        await monitor.stop()
