"""The slow-replica, soak and nightly rows, and the soak's growth verdict (no stack, no
timing: figures are made up)."""

from __future__ import annotations

from bench.slow_replica import window_costs
from bench.soak import verdict

from bench import table


def _row(p95: float, availability: float = 1.0, wrong: int = 0) -> dict:
    return {"requests": 100, "availability": availability, "p50_ms": p95 / 2, "p95_ms": p95,
            "p99_ms": p95 * 2, "quorum_rate": availability, "wrong_answers": wrong}


def _period(p95: float, rss: float, sockets: int) -> dict:
    return {**_row(p95), "resources": {"voter": {"rss_mib": rss, "sockets": sockets}}}


def test_the_soak_verdict_sees_growth_in_latency_memory_and_sockets() -> None:
    assert verdict(_period(10, 60, 20), _period(14, 62, 25))["holds"]
    assert not verdict(_period(10, 60, 20), _period(40, 60, 20))["latency_ok"]
    grew = verdict(_period(10, 60, 20), _period(10, 90, 45))["grew"]
    assert grew == ["voter memory 60→90 MiB", "voter sockets 20→45"]


def test_the_soak_verdict_judges_private_memory_not_shared_pages_counted_per_process() -> None:
    def period(rss: float, private: float) -> dict:
        return {**_row(10), "resources": {"postgres": {"rss_mib": rss, "private_mib": private,
                                                       "sockets": 9}}}

    # more backends touching the same shared buffers: summed RSS doubles, nothing leaks
    assert verdict(period(938, 120), period(1958, 125))["holds"]
    assert verdict(period(938, 120), period(960, 300))["grew"] == ["postgres memory 120→300 MiB"]


def test_the_sampler_reads_private_memory_below_resident_memory() -> None:
    import os

    from bench.sampler import _proc

    cpu_s, rss, private, sockets = _proc(os.getpid())
    assert 0 < private < rss and cpu_s > 0 and sockets >= 0


def test_the_soak_verdict_sees_a_process_spend_more_cpu_at_the_same_load() -> None:
    def period(cpu: float) -> dict:
        return {**_row(10), "resources": {"kafka": {"rss_mib": 30, "sockets": 9,
                                                    "cpu_pct": cpu}}}

    assert verdict(period(14), period(20))["holds"]  # noise: within 1.5x
    assert verdict(period(4), period(12))["holds"]  # within 10 points of a core
    result = verdict(period(14), period(48))
    assert not result["holds"] and result["grew"] == ["kafka CPU 14→48 % of a core"]


def test_the_slow_replica_rows_judge_availability_wrong_answers_and_the_p95_ratio() -> None:
    def run(ratio: float, availability: float) -> dict:
        costs = {"voter_in_flight_peak": {"2": 3}}
        return {"rate": 150.0, "baseline": _row(10.0), "fault": _row(10.0 * ratio, availability),
                "p95_ratio": ratio, "costs": {"baseline": costs, "fault": costs},
                "loadavg": [1.0, 1.0, 1.0]}

    slow = {"params": {"replica": "2", "latency_ms": 800.0},
            "rows": [run(1.2, 1.0), run(1.6, 1.0), run(1.2, 0.99)]}
    rows = table.rows({"slow": slow})
    assert [r[-1] for r in rows] == ["yes", "**no**", "**no**"]
    assert all(len(r) == 5 for r in rows)


def test_the_nightly_rows_show_every_phase_and_the_verdict() -> None:
    metrics = {"availability": 0.9995, "latency_p95_ms": 12.0, "quorum_rate": 1.0,
               "wrong_answers": 0}
    nightly = {"phase_metrics": {"baseline": metrics, "latency": {**metrics,
                                                                  "availability": 0.93}},
               "status": "completed", "exit_code": 0, "loadavg_before": [1.0],
               "loadavg_after": [2.0]}
    rows = table.rows({"nightly": nightly})
    assert [r[0].split(":")[0] for r in rows] == ["nightly baseline", "nightly latency",
                                                 "nightly runbook verdict"]
    assert [r[-1] for r in rows] == ["yes", "**no**", "yes"]


def test_window_costs_take_the_peaks_inside_the_window_only() -> None:
    def sample(t: float, in_flight: int) -> dict:
        return {"t": t, "processes": {"voter": {"cpu_pct": 10.0 * t}},
                "voter": {"in_flight": {"2": in_flight}, "loop_lag": {"recent_p99_ms": t}},
                "replica_event_lag": {"1": int(t)}}

    costs = window_costs([sample(1, 5), sample(2, 9), sample(3, 50)], 1, 2)
    assert costs["voter_in_flight_peak"] == {"2": 9}
    assert costs["cpu_pct"] == {"voter": 15.0} and costs["samples"] == 2
    assert costs["replica_event_lag_peak"] == {"1": 2}
