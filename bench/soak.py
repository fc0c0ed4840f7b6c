"""Soak: a long run at the nightly's rate with a fault every period, looking for growth.

``duration_s`` (default 600) of the 80/20 mix at ``rate`` (default 150 req/s, Poisson);
every ``period_s`` (60) a fault goes into one replica for ``hold_s`` (20) and is cleared —
latency 800 ms, intermittent 0.5, incorrect_response, in turn, rotating over the replicas.
Per period: availability, p50/p95, quorum rate and wrong answers of the requests sent in
it, and every stack process's median private memory (resident minus shared pages, see
:mod:`bench.sampler`) and open sockets over it
(:class:`bench.sampler.Sampler`). The verdict compares the first period with the last:
no growth in latency (p95 within 1.5× or 20 ms), memory (within 10 % or 20 MiB a process),
open connections (within 10 sockets a process) or CPU (within 1.5× or 10 points of a core
a process).
"""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import SystemUnderTest, load_spec, loadavg
from bench.detection import masking_row
from bench.sampler import Sampler
from gameday import metrics
from gameday.records import RequestRecord

__all__ = ["run", "verdict"]

#: systems/inventory.yaml's faults, in turn, with their parameters.
FAULTS: tuple[dict[str, Any], ...] = (
    {"type": "latency", "params": {"latency_ms": 800}},
    {"type": "intermittent", "params": {"probability": 0.5}},
    {"type": "incorrect_response", "params": {"product_id": "PROD-002"}},
)


def _resources(samples: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each process's median CPU (% of a core), memory and open sockets over ``samples``
    (one period): a single sample would catch a burst, not a leak."""
    out: dict[str, dict[str, float]] = {}
    for name in {n for s in samples for n in s["processes"]}:
        rows = [s["processes"][name] for s in samples if name in s["processes"]]
        out[name] = {"rss_mib": round(statistics.median(r["rss_mib"] for r in rows), 1),
                     "private_mib": round(statistics.median(r["private_mib"] for r in rows), 1),
                     "sockets": statistics.median(r["sockets"] for r in rows),
                     "cpu_pct": round(statistics.median(r.get("cpu_pct", 0.0) for r in rows), 1)}
    return out


def memory_key(a: dict[str, Any], b: dict[str, Any]) -> str:
    """Which memory two samples of a process are compared on: private (bench.sampler;
    summed RSS counts pages shared by its forks once per process), else RSS."""
    return "private_mib" if "private_mib" in a and "private_mib" in b else "rss_mib"


def verdict(first: dict[str, Any], last: dict[str, Any]) -> dict[str, Any]:
    """Growth from the first period to the last: latency, and per process memory, sockets
    and CPU at the same load (more than 1.5× and 10 points of a core: the local broker's
    cost grows with its log, bench/broker.py)."""
    p95_a, p95_b = first["p95_ms"] or 0.0, last["p95_ms"] or 0.0
    latency_ok = p95_b <= max(1.5 * p95_a, p95_a + 20.0)
    grew: list[str] = []
    for name, a in first["resources"].items():
        b = last["resources"].get(name)
        if b is None:
            continue
        mem = memory_key(a, b)
        if b[mem] > max(a[mem] * 1.10, a[mem] + 20.0):
            grew.append(f"{name} memory {a[mem]}→{b[mem]} MiB")
        if b["sockets"] > a["sockets"] + 10:
            grew.append(f"{name} sockets {a['sockets']}→{b['sockets']}")
        cpu_a, cpu_b = a.get("cpu_pct"), b.get("cpu_pct")
        if cpu_a is not None and cpu_b is not None and cpu_b > max(1.5 * cpu_a, cpu_a + 10):
            grew.append(f"{name} CPU {cpu_a:g}→{cpu_b:g} % of a core")
    return {"latency_ok": latency_ok, "grew": grew, "holds": latency_ok and not grew}


def run(sut: SystemUnderTest, stack_dir: Path, *, rate: float = 150.0,
        duration_s: float = 600.0, period_s: float = 60.0, hold_s: float = 20.0,
        seed: int = 7, progress: Any = print) -> dict[str, Any]:
    sut.wait_steady(timeout_s=60)
    spec = load_spec(rate, read=8, write=2, timeout_s=1.0, follow_up_after_s=2.0,
                     arrival="poisson")
    load = sut.generator(spec, seed, judged=True)
    records: list[RequestRecord] = []
    sampler = Sampler(stack_dir, sut.url("voter"), sut.replica_urls(), interval_s=2.0)
    periods: list[dict[str, Any]] = []
    replicas = sut.replicas
    with sampler:
        sut.driver.roll_back_all()
        thread = threading.Thread(
            target=lambda: records.extend(load.run_sync("soak", duration_s)), daemon=True)
        t0 = time.time()
        thread.start()
        n = int(duration_s // period_s)
        for k in range(n):
            start = t0 + k * period_s
            fault = FAULTS[k % len(FAULTS)]
            replica = replicas[k % len(replicas)]
            time.sleep(max(0.0, start + 5.0 - time.time()))
            held = sut.fault(fault["type"], replica, **fault["params"])
            sut.driver.inject(held, ttl_s=hold_s * 3)
            time.sleep(max(0.0, start + 5.0 + hold_s - time.time()))
            sut.driver.roll_back(held, "clear", timeout_s=60)
            time.sleep(max(0.0, start + period_s - time.time()))
            periods.append({"period": k, "start": start, "fault": fault["type"],
                            "replica": replica, "resources": _resources(
                                [x for x in sampler.samples if x["t"] >= start]),
                            "loadavg": loadavg()})
            progress(f"  soak period {k + 1}/{n}: {fault['type']} on replica {replica} "
                     f"(load {loadavg()[0]})")
        # The generator never skips: on a starved machine it sends late and ends late.
        thread.join(timeout=duration_s + 120)
        if thread.is_alive():
            load.stop()
            thread.join(timeout=60)
    df = metrics.requests_frame(records)
    for p in periods:
        win = df[(df["intended_s"] >= p["start"]) & (df["intended_s"] < p["start"] + period_s)]
        p.update(masking_row(win))
        p["achieved_rate"] = metrics.achieved_rate(win, period_s)
    result = {"periods": periods, "achieved_rate": metrics.achieved_rate(df, duration_s),
              "verdict": verdict(periods[0], periods[-1]) if len(periods) > 1 else None,
              "overall": masking_row(df), "samples": sampler.samples,
              "params": {"rate": rate, "duration_s": duration_s, "period_s": period_s,
                         "hold_s": hold_s, "seed": seed}}
    return result
