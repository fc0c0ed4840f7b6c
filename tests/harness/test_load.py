"""The open-loop load generator as every GameDay sends it: a system file's requests
(:class:`~gameday.systems.load.SystemLoadGenerator`) against a stub whose answers can be
slowed, stalled, hung, refused or made to lie. Its file (:data:`LOAD`) is the inventory
stack's pattern as data: reads with a quorum and an answer judged by the oracle, orders
with a change to the truth and a cancel as follow-up; each test picks its mix and
values through the runbook's ``load`` (``mix``, ``values``, ``follow_up_after_s``)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from gameday import metrics
from gameday.records import scheduled
from gameday.systems.load import SystemLoadGenerator
from loopback_app import serve_in_thread
from system_load_app import app_generator, judged_by_oracle, oracle_truth

REPO = Path(__file__).resolve().parents[2]
STALL_S = 0.5
#: How long a "SLOW" read takes: long enough that no busy machine makes a fast read
#: (a few ms) look as slow, so the test below judges ordering, not speed.
SLOW_S = 1.5

#: The stub's load: ``read`` (a quorum, its answer judged) and ``order`` (a change to the
#: truth, ended by its cancel, sent ``after_s`` later to the order id of the answer).
LOAD = {
    "values": {"product": ["PROD-001", "PROD-002", "PROD-003"]},
    "requests": {
        "read": {"url": "{{ app.url }}/inventory/{{ product }}",
                 "expect": {"json": {"success": True}},
                 "quorum": "quorum_achieved",
                 "answer": {"key": "{{ product }}", "value": "data.available_quantity"}},
        "order": {"method": "POST", "url": "{{ app.url }}/orders",
                  "json": {"product_id": "{{ product }}", "quantity": 1},
                  "expect": {"status": [201]},
                  "change": {"key": "{{ product }}", "by": -1},
                  "follow_up": [{"after_s": 1.0, "ends_change": True,
                                 "url": "{{ app.url }}/orders/{{ response.order_id }}/cancel"}]},
    },
    "oracle": {"url": "{{ app.url }}/stock", "items": "products", "value": "available"},
}
#: Reads only (the runbook's ``mix`` leaves the orders out).
READS = {"order": 0}


class _Stub:
    """A system whose answers can be stalled on purpose: reads of a product (``SLOW``,
    ``HANG``, ``DOWN``, ``LIE`` behave as named), orders and their cancels, the stock
    (the oracle)."""

    def __init__(self) -> None:
        self.gate_closed_at: float | None = None
        self.gate_opened_at: float | None = None
        self.gate = asyncio.Event()
        self.down = False  # every read answers 503 while set
        self.orders: dict[str, str] = {}
        self.app = FastAPI()
        app = self.app

        @app.get("/inventory/{product}")
        async def read(product: str) -> JSONResponse:
            if product == "SLOW":
                await asyncio.sleep(SLOW_S)
            if product == "HANG":
                await asyncio.sleep(1.0)
            if product == "DOWN" or self.down:
                return JSONResponse({"success": False, "quorum_achieved": False},
                                    status_code=503)
            if self.gate_closed_at is not None:
                await self.gate.wait()
            value = 2000 if product == "LIE" else 1000
            return JSONResponse({"success": True, "quorum_achieved": True,
                                 "data": {"product_id": product, "available_quantity": value}})

        @app.get("/stock")
        async def stock() -> dict:
            return {"products": {p: {"available": 1000}
                                 for p in ("PROD-001", "PROD-002", "PROD-003", "LIE")}}

        @app.post("/orders")
        async def order(request: Request) -> JSONResponse:
            body = await request.json()
            oid = str(uuid.uuid4())
            self.orders[oid] = body["product_id"]
            return JSONResponse({"order_id": oid, "status": "PENDING"}, status_code=201)

        @app.post("/orders/{oid}/cancel")
        async def cancel(oid: str) -> JSONResponse:
            if self.orders.pop(oid, None) is None:
                return JSONResponse({"error": "Order not found"}, status_code=404)
            return JSONResponse({"order_id": oid, "status": "CANCELLED"})

        @app.post("/stall")
        async def stall() -> dict:
            self.gate.clear()
            self.gate_closed_at = time.time()

            async def reopen() -> None:
                await asyncio.sleep(STALL_S)
                self.gate_opened_at = time.time()
                self.gate.set()

            asyncio.get_running_loop().create_task(reopen())
            return {}


@pytest.fixture(scope="module")
def stub() -> Iterator[tuple[_Stub, str]]:
    s = _Stub()
    with serve_in_thread(s.app) as base:
        yield s, base


def _gen(folder: Path, base: str, products: list[str], *, seed: int = 42,
         judged: bool = False, **spec: object) -> SystemLoadGenerator:
    """Reads of ``products`` only, at ``spec`` (the runbook's load)."""
    return app_generator(folder, base, LOAD, seed=seed, judged=judged, mix=READS,
                         values={"product": products}, **spec)


def test_schedule_is_kept_and_stalled_requests_include_the_stall(stub, tmp_path) -> None:
    s, base = stub
    gen = _gen(tmp_path, base, ["PROD-001"], rate=50, timeout_s=2.0)

    async def scenario():
        async def stall_soon() -> None:
            await asyncio.sleep(0.3)
            async with httpx.AsyncClient() as c:
                await c.post(f"{base}/stall")
        stall = asyncio.create_task(stall_soon())
        records = await gen.run("stall", 1.5)
        await stall
        return records

    records = asyncio.run(scenario())
    df = metrics.requests_frame(records)
    intended = df["intended_s"].sort_values().to_numpy()
    # open loop: 75 requests exactly 20 ms apart, whatever the answers did
    assert len(df) == 75
    assert (abs((intended[1:] - intended[:-1]) - 0.02) < 1e-6).all()
    closed, opened = s.gate_closed_at, s.gate_opened_at
    assert closed is not None and opened is not None
    during = df[(df["intended_s"] > closed + 0.01) & (df["intended_s"] < opened - 0.01)]
    # requests kept being sent during the stall: ≈ 50/s × 0.5 s of them
    assert len(during) >= 20
    # no coordinated omission: each one's latency runs from its intended time past the
    # moment the server let it go
    assert ((during["intended_s"] + during["latency_s"]) >= opened - 0.005).all()
    assert during["ok"].all()
    # and the first one waited the better part of the stall
    assert during["latency_s"].max() >= STALL_S * 0.8


def test_slow_answers_do_not_delay_the_next_send(stub, tmp_path) -> None:
    _, base = stub
    gen = _gen(tmp_path, base, ["SLOW", "PROD-001"], rate=40, timeout_s=3.0)
    df = metrics.requests_frame(gen.run_sync("slow", 1.0))
    assert len(df) == 40  # every scheduled request was sent, slow answers or not
    slow, fast = df[df["key"] == "SLOW"], df[df["key"] == "PROD-001"]
    assert len(slow) >= 5 and len(fast) >= 5
    assert (slow["latency_s"] >= SLOW_S).all()
    # Open loop: fast reads sent while the first slow read was outstanding were answered
    # before it was. A closed loop would have sent them only after its answer came back.
    first = slow.sort_values("intended_s").iloc[0]
    first_done = first["intended_s"] + first["latency_s"]
    behind = fast[(fast["intended_s"] > first["intended_s"])
                  & (fast["intended_s"] < first["intended_s"] + SLOW_S / 3)]
    assert len(behind) >= 3
    assert ((behind["intended_s"] + behind["latency_s"]) < first_done).all()


def test_a_timeout_is_a_failure_at_its_elapsed_time(stub, tmp_path) -> None:
    _, base = stub
    gen = _gen(tmp_path, base, ["HANG"], rate=10, timeout_s=0.3)
    df = metrics.requests_frame(gen.run_sync("hang", 0.3))
    assert len(df) == 3
    assert (df["error"] == "timeout").all() and (df["status"] == 0).all()
    assert not df["ok"].any() and not df["quorum"].any()
    assert (df["latency_s"] >= 0.3).all()
    assert metrics.availability(df) == 0.0


def test_orders_are_cancelled_by_their_follow_up_so_stock_stays_put(stub, tmp_path) -> None:
    s, base = stub
    # timeout_s: judged on what was cancelled, not how fast a busy machine answers
    gen = app_generator(tmp_path, base, LOAD, seed=42, rate=40, mix={"read": 0},
                        follow_up_after_s={"order": 0.2}, timeout_s=10.0)
    df = metrics.requests_frame(gen.run_sync("writes", 0.5))
    orders, cancels = df[df["kind"] == "order"], df[df["kind"] == "order>1"]
    assert len(orders) == 20 and (orders["status"] == 201).all()
    # each cancel names its order by the id of the order's answer: the stub knows no other
    assert len(cancels) == 20 and cancels["ok"].all() and (cancels["status"] == 200).all()
    assert s.orders == {}  # every order was cancelled before run() returned
    # the first cancel waited its after_s (the last ones went when the phase ended)
    assert cancels["intended_s"].min() >= orders["intended_s"].min() + 0.2
    assert orders["quorum"].isna().all() and orders["wrong"].isna().all()
    assert len(df) == 40 and gen.counts["scheduled"] == 20  # a follow-up is not scheduled


def test_answers_outside_the_oracles_window_are_wrong(stub, tmp_path) -> None:
    _, base = stub
    # the truth is the oracle's (the stub's /stock: 1000 of each); LIE answers 2000
    gen = _gen(tmp_path, base, ["PROD-001", "LIE"], seed=3, judged=True, rate=40)
    df = metrics.requests_frame(gen.run_sync("truth", 0.5))
    assert df["ok"].all() and df["quorum"].all() and (df["kind"] == "read").all()
    lie = df["key"] == "LIE"
    assert 0 < lie.sum() < len(df)
    assert df.loc[lie, "wrong"].all() and (df.loc[lie, "value"] == 2000).all()
    assert not df.loc[~lie, "wrong"].any() and (df.loc[~lie, "value"] == 1000).all()
    assert metrics.wrong_answers(df) == lie.sum()


def test_should_abort_stops_scheduling_and_live_stats_follow(stub, tmp_path) -> None:
    _, base = stub
    gen = _gen(tmp_path, base, ["PROD-001"], rate=50)
    calls = {"n": 0}

    def should_abort() -> bool:
        calls["n"] += 1
        return calls["n"] > 10

    records = gen.run_sync("abort", 5.0, should_abort)
    assert len(records) == 10
    assert gen.counts == {"scheduled": 10, "completed": 10, "ok": 10, "failed": 0,
                          "in_flight": 0}
    assert gen.window_availability(60) == 1.0
    assert gen.window_availability(60, min_samples=11) is None


def test_each_run_starts_with_an_empty_availability_window(stub, tmp_path) -> None:
    s, base = stub
    gen = _gen(tmp_path, base, ["PROD-001"], rate=20, timeout_s=0.2)
    s.down = True
    try:
        gen.run_sync("failing", 0.2)
    finally:
        s.down = False
    assert gen.window_stats(60) == (0, 4)
    seen: list[tuple[int, int]] = []

    def should_abort() -> bool:
        seen.append(gen.window_stats(60))
        return False

    gen.run_sync("next", 0.1, should_abort)
    assert seen[0] == (0, 0)  # the failing phase does not count against this one
    assert gen.window_stats(60) == (2, 2)
    assert gen.counts["failed"] == 4 and gen.counts["ok"] == 2  # totals stay cumulative


def _mixed(folder: Path, base: str, arrival: str, seed: int,
           products: list[str] | None = None) -> SystemLoadGenerator:
    """Reads and orders, one of each on average, each order cancelled as soon as it is
    answered."""
    return app_generator(folder, base, LOAD, seed=seed, rate=200, arrival=arrival,
                         follow_up_after_s={"order": 0},
                         **({"values": {"product": products}} if products else {}))


def test_poisson_schedule_and_mix_are_reproducible_from_the_seed(stub, tmp_path) -> None:
    _, base = stub

    def shape(seed: int) -> list[tuple[str, str, float]]:
        df = metrics.requests_frame(_mixed(tmp_path, base, "poisson", seed).run_sync("p", 0.2))
        df = df[scheduled(df["kind"])]
        t0 = df["intended_s"].min()
        return [(k, p, round(t - t0, 6)) for k, p, t in
                zip(df["kind"], df["key"], df["intended_s"], strict=True)]

    a, b, c = shape(7), shape(7), shape(8)
    assert a == b and a != c
    assert {k for k, _, _ in a} == {"read", "order"}
    assert len({p for _, p, _ in a}) == 3  # the values drawn too
    gaps = {round(y[2] - x[2], 6) for x, y in zip(a, a[1:], strict=False)}
    assert len(gaps) > 3  # exponential gaps, not a fixed period


def test_a_503_without_quorum_is_recorded_as_a_failed_read(stub, tmp_path) -> None:
    _, base = stub
    df = metrics.requests_frame(_mixed(tmp_path, base, "uniform", 1, ["DOWN"]).run_sync("q", 0.05))
    reads = df[df["kind"] == "read"]
    assert len(reads) >= 1
    assert (reads["status"] == 503).all() and (reads["error"] == "http_5xx").all()
    assert not reads["quorum"].any() and not reads["ok"].any()


async def test_run_sync_works_from_inside_a_running_event_loop(stub, tmp_path) -> None:
    # a notebook kernel or an async Prefect task already runs a loop in this thread
    _, base = stub
    df = metrics.requests_frame(_mixed(tmp_path, base, "uniform", 1).run_sync("nested", 0.05))
    assert len(df[scheduled(df["kind"])]) == 10


@pytest.mark.slow
def test_the_oracle_flags_a_lying_replica_and_no_honest_answer(clean_faults) -> None:
    """systems/inventory.yaml's own load on the real stack, its truth read from its oracle
    (the orders ledger): through the voter, and straight at a replica (the file's read
    pointed at it: a replica answers the row without the voter's envelope)."""
    import yaml

    from gameday.runbook import LoadSpec
    from gameday.systems.loader import parse_system
    from gameday.systems.resolve import ResolvedSystem, resolve
    from inventory_system import consistency

    stack = clean_faults
    doc = yaml.safe_load((REPO / "systems" / "inventory.yaml").read_text())
    spec = LoadSpec(rate=15, mix={"read": 6, "write": 4}, follow_up_after_s={"write": 0.3})

    def resolved(replica: int | None = None) -> ResolvedSystem:
        if replica is not None:
            doc["load"]["requests"]["read"] = {
                "weight": 8, "url": f"{{{{ inventory[{replica - 1}].url }}}}"
                                   "/inventory/{{ product }}",
                "answer": {"key": "{{ product }}", "value": "available_quantity"}}
        return resolve(parse_system(doc, "inventory.yaml"), base_port=stack.base_port)

    # one truth for the three runs, as for the phases of one GameDay: the orders of one
    # run are still settling (replicas applying their cancels) when the next one reads
    truth = oracle_truth(resolved())

    def generator(seed: int, replica: int | None = None) -> SystemLoadGenerator:
        return judged_by_oracle(resolved(replica), spec, seed, truth=truth)

    # replica 2 lies about PROD-001 (the stack's own fault API, its contract; the
    # clean_faults fixture clears it afterwards)
    httpx.post(f"{stack.urls.replica('2')}/inject-failure", headers=stack.chaos_headers,
               json={"type": "incorrect_response", "product_id": "PROD-001", "ttl_s": 30},
               timeout=5).raise_for_status()
    voter = metrics.requests_frame(generator(1).run_sync("v", 3))

    def direct(replica: int) -> pd.DataFrame:
        df = metrics.requests_frame(generator(2, replica).run_sync(f"r{replica}", 3))
        return df[df["kind"] == "read"]

    liar, honest = direct(2), direct(1)
    httpx.post(f"{stack.urls.replica('2')}/inject-failure", headers=stack.chaos_headers,
               json={"type": "clear"}, timeout=5).raise_for_status()
    # reads and orders interleave (each order in force until its cancel widens the
    # window); only the faulted product on the faulted replica is wrong
    assert set(voter["kind"]) == {"read", "write", "write>1"}
    assert voter["ok"].all() and metrics.wrong_answers(voter) == 0
    assert liar["wrong"].notna().all() and (liar["key"] == "PROD-001").any()
    assert liar.loc[liar["key"] == "PROD-001", "wrong"].all()
    assert not liar.loc[liar["key"] != "PROD-001", "wrong"].any()
    assert metrics.wrong_answers(honest) == 0 and len(honest) > 10
    assert honest["wrong"].notna().all()  # judged, not merely unjudged
    ok, mismatches = consistency(stack, timeout_s=30)
    assert ok, mismatches


def test_no_full_gc_while_sending_and_the_gc_is_restored_after(stub, tmp_path) -> None:
    import gc

    from gameday.quiet_gc import QUIET_GEN2_THRESHOLD

    _, base = stub
    gen = app_generator(tmp_path, base, LOAD, seed=42, rate=50, values={"product": ["PROD-001"]},
                        follow_up_after_s={"order": 0})
    before = gc.get_threshold()
    seen: list[tuple[int, int]] = []

    def should_abort() -> bool:
        seen.append((gc.get_threshold()[2], gc.get_freeze_count()))
        return False

    records = gen.run_sync("gc", 0.2, should_abort)
    assert len([r for r in records if ">" not in r.kind]) == 10
    assert seen and all(t == QUIET_GEN2_THRESHOLD and frozen > 0 for t, frozen in seen)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
