from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import httpx
import pandas as pd
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from gameday import metrics
from gameday.load import LoadGenerator
from gameday.runbook import LoadSpec
from gameday.targets.base import StackUrls
from gameday.truth import Truth
from loopback_app import serve_in_thread

STALL_S = 0.5
#: How long a "SLOW" read takes: long enough that no busy machine makes a fast read
#: (a few ms) look as slow, so the test below judges ordering, not speed.
SLOW_S = 1.5


class _Stub:
    """A voter + orders look-alike whose answers can be stalled on purpose."""

    def __init__(self) -> None:
        self.gate_closed_at: float | None = None
        self.gate_opened_at: float | None = None
        self.gate = asyncio.Event()
        self.orders: dict[str, str] = {}
        self.app = FastAPI()
        app = self.app

        @app.get("/inventory/{product}")
        async def read(product: str) -> JSONResponse:
            if product == "SLOW":
                await asyncio.sleep(SLOW_S)
            if product == "HANG":
                await asyncio.sleep(1.0)
            if product == "DOWN":
                return JSONResponse({"success": False, "quorum_achieved": False},
                                    status_code=503)
            if self.gate_closed_at is not None:
                await self.gate.wait()
            value = 2000 if product == "LIE" else 1000
            return JSONResponse({"success": True, "quorum_achieved": True,
                                 "data": {"product_id": product, "available_quantity": value}})

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
def stub() -> Iterator[tuple[_Stub, StackUrls]]:
    s = _Stub()
    with serve_in_thread(s.app) as base:
        yield s, StackUrls((base, base, base), base, base, base)


def _gen(urls: StackUrls, **spec: object) -> LoadGenerator:
    return LoadGenerator(urls, LoadSpec(**spec), seed=42)  # type: ignore[arg-type]


def test_schedule_is_kept_and_stalled_requests_include_the_stall(stub) -> None:
    s, urls = stub
    gen = _gen(urls, rate=50, read_ratio=1.0, products=["PROD-001"], timeout_s=2.0)

    async def scenario():
        async def stall_soon() -> None:
            await asyncio.sleep(0.3)
            async with httpx.AsyncClient() as c:
                await c.post(f"{urls.voter}/stall")
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


def test_slow_answers_do_not_delay_the_next_send(stub) -> None:
    _, urls = stub
    gen = _gen(urls, rate=40, read_ratio=1.0, products=["SLOW", "PROD-001"], timeout_s=3.0)
    df = metrics.requests_frame(gen.run_sync("slow", 1.0))
    assert len(df) == 40  # every scheduled request was sent, slow answers or not
    slow, fast = df[df["product_id"] == "SLOW"], df[df["product_id"] == "PROD-001"]
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


def test_a_timeout_is_a_failure_at_its_elapsed_time(stub) -> None:
    _, urls = stub
    gen = _gen(urls, rate=10, read_ratio=1.0, products=["HANG"], timeout_s=0.3)
    df = metrics.requests_frame(gen.run_sync("hang", 0.3))
    assert len(df) == 3
    assert (df["error"] == "timeout").all() and (df["status"] == 0).all()
    assert not df["ok"].any() and not df["quorum"].any()
    assert (df["latency_s"] >= 0.3).all()
    assert metrics.availability(df) == 0.0


def test_writes_are_cancelled_so_stock_stays_put(stub) -> None:
    s, urls = stub
    gen = _gen(urls, rate=40, read_ratio=0.0, products=["PROD-001"], cancel_after_s=0.2,
               timeout_s=10.0)  # judged on what was cancelled, not how fast a busy machine answers
    df = metrics.requests_frame(gen.run_sync("writes", 0.5))
    writes, cancels = df[df["kind"] == "write"], df[df["kind"] == "cancel"]
    assert len(writes) == 20 and (writes["status"] == 201).all()
    assert len(cancels) == 20 and cancels["ok"].all()
    assert s.orders == {}  # every order was cancelled before run() returned
    assert writes["quorum"].isna().all() and writes["wrong"].isna().all()


def test_reads_outside_the_truth_window_are_wrong(stub) -> None:
    _, urls = stub
    truth = Truth({"PROD-001": 1000, "LIE": 1000})
    gen = LoadGenerator(urls, LoadSpec(rate=40, read_ratio=1.0, products=["PROD-001", "LIE"]),
                        seed=3, truth=truth)
    df = metrics.requests_frame(gen.run_sync("truth", 0.5))
    assert df["ok"].all() and df["quorum"].all()
    assert df.loc[df["product_id"] == "LIE", "wrong"].all()
    assert not df.loc[df["product_id"] == "PROD-001", "wrong"].any()
    assert metrics.wrong_answers(df) == (df["product_id"] == "LIE").sum()


def test_should_abort_stops_scheduling_and_live_stats_follow(stub) -> None:
    _, urls = stub
    gen = _gen(urls, rate=50, read_ratio=1.0, products=["PROD-001"])
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


def test_each_run_starts_with_an_empty_availability_window(stub) -> None:
    _, urls = stub
    gen = _gen(urls, rate=20, read_ratio=1.0, products=["HANG"], timeout_s=0.2)
    gen.run_sync("failing", 0.2)
    assert gen.window_stats(60) == (0, 4)
    seen: list[tuple[int, int]] = []

    def should_abort() -> bool:
        seen.append(gen.window_stats(60))
        return False

    gen.spec = LoadSpec(rate=20, read_ratio=1.0, products=["PROD-001"])
    gen.run_sync("next", 0.1, should_abort)
    assert seen[0] == (0, 0)  # the failing phase does not count against this one
    assert gen.window_stats(60) == (2, 2)
    assert gen.counts["failed"] == 4 and gen.counts["ok"] == 2  # totals stay cumulative


def _stub_generator(urls: StackUrls, arrival: str, seed: int,
                    products: list[str] | None = None) -> LoadGenerator:
    spec = LoadSpec(rate=200, read_ratio=0.5, arrival=arrival, cancel_after_s=0,  # type: ignore[arg-type]
                    products=products or ["PROD-001", "PROD-002", "PROD-003"])
    return LoadGenerator(urls, spec, seed)


def test_poisson_schedule_and_mix_are_reproducible_from_the_seed(stub) -> None:
    _, urls = stub

    def shape(seed: int) -> list[tuple[str, str, float]]:
        df = metrics.requests_frame(_stub_generator(urls, "poisson", seed).run_sync("p", 0.2))
        df = df[df["kind"] != "cancel"]
        t0 = df["intended_s"].min()
        return [(k, p, round(t - t0, 6)) for k, p, t in
                zip(df["kind"], df["product_id"], df["intended_s"], strict=True)]

    a, b, c = shape(7), shape(7), shape(8)
    assert a == b and a != c
    gaps = {round(y[2] - x[2], 6) for x, y in zip(a, a[1:], strict=False)}
    assert len(gaps) > 3  # exponential gaps, not a fixed period


def test_a_503_without_quorum_is_recorded_as_a_failed_read(stub) -> None:
    _, urls = stub
    df = metrics.requests_frame(
        _stub_generator(urls, "uniform", 1, ["DOWN"]).run_sync("q", 0.05))
    reads = df[df["kind"] == "read"]
    assert len(reads) >= 1
    assert (reads["status"] == 503).all() and (reads["error"] == "http_5xx").all()
    assert not reads["quorum"].any() and not reads["ok"].any()


async def test_run_sync_works_from_inside_a_running_event_loop(stub) -> None:
    # a notebook kernel or an async Prefect task already runs a loop in this thread
    _, urls = stub
    df = metrics.requests_frame(_stub_generator(urls, "uniform", 1).run_sync("nested", 0.05))
    assert len(df[df["kind"] != "cancel"]) == 10


@pytest.mark.slow
def test_truth_window_flags_a_lying_replica_and_no_honest_answer(clean_faults) -> None:
    from gameday import probes
    from gameday.faults import FaultClient

    stack = clean_faults
    urls = stack.urls
    truth = Truth.from_ledger(probes.ledger(urls))
    spec = LoadSpec(rate=15, read_ratio=0.6, cancel_after_s=0.3)
    with FaultClient(urls, stack.chaos_token, default_ttl_s=30) as fc:
        fc.inject("2", {"type": "incorrect_response", "product_id": "PROD-001"})
        voter = metrics.requests_frame(LoadGenerator(urls, spec, 1, truth=truth).run_sync("v", 3))

        def direct(replica: str) -> pd.DataFrame:
            u = StackUrls(urls.inventory, urls.monitor, urls.replica(replica), urls.orders)
            df = metrics.requests_frame(LoadGenerator(u, spec, 2, truth=truth).run_sync(
                f"r{replica}", 3))
            return df[df["kind"] == "read"]

        liar, honest = direct("2"), direct("1")
        fc.clear("2")
    # reads and orders interleave; only the faulted product on the faulted replica is wrong
    assert voter["ok"].all() and metrics.wrong_answers(voter) == 0
    assert liar.loc[liar["product_id"] == "PROD-001", "wrong"].all()
    assert not liar.loc[liar["product_id"] != "PROD-001", "wrong"].any()
    assert metrics.wrong_answers(honest) == 0 and len(honest) > 10
    assert probes.consistency(urls, timeout_s=30)["ok"]


def test_no_full_gc_while_sending_and_the_gc_is_restored_after(stub) -> None:
    import gc

    from gameday.quiet_gc import QUIET_GEN2_THRESHOLD

    _, urls = stub
    gen = _gen(urls, rate=50, read_ratio=0.5, products=["PROD-001"], cancel_after_s=0)
    before = gc.get_threshold()
    seen: list[tuple[int, int]] = []

    def should_abort() -> bool:
        seen.append((gc.get_threshold()[2], gc.get_freeze_count()))
        return False

    records = gen.run_sync("gc", 0.2, should_abort)
    assert len([r for r in records if r.kind != "cancel"]) == 10
    assert seen and all(t == QUIET_GEN2_THRESHOLD and frozen > 0 for t, frozen in seen)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
