"""The benchmark table's structure (no stack, no timing: figures are made up)."""

from __future__ import annotations

import pytest
from bench.common import percentiles

from bench import table


def _fault(ttd: float) -> dict:
    q = {"min": ttd, "median": ttd, "p95": ttd, "max": ttd}
    return {"n": 2, "detected": 2, "ttd": q, "ttr": q, "floor_s": 0.6, "recovery_floor_s": 1.0,
            "masking": {"requests": 10, "availability": 1.0, "p50_ms": 5.0, "p95_ms": 9.0,
                        "p99_ms": 12.0, "quorum_rate": 1.0, "wrong_answers": 0}}


def test_the_table_has_one_row_per_figure_and_five_columns() -> None:
    results = {
        "machine": {"cores": 2, "cpu": "x"}, "loadavg_range": "1.00–2.00 (1 min)",
        "detection": {
            "baseline": {"availability": 1.0, "p50_ms": 5.0, "p95_ms": 8.0, "p99_ms": 10.0},
            "faults": {f: _fault(0.3) for f in table.TTD_TARGET},
        },
    }
    text = table.render(results)
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| figure | measured | design target | original system | meets")
    assert all(r.count(" | ") == 4 for r in rows)
    assert sum("TTD" in r for r in rows) == 4 and sum(r.startswith("| during ") for r in rows) == 4
    assert "undetected in 3 of 5 runs" in text and "2 cores" in text


def test_percentiles_are_min_median_p95_max() -> None:
    assert percentiles([1.0, 2.0, 3.0]) == {"min": 1.0, "median": 2.0, "p95": 2.9, "max": 3.0}
    assert percentiles([])["p95"] is None


def test_no_traffic_rows_judge_p95_and_every_detection_and_false_positives() -> None:
    def fault(ttd: float | None, detected: int, params: dict) -> dict:
        q = {k: ttd for k in ("min", "median", "p95", "max")}
        return {"n": 10, "detected": detected, "ttd": q, "params": params}

    results = {"machine": {}, "quiet": {
        "faults": {"crash": fault(0.3, 10, {}),
                   "intermittent": fault(0.9, 9, {"probability": 0.3}),
                   "incorrect_response": fault(None, 0, {"product_id": "PROD-002"})},
        "false_positives": {"quiet_s": 120, "quiet_off": [], "load_s": 60, "rate": 40,
                            "load_off": [{"instance_id": "3"}]},
    }}
    rows = [r for r in table.render(results).splitlines() if r.startswith("| ")][1:]
    assert all(r.count(" | ") == 4 for r in rows)
    by_fault = {r.split("|")[1].split()[1].rstrip(","): r for r in rows if r.startswith("| TTD")}
    assert by_fault["crash"].endswith("| yes |")
    assert "(probability 0.3)" in by_fault["intermittent"]
    assert by_fault["intermittent"].endswith("| **no** |")  # 9 of 10 detected is a miss
    assert by_fault["incorrect_response"].endswith("| **no** |")
    assert rows[-1] == ("| false positives: OFF transitions of healthy replicas | 0 in 120 s "
                        "quiet · 1 in 60 s at 40 req/s | 0 | — | **no** |")


def test_the_compose_setup_rows_name_the_target_and_the_storage_driver() -> None:
    q = {"min": 18.0, "median": 21.0, "p95": 24.0, "max": 25.0}
    results = {
        "machine": {"cores": 2, "cpu": "x"}, "loadavg_range": "1.00–2.00 (1 min)",
        "target": "compose",
        "setup": {"storage_driver": "overlay2", "rounds": 3, "up_s": q,
                  "down_s": {k: v / 3 for k, v in q.items()},
                  "images_cold": {"wall_s": 171.0, "exit_code": 0},
                  "images_warm": {"wall_s": 1.3, "exit_code": 0}},
        "overhead": {"target": "compose", "wall_s": 150.0, "cold_start_s": 40.0,
                     "report_s": 7.0, "status": "completed", "harness_overhead": 0.05,
                     "phases_span_s": 69.3, "configured_phase_s": 66},
    }
    text = table.render(results)
    assert "| make images: cold · warm | 171.0 s · 1.3 s |" in text
    assert "compose up --wait (min/med/p95/max), 3 rounds, storage driver overlay2" in text
    assert "18.00/21.00/24.00/25.00 s" in text and "6.00/7.00/8.00/8.33 s" in text
    assert "make gameday-compose: cold start → HTML report" in text
    assert "target: compose; machine: 2 cores" in text


def _lg_step(rate: float, achieved: float, lag_ms: float, holds: bool, shards: int = 1) -> dict:
    return {"rate": rate, "shards": shards, "achieved_rate": achieved, "scheduled_rate": rate,
            "send_lag_p99_ms": lag_ms, "p50_ms": 0.3, "p99_ms": 2.0, "holds": holds,
            "cpu_ms_per_request": 0.4, "gc_full": 1.0, "loadavg": [3.5, 3.0, 2.0]}


def test_the_load_generator_rows_judge_the_ceiling_the_shards_and_wrk() -> None:
    from bench import loadgen

    lg = {"duration_s": 10.0, "ceiling_target": loadgen.CEILING_TARGET,
          "sharded_target": loadgen.SHARDED_TARGET, "ceiling_rps": 2500.0,
          "one_process": [_lg_step(2000, 1999.0, 1.2, True), _lg_step(2500, 2496.0, 3.0, True),
                          _lg_step(3000, 2700.0, 80.0, False)],
          "sharded": [_lg_step(4000, 3990.0, 2.0, True, 2), _lg_step(4000, 3700.0, 9.0, False, 3)],
          "wrk": {"rate": 980, "agree": False,
                  "ours": {"p50_ms": 0.9, "p99_ms": 3.1, "p50_from_send_ms": 0.5,
                           "p99_from_send_ms": 1.9}, "wrk": {"p50_ms": 0.4, "p99_ms": 2.0}},
          "clients": {"median_cpu_ms": {"httpx": 3.4, "aiohttp": 0.31, "wire-future": 0.25}}}
    rows = [r for r in table.render({"loadgen": lg}).splitlines() if r.startswith("| ")][1:]
    by_name = {r.split(" | ")[0][2:]: r for r in rows}
    one = by_name["load generator, 1 process vs nginx: highest rate held (10 s)"]
    assert "2500 req/s (2496.0 of 2500.0 req/s, send lag p99 3.0 ms)" in one
    assert one.endswith("| yes |")
    assert by_name["load generator, 2 processes @ 4000 req/s"].endswith("| yes |")
    assert by_name["load generator, 3 processes @ 4000 req/s"].endswith("| **no** |")
    wrk = by_name["load generator vs wrk @ 980 req/s, p50/p99 (wrk paced first, then ours "
                  "open loop at its rate; ours from the intended send)"]
    assert "0.90/3.10 vs 0.40/2.00 ms (ours from the actual send: 0.50/1.90 ms)" in wrk
    assert wrk.endswith("| **no** |")
    # every rung is shown with what the process spent, the target rate judged
    rung = by_name["load generator, 1 process @ 3000 req/s"]
    assert "2700.0 of 3000.0 req/s, send lag p99 80.0 ms; CPU 0.400 ms/request, 1 full GCs" in rung
    assert "load 3.50" in rung and rung.endswith("| **no** |")
    assert by_name["load generator, 1 process @ 2000 req/s"].endswith("| yes |")
    assert "| 3.400 ms |" in by_name["HTTP client CPU per request (median), httpx"]


def test_the_broker_rows_say_whether_its_cost_stays_flat_as_the_log_grows() -> None:
    def point(size: int, cpu: float) -> dict:
        return {"records_in_partition": size, "cpu_pct": cpu, "broker_rss_mib": 30,
                "loadavg": [1.0]}

    result = {"rate": 100,
              "one_record_per_batch": [point(0, 8.0), point(20_000, 60.0)],
              "large_batches": [point(0, 8.0), point(20_000, 9.0)]}
    single, batched = table.rows({"broker": result})
    assert "each record in a batch of its own" in single[0]
    assert "8 % at 0 → 60 % at 20,000 records" in single[1] and single[4] == "**no**"
    assert "large batches" in batched[0] and batched[4] == "yes"


def test_the_soak_row_prints_the_memory_its_verdict_judges() -> None:
    """The verdict compares the voter's private memory (its forks' shared pages once);
    the row used to print summed RSS, which grows with every fork and judged nothing."""
    def period(private: float, rss: float) -> dict:
        return {"p95_ms": 10.0, "resources": {"voter": {"private_mib": private,
                                                        "rss_mib": rss, "sockets": 5}}}

    soak = {"params": {"duration_s": 600, "rate": 150, "period_s": 60},
            "periods": [period(40.0, 120.0), period(41.0, 180.0)],
            "overall": {"availability": 1.0, "wrong_answers": 0},
            "verdict": {"holds": True, "grew": []}}
    (row,) = table._soak(soak)
    assert "voter 40.0 → 41.0 MiB private" in row[1]
    assert "180" not in row[1]


def test_the_detection_bench_sends_make_gamedays_load() -> None:
    """The detection and false-positive runs send runbooks/standard.yaml's load as it is:
    systems/inventory.yaml's requests at its mix, products and cancel delay."""
    from bench.common import STANDARD_RUNBOOK, standard_spec, system_under_test

    from gameday.runbook import load_runbook

    written = load_runbook(STANDARD_RUNBOOK).load
    assert standard_spec() == written
    mix = system_under_test(7600).generator(standard_spec(), 1).mix
    assert {name: r.weight for name, r in mix.requests.items()} == written.mix
    assert mix.values["product"] == written.values["product"]
    assert mix.requests["write"].follow_up[0].after_s == written.follow_up_after_s["write"]


@pytest.mark.parametrize(("path", "kinds"), [("voter", ["read"]), ("orders", ["write"]),
                                             ("mix", ["read", "write"])])
def test_each_capacity_path_sends_the_system_files_requests(path: str, kinds: list[str]
                                                            ) -> None:
    from bench.capacity import PATHS
    from bench.common import load_spec, system_under_test

    read, write = PATHS[path]
    spec = load_spec(100, read=read, write=write, follow_up_after_s=2.0)
    mix = system_under_test(7600).generator(spec, 1).mix
    assert list(mix.requests) == kinds
    if "write" in kinds:
        assert mix.requests["write"].follow_up[0].after_s == 2.0


def test_the_benchmarks_reach_the_stack_through_its_system_file() -> None:
    """URLs, faults (the runbooks' form) and the crosscheck's endpoint come from
    systems/inventory.yaml resolved at the bench's base port; nothing is started."""
    from bench.common import system_under_test

    sut = system_under_test(7600)
    assert sut.replicas == ["1", "2", "3"]
    assert sut.replica_urls() == tuple(f"http://127.0.0.1:{7600 + i}" for i in range(3))
    assert sut.url("voter") == "http://127.0.0.1:7604"
    assert sut.request_url("read", product="PROD-001") == (
        "http://127.0.0.1:7604/inventory/PROD-001")
    fault = sut.fault("latency", "3", latency_ms=500)
    assert (fault.target, sut.label("3")) == ("inventory/3", "inventory/3")
    assert sut.driver.fault_params(fault)["latency_ms"] == 500


@pytest.mark.parametrize(("ours", "wrk", "agree"), [
    ((0.10, 0.23), (0.14, 0.36), True),   # lower than wrk's: measured from the intended send
    ((0.30, 0.43), (0.14, 0.36), True),   # 19 % above
    ((0.30, 0.44), (0.14, 0.36), False),  # 22 % above: slower than wrk
    ((1.20, 0.36), (0.14, 0.36), False),  # p50 more than 1 ms off
])
def test_the_generator_agrees_with_wrk_when_not_slower(
        ours: tuple[float, float], wrk: tuple[float, float], agree: bool) -> None:
    from bench.loadgen import agrees_with_wrk

    assert agrees_with_wrk({"p50_ms": ours[0], "p99_ms": ours[1]},
                           {"p50_ms": wrk[0], "p99_ms": wrk[1]}) is agree
