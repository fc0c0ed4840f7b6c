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

from bench.common import loadavg
from bench.detection import masking_row
from bench.sampler import Sampler
from gameday import metrics, probes
from gameday.faults import FaultClient
from gameday.load import LoadGenerator
from gameday.runbook import Fault, LoadSpec
from gameday.targets import StackUrls
from gameday.truth import Truth

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


def _voter(urls: StackUrls) -> dict[str, Any]:
    import httpx

    return httpx.get(f"{urls.voter}/voting-stats", timeout=2.0).json()["voting_stats"]


def run(urls: StackUrls, stack_dir: Path, *, rates: tuple[float, ...] = (40.0, 150.0),
        baseline_s: float = 20.0, fault_s: float = 30.0, latency_ms: float = 800.0,
        replica: str = "2", seed: int = 7, progress: Any = print) -> dict[str, Any]:
    rows = []
    sampler = Sampler(stack_dir, urls.voter, tuple(urls.inventory))
    with sampler, FaultClient(urls, default_ttl_s=120) as fc:
        for rate in rates:
            fc.clear_all()
            probes.consistency(urls, timeout_s=60)
            probes.wait_steady(urls, timeout_s=60)
            spec = LoadSpec(rate=rate, read_ratio=0.8, timeout_s=1.0, cancel_after_s=2.0,
                            arrival="poisson")
            load = LoadGenerator(urls, spec, seed, truth=Truth.from_ledger(probes.ledger(urls)))
            before = _voter(urls)
            t0 = time.time()
            base = metrics.requests_frame(load.run_sync(f"baseline-{rate:g}", baseline_s))
            t1 = time.time()
            fc.inject(replica, Fault(type="latency", replica=replica, latency_ms=latency_ms),
                      ttl_s=fault_s + 30)
            fault = metrics.requests_frame(load.run_sync(f"latency-{rate:g}", fault_s))
            t2 = time.time()
            fc.clear(replica)
            after = _voter(urls)
            b, f = masking_row(base), masking_row(fault)
            ratio = (f["p95_ms"] / b["p95_ms"]) if b["p95_ms"] and f["p95_ms"] else None
            row = {
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
