"""Sharding the load: a system's seeded schedule split into disjoint shards, run in
processes, merged exactly, and a generator that falls behind flagged."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pandas as pd
import pytest
from fastapi import FastAPI

from gameday import metrics
from gameday.errors import GameDayError
from gameday.load_check import check_load, shortfall_sentences
from gameday.load_schedule import Shard
from gameday.load_shards import SystemLoad, merge, run_sharded
from gameday.records import RequestRecord
from gameday.runbook import LoadSpec
from gameday.systems.load import SystemPlanned, adjusted_load, system_schedule
from gameday.systems.model import LoadMix
from loopback_app import serve_in_thread
from system_load_app import app_load

#: A mix of two request kinds (7:3) and four values, as a system file's ``load``.
MIX = LoadMix.model_validate({
    "values": {"product": ["A", "B", "C", "D"]},
    "requests": {"read": {"weight": 7, "url": "{{ app.url }}/{{ product }}"},
                 "write": {"weight": 3, "method": "POST", "url": "{{ app.url }}/{{ product }}"}},
})


def _first(spec: LoadSpec, seed: int, shards: int, horizon_s: float) -> list[SystemPlanned]:
    """The union of every shard's requests before ``horizon_s``, in index order."""
    parts = [list(itertools.takewhile(lambda p: p.offset_s < horizon_s,
                                      system_schedule(MIX, spec, seed, "phase", sh)))
             for sh in Shard().split(shards)]
    for a, b in itertools.combinations(parts, 2):
        assert not {p.index for p in a} & {p.index for p in b}  # disjoint
    return sorted(itertools.chain.from_iterable(parts), key=lambda p: p.index)


@pytest.mark.parametrize("arrival", ["uniform", "poisson"])
def test_the_same_seed_gives_the_same_schedule_whatever_the_shard_count(arrival: str) -> None:
    spec = LoadSpec(rate=300, arrival=arrival)  # type: ignore[arg-type]
    whole = _first(spec, 11, 1, 2.0)
    assert len(whole) > 400 and {p.kind for p in whole} == {"read", "write"}
    assert {p.values["product"] for p in whole} == {"A", "B", "C", "D"}
    assert [p.index for p in whole] == list(range(len(whole)))
    for shards in (2, 3, 4, 7):
        assert _first(spec, 11, shards, 2.0) == whole
    assert _first(spec, 12, 1, 2.0) != whole  # and the seed matters


def test_a_shard_out_of_range_is_refused_with_a_sentence() -> None:
    with pytest.raises(GameDayError, match=r"shard 3 of 3: the count must be ≥ 1 and the "
                                           r"index in 0\.\.2"):
        Shard(3, 3)
    with pytest.raises(GameDayError, match="count must be ≥ 1"):
        Shard(0, 0)


def _rec(t: float, kind: str = "read", lag: float = 0.0) -> RequestRecord:
    return RequestRecord("p", kind, "A", t, 0.01, 200, True, send_lag_s=lag)


def test_records_merge_into_one_ordered_run() -> None:
    a = [_rec(0.0), _rec(0.2), _rec(0.4, "write"), _rec(0.4, "write>1")]
    b = [_rec(0.3), _rec(0.1)]  # a shard's records may come back in completion order
    merged = merge([a, b])
    assert [r.intended_s for r in merged] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.4]
    assert [r.kind for r in merged[-2:]] == ["write", "write>1"]  # a follow-up stays after
    assert sorted(map(id, merged)) == sorted(map(id, a + b))  # nothing lost, nothing copied


def _frame(lags: list[float], rate: float = 100.0) -> pd.DataFrame:
    return metrics.requests_frame(
        [_rec(i / rate, lag=lag) for i, lag in enumerate(lags)])


def test_a_generator_on_schedule_kept_up() -> None:
    check = check_load(_frame([0.001] * 200), 2.0)
    assert check is not None and check.kept_up and check.reason is None
    assert check.scheduled_rate == pytest.approx(100.0) and check.shards == 1


def test_a_generator_that_sent_late_is_flagged_with_what_it_missed() -> None:
    # the last tenth of the schedule went out 0.3 s late: past the window, and a lag p99
    lags = [0.0] * 180 + [0.3] * 20
    check = check_load(_frame(lags), 2.0, shards=3)
    assert check is not None and not check.kept_up and check.shards == 3
    assert check.achieved_rate == pytest.approx(check.scheduled_rate * 0.9, rel=0.02)
    assert "req/s of the 100.0 scheduled (-" in check.reason
    assert "send lag p99 300.0 ms (bound 10 ms)" in check.reason


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    app = FastAPI()

    @app.get("/inventory/{product}")
    async def read(product: str) -> dict:
        return {"quorum_achieved": True, "data": {"available_quantity": 5}}

    with serve_in_thread(app) as base:
        yield base


def test_shards_in_their_own_processes_send_the_whole_schedule_once(server, tmp_path) -> None:
    load = {"values": {"product": ["A", "B", "C"]},
            "requests": {"read": {"url": "{{ app.url }}/inventory/{{ product }}",
                                  "quorum": "quorum_achieved"}}}
    source, spec, seed = app_load(tmp_path, server, load, seed=5, rate=60)
    run = run_sharded(source, spec, seed, "sharded", 1.0, shards=3)
    df = metrics.requests_frame(run.records)
    assert len(df) == 60 and df["ok"].all() and df["quorum"].all()
    # exactly the unsharded schedule: same products in the same order, 1/60 s apart
    planned = list(itertools.takewhile(
        lambda p: p.offset_s < 1.0,
        system_schedule(adjusted_load(LoadMix.model_validate(load), spec), spec, 5, "sharded")))
    assert list(df["key"]) == [p.values["product"] for p in planned]
    assert len(set(df["key"])) == 3
    gaps = df["intended_s"].diff().dropna()
    assert (abs(gaps - 1 / 60) < 1e-6).all()  # one clock: the shards' times interleave
    assert sorted(s["sent"] for s in run.per_shard) == [20, 20, 20]
    assert run.check is not None and run.check.shards == 3
    # each shard says what it spent, and ran without a full GC pass (gameday.quiet_gc)
    assert all(s["cpu_ms_per_request"] > 0 and s["gc_full"] == 0 for s in run.per_shard)


def test_an_unusable_url_is_a_record_in_every_shard(tmp_path) -> None:
    load = {"requests": {"read": {"url": "ftp://nowhere/x"}}}
    source, spec, seed = app_load(tmp_path, "http://127.0.0.1:9", load, rate=10)
    run = run_sharded(source, spec, seed, "bad", 0.2, shards=2)
    assert len(run.records) == 2 and {r.error for r in run.records} == {"transport"}


def test_the_report_names_each_phase_whose_generator_fell_behind() -> None:
    from gameday.run_record import JournalRecord

    late = check_load(_frame([0.0] * 180 + [0.3] * 20), 2.0)
    fine = check_load(_frame([0.0] * 200), 2.0)
    journal = JournalRecord.model_validate(_journal([("baseline", fine), ("latency", late)]))
    [sentence] = shortfall_sentences(journal)
    assert sentence.startswith("Phase latency: sent ")
    assert sentence.endswith("Its figures measure the load machine as much as the system.")


def _journal(phases: list[tuple[str, object]]) -> dict:
    return {
        "run_id": "r", "target_key": "local:1", "status": "completed",
        "start": "2026-01-01T00:00:00Z", "runbook": {"name": "x"},
        "phases": [{"name": n, "duration_s": 2.0, "start": "2026-01-01T00:00:00Z",
                    "load": c.model_dump(mode="json")} for n, c in phases],  # type: ignore[attr-defined]
    }


def test_a_systems_load_shards_send_its_own_whole_schedule_once(tmp_path) -> None:
    """A runbook naming a system file: each shard process resolves the system again and
    sends its share of the file's requests; merged, they are the unsharded schedule."""
    from gameday.errors import RunbookError
    from pair_system import pair_runbook, pair_system

    with pair_system(tmp_path) as (pair, port):
        runbook = pair_runbook(tmp_path, load={"rate": 60, "timeout_s": 1.0})
        source, spec, seed = SystemLoad.of(runbook, base_port=port)
        assert (source.base_port, source.target, seed) == (port, "local", 3)
        run = run_sharded(source, spec, seed, "sharded", 1.0, shards=2)
    df = metrics.requests_frame(run.records)
    assert len(df) == 60 and df["ok"].all() and set(df["kind"]) == {"buy"}
    assert pair.asked["a"] == 60  # the front door saw every request once
    resolved = source.generator(spec, seed, Shard()).resolved  # type: ignore[attr-defined]
    planned = list(itertools.takewhile(
        lambda p: p.offset_s < 1.0,
        system_schedule(adjusted_load(resolved.system.load, spec), spec, seed, "sharded")))
    assert list(df["key"]) == [",".join(p.values.values()) for p in planned]
    assert sorted(s["sent"] for s in run.per_shard) == [30, 30]
    assert run.check is not None and run.check.shards == 2
    plain = tmp_path / "plain.yaml"
    plain.write_text("name: plain\nload: {rate: 1}\nphases: [{name: b, duration_s: 1}]\n")
    with pytest.raises(RunbookError, match="plain.yaml: system: is required"):
        SystemLoad.of(plain)
