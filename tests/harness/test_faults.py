from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from gameday import probes
from gameday.errors import FaultError
from gameday.faults import FaultClient, FaultControlError
from gameday.runbook import Fault
from gameday.targets.base import StackUrls, Target
from loopback_app import serve_in_thread


class _FakeReplicas:
    """Three replica look-alikes on one server: /r{N}/inject-failure, per the contract."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], str | None]] = []
        self.answer: dict[str, int] = {}  # replica → forced status
        self.app = FastAPI()

        @self.app.post("/r{n}/inject-failure")
        async def inject(n: str, request: Request) -> JSONResponse:
            body = await request.json()
            self.calls.append((n, body, request.headers.get("x-chaos-token")))
            if request.headers.get("x-chaos-token") != "sesame":
                return JSONResponse({"error": "missing or wrong X-Chaos-Token header"}, 401)
            if n in self.answer:
                return JSONResponse({"error": "boom"}, self.answer[n])
            if body["type"] not in ("crash", "latency", "intermittent", "incorrect_response",
                                    "clear"):
                return JSONResponse({"error": f"unknown failure type {body['type']!r}"}, 400)
            return JSONResponse({"failure_injected": body["type"] != "clear",
                                 "failure_type": None if body["type"] == "clear"
                                 else body["type"]})

        @self.app.get("/r{n}/inject-failure")
        async def current(n: str) -> dict:
            return {"failure_injected": False, "failure_type": None}


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[_FakeReplicas, StackUrls]]:
    f = _FakeReplicas()
    with serve_in_thread(f.app) as base:
        yield f, StackUrls((f"{base}/r1", f"{base}/r2", f"{base}/r3"), base, base, base)


@pytest.fixture
def replicas(fake) -> Iterator[tuple[_FakeReplicas, StackUrls]]:
    f, urls = fake
    f.calls.clear()
    f.answer.clear()
    yield f, urls


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_inject_clears_first_then_sets_with_ttl_and_token(replicas) -> None:
    f, urls = replicas
    with FaultClient(urls, "sesame", default_ttl_s=45) as fc:
        fc.inject("2", Fault(type="latency", replica="2", latency_ms=250), seed=9)
        fc.inject("3", {"type": "intermittent", "probability": 0.25, "ttl_s": 5})
    assert f.calls == [
        ("2", {"type": "clear"}, "sesame"),
        ("2", {"type": "latency", "latency_ms": 250.0, "ttl_s": 45, "seed": 9}, "sesame"),
        ("3", {"type": "clear"}, "sesame"),
        ("3", {"type": "intermittent", "probability": 0.25, "ttl_s": 5}, "sesame"),
    ]


def test_explicit_ttl_wins_over_the_fault_and_default(replicas) -> None:
    f, urls = replicas
    with FaultClient(urls, "sesame", default_ttl_s=45) as fc:
        fc.inject("1", Fault(type="crash", replica="1", ttl_s=30), ttl_s=12)
    assert f.calls[-1][1] == {"type": "crash", "ttl_s": 12}


def test_a_wrong_token_is_a_permanent_error_that_says_what_to_set(replicas) -> None:
    _, urls = replicas
    with FaultClient(urls, "wrong") as fc, pytest.raises(FaultControlError) as exc:
        fc.clear("1")
    assert not exc.value.transient and exc.value.status == 401
    assert str(exc.value) == (
        "replica 1 refused clear on replica 1 (HTTP 401): the chaos token is missing or "
        "wrong; set GAMEDAY_CHAOS_TOKEN to the stack's CHAOS_TOKEN")


def test_a_bad_fault_is_permanent_and_a_5xx_transient(replicas) -> None:
    f, urls = replicas
    with FaultClient(urls, "sesame") as fc:
        with pytest.raises(FaultControlError, match="HTTP 400.*unknown failure type") as bad:
            fc.inject("1", {"type": "meteor"})
        assert not bad.value.transient
        f.answer["2"] = 503
        with pytest.raises(FaultControlError) as busy:
            fc.clear("2")
        assert busy.value.transient and busy.value.error_class == "http_5xx"


def test_an_unreachable_replica_is_a_transient_fault_error() -> None:
    port = _dead_port()
    urls = StackUrls(tuple(f"http://127.0.0.1:{port}" for _ in range(3)), "", "", "")
    with FaultClient(urls, timeout_s=1) as fc, pytest.raises(FaultError) as exc:
        fc.clear("3")
    assert isinstance(exc.value, FaultControlError) and exc.value.transient
    assert str(exc.value).startswith("cannot set clear on replica 3: connect at ")


def test_clear_all_is_best_effort(replicas) -> None:
    f, urls = replicas
    f.answer["2"] = 500
    with FaultClient(urls, "sesame") as fc:
        out = fc.clear_all()
    assert out["1"] == out["3"] == "cleared"
    assert out["2"].startswith("failed: replica 2 refused clear on replica 2 (HTTP 500)")


def test_unknown_replica_is_refused_before_any_request(replicas) -> None:
    f, urls = replicas
    with FaultClient(urls, "sesame") as fc, pytest.raises(
            FaultControlError, match=r"unknown replica '4': allowed 1, 2, 3"):
        fc.clear("4")
    assert f.calls == []


def test_current_reads_the_fault(replicas) -> None:
    _, urls = replicas
    with FaultClient(urls, "sesame") as fc:
        assert fc.current("1") == {"failure_injected": False, "failure_type": None}


# ---- against the real local stack ---------------------------------------------------------


@pytest.mark.slow
def test_inject_and_clear_on_the_real_stack_are_safe_to_repeat(clean_faults) -> None:
    stack = clean_faults
    with FaultClient(stack.urls, stack.chaos_token, default_ttl_s=20) as fc:
        fault = Fault(type="incorrect_response", replica="2", product_id="PROD-002")
        fc.inject("2", fault)
        answer = fc.inject("2", fault)  # a retry does no harm
        assert answer["failure_injected"] is True
        now = fc.current("2")
        assert now["failure_type"] == "incorrect_response" and now["fault"]["ttl_s"] == 20
        wrong = httpx.get(f"{stack.urls.replica('2')}/inventory/PROD-002").json()
        right = httpx.get(f"{stack.urls.replica('1')}/inventory/PROD-002").json()
        assert wrong["available_quantity"] == right["available_quantity"] + 1000
        fc.clear("2")
        fc.clear("2")  # "already clear" is success
        assert fc.current("2")["failure_injected"] is False
        with FaultClient(stack.urls, "not-the-token") as bad, pytest.raises(
                FaultControlError, match="HTTP 401") as exc:
            bad.inject("1", {"type": "latency", "latency_ms": 10})
        assert not exc.value.transient
        assert fc.current("1")["failure_injected"] is False  # nothing changed


@pytest.mark.slow
def test_a_crashed_replica_comes_back_and_agrees_with_the_ledger(clean_faults) -> None:
    stack = clean_faults
    with FaultClient(stack.urls, stack.chaos_token, default_ttl_s=20) as fc:
        fc.inject("3", Fault(type="crash", replica="3"))
        probes.wait_until(lambda: not probes.health(stack.urls)["inventory-3"]["ok"], 10,
                          what="replica 3 down")
        try:  # the local target's supervisor restarts a crashed process after 0.5 s
            fc.clear("3")
        except FaultControlError as exc:
            assert exc.transient, exc  # down for now: the flow retries
        stack.target.restart_replica("3", timeout_s=60)
        fc.clear("3")
        seen = probes.wait_replica_on(stack.urls, "3", timeout_s=30)
        assert seen <= time.time()
    state = probes.wait_steady(stack.urls, timeout_s=30)
    assert state["ok"] and state["replicas"] == {"1": "ON", "2": "ON", "3": "ON"}
    consistency = probes.consistency(stack.urls, timeout_s=30)
    assert consistency["ok"], consistency["mismatches"]
    assert set(consistency["replicas"]) == {"1", "2", "3"}


class _AtUrls(Target):
    """Only the URLs of the stand-in replicas: inject needs nothing else of a target."""

    name = "local"

    def __init__(self, urls: StackUrls) -> None:
        self._urls = urls

    @property
    def urls(self) -> StackUrls:
        return self._urls

    def start(self, *, timeout_s: float = 60.0) -> Any:
        raise NotImplementedError

    def stop(self, *, timeout_s: float = 30.0) -> None:
        raise NotImplementedError

    def status(self) -> Any:
        raise NotImplementedError

    def kill_replica(self, instance_id: str) -> None:
        raise NotImplementedError

    def restart_replica(self, instance_id: str, *, timeout_s: float = 30.0) -> None:
        raise NotImplementedError


def test_gameday_fault_ttl_s_is_the_ttl_sent_when_the_runbook_names_none(
    replicas, tmp_path, monkeypatch
) -> None:
    """The defect: GAMEDAY_FAULT_TTL_S never reached an injection (the runbook's default
    always won). Precedence: fault.ttl_s > safety.fault_ttl_s > GAMEDAY_FAULT_TTL_S."""
    import yaml

    from gameday import engine
    from gameday.config import get_settings
    from gameday.runbook import load_runbook

    f, urls = replicas
    monkeypatch.setenv("GAMEDAY_FAULT_TTL_S", "75")
    path = tmp_path / "ttl.yaml"
    path.write_text(yaml.safe_dump({"name": "ttl", "load": {"rate": 1}, "phases": [
        {"name": "slow", "duration_s": 1,
         "fault": {"type": "latency", "replica": "2", "latency_ms": 100}},
        {"name": "own", "duration_s": 1,
         "fault": {"type": "latency", "replica": "3", "latency_ms": 100, "ttl_s": 9}}]}))
    settings = get_settings(chaos_token="sesame", reports_dir=tmp_path / "reports")
    rb = load_runbook(path, default_fault_ttl_s=settings.fault_ttl_s)
    run = engine.open_run(settings, rb, path, _AtUrls(urls))
    for phase in rb.phases:
        engine.inject(run, phase)
        run.faulted.clear()
    sent = [body for _, body, _ in f.calls if body["type"] == "latency"]
    assert [b["ttl_s"] for b in sent] == [75, 9]
    journal = run.journal.record
    assert [e.output["ttl_s"] for e in journal.run] == [75, 9]
