"""A slow replica under load: the nightly's latency phase, measured and explained.

At each rate: ``baseline_s`` of the standard 80/20 mix (Poisson arrivals, as the nightly
runbook), then ``fault_s`` with replica 2 answering ``latency_ms`` late, then the fault
cleared. For both windows: availability, p50/p95/p99 (from the intended send time, every
request), quorum rate, wrong answers, and the ratio fault p95 / baseline p95 (target
≤ 1.5×). Beside them, from :class:`bench.sampler.Sampler`: CPU per stack process, the
voter's requests in flight per replica, its event-loop lag, and how many replicas it
skipped because the monitor held them OFF — the measurements that found the cause
(BENCHMARKS.md, "The nightly's latency phase").
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from bench.common import SystemUnderTest, load_spec, loadavg
from bench.detection import masking_row
from bench.sampler import Sampler
from gameday import metrics

__all__ = ["run", "window_costs"]


def window_costs(samples: list[dict[str, Any]], start: float, end: float) -> dict[str, Any]:
    """Mean CPU % per process, the voter's peak in-flight per replica and loop lag, over
    the samples taken between ``start`` and ``end``."""
    window = [s for s in samples if start <= s["t"] <= end]
    cpu: dict[str, list[float]] = {}
    in_flight: dict[str, int] = {}
    lags = []
    event_lag: dict[str, int] = {}
    for s in window:
        for replica, n in (s.get("replica_event_lag") or {}).items():
            event_lag[replica] = max(event_lag.get(replica, 0), n or 0)
        for name, row in s["processes"].items():
            cpu.setdefault(name, []).append(row["cpu_pct"])
        for replica, n in (s["voter"].get("in_flight") or {}).items():
            in_flight[replica] = max(in_flight.get(replica, 0), n)
        lag = (s["voter"].get("loop_lag") or {}).get("recent_p99_ms")
        if lag is not None:
            lags.append(lag)
    return {
        "cpu_pct": {k: round(statistics.fmean(v), 1) for k, v in sorted(cpu.items())},
        "voter_in_flight_peak": in_flight,
        "voter_loop_lag_p99_ms_peak": max(lags) if lags else None,
        "replica_event_lag_peak": event_lag,
        "samples": len(window),
    }


def _voter(sut: SystemUnderTest) -> dict[str, Any]:
    import httpx

    return httpx.get(f"{sut.url('voter')}/voting-stats", timeout=2.0).json()["voting_stats"]


def run(sut: SystemUnderTest, stack_dir: Path, *, rates: tuple[float, ...] = (40.0, 150.0),
        baseline_s: float = 20.0, fault_s: float = 30.0, latency_ms: float = 800.0,
        replica: str = "2", seed: int = 7, progress: Any = print) -> dict[str, Any]:
    rows = []
    sampler = Sampler(stack_dir, sut.url("voter"), sut.replica_urls())
    slow = sut.fault("latency", replica, latency_ms=latency_ms)
    with sampler:
        for rate in rates:
            sut.driver.roll_back_all()
            sut.settle(timeout_s=60)
            spec = load_spec(rate, read=8, write=2, timeout_s=1.0, follow_up_after_s=2.0,
                             arrival="poisson")
            load = sut.generator(spec, seed, judged=True)
            before = _voter(sut)
            t0 = time.time()
            base = metrics.requests_frame(load.run_sync(f"baseline-{rate:g}", baseline_s))
            t1 = time.time()
            sut.driver.inject(slow, ttl_s=fault_s + 30)
            try:
                fault = metrics.requests_frame(load.run_sync(f"latency-{rate:g}", fault_s))
            finally:
                sut.driver.roll_back(slow, "clear", timeout_s=60)
            t2 = time.time()
            after = _voter(sut)
            b, f = masking_row(base), masking_row(fault)
            ratio = (f["p95_ms"] / b["p95_ms"]) if b["p95_ms"] and f["p95_ms"] else None
            row: dict[str, Any] = {
                "rate": rate, "baseline": b, "fault": f, "p95_ratio": ratio,
                "achieved_rate": {"baseline": metrics.achieved_rate(base, baseline_s),
                                  "fault": metrics.achieved_rate(fault, fault_s)},
                "costs": {"baseline": window_costs(sampler.samples, t0, t1),
                          "fault": window_costs(sampler.samples, t1, t2)},
                "voter": {k: (after.get(k) or 0) - (before.get(k) or 0)
                          for k in ("total_requests", "quorum_failed", "retries",
                                    "lag_retries")},
                "voter_skipped": after.get("skipped_by_instance"),
                "loadavg": loadavg(),
            }
            rows.append(row)
            progress(f"  {rate:g} req/s: baseline p95 {b['p95_ms']:.1f} ms · fault p95 "
                     f"{f['p95_ms']:.1f} ms ({ratio or 0:.2f}×) · fault availability "
                     f"{f['availability']:.4f} quorum {f['quorum_rate']:.4f} wrong "
                     f"{f['wrong_answers']} (load {row['loadavg'][0]})")
    return {"rows": rows, "samples": sampler.samples,
            "params": {"rates": rates, "baseline_s": baseline_s, "fault_s": fault_s,
                       "latency_ms": latency_ms, "replica": replica, "seed": seed}}
