"""Detection, recovery and masking: each fault type N times into one replica under load.

One trial: load runs (the standard runbook's load of systems/inventory.yaml, open loop)
→ after ``pre_s`` the file's fault is injected into one replica (rotating 1, 2, 3) by the
system driver → held ``hold_s`` → rolled back the way the flow does it (crash: restart,
else clear) → wait until the detector (the monitor) has the replica ON → load stops.
TTD/TTR come from the monitor's own transitions through
:func:`gameday.metrics.ttd`/``ttr``; masking figures come from the client requests whose
intended send time lies between injection and the replica being ON again (fault *and*
recovery), through :func:`gameday.metrics.availability` & co.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pandas as pd

from bench.common import SystemUnderTest, loadavg, percentiles
from gameday import metrics
from gameday.records import RequestRecord
from gameday.runbook import LoadSpec
from gameday.systems.load import SystemLoadGenerator

__all__ = ["FAULTS", "FLOOR_S", "run", "masking_row"]

FAULTS = ("crash", "latency", "intermittent", "incorrect_response")
#: The monitor's detection floor: check interval (0.2 s) × failures to OFF (3).
FLOOR_S = 0.2 * 3
#: ... and its recovery floor: check interval × successes to ON (5).
RECOVERY_FLOOR_S = 0.2 * 5
_PARAMS: dict[str, dict[str, Any]] = {
    "latency": {"latency_ms": 500}, "intermittent": {"probability": 0.5},
    "incorrect_response": {"product_id": "PROD-001"},
}


def _load_thread(load: SystemLoadGenerator, label: str, out: list[RequestRecord]
                 ) -> threading.Thread:
    def body() -> None:
        out.extend(load.run_sync(label, 3600.0))

    t = threading.Thread(target=body, name=f"load-{label}", daemon=True)
    t.start()
    return t


def trial(sut: SystemUnderTest, load: SystemLoadGenerator, ftype: str, replica: str,
          label: str, *, pre_s: float, hold_s: float
          ) -> tuple[dict[str, Any], list[RequestRecord]]:
    """One injection; returns its figures and the load's records."""
    sut.wait_steady(timeout_s=60)
    records: list[RequestRecord] = []
    th = _load_thread(load, label, records)
    time.sleep(pre_s)
    fault = sut.fault(ftype, replica, **_PARAMS.get(ftype, {}))
    injected, _ = sut.driver.inject(fault, ttl_s=max(30.0, hold_s * 4))
    time.sleep(max(0.0, injected + hold_s - time.time()))
    rolled_back = time.time()
    sut.driver.roll_back(fault, "restart" if ftype == "crash" else "clear", timeout_s=60)
    on_seen = sut.driver.wait_recovered(fault, timeout_s=60)
    time.sleep(0.3)
    load.stop()
    th.join(timeout=30)
    member = sut.label(replica)
    trans = metrics.transitions_frame(sut.transitions(injected - 1))
    ttd = metrics.ttd(trans, member, injected)
    ttr = metrics.ttr(trans, member, rolled_back, injected)
    on_at = rolled_back + ttr if ttr is not None else on_seen
    detected_in_hold = ttd is not None and ttd <= hold_s
    return {
        "fault": ftype, "replica": replica, "label": label, "injected_s": injected,
        "rolled_back_s": rolled_back, "on_s": on_at, "ttd_s": ttd if detected_in_hold else None,
        "ttd_any_s": ttd, "ttr_s": ttr, "loadavg": loadavg(),
    }, records


def masking_row(df: pd.DataFrame) -> dict[str, Any]:
    """Availability, p50/p95/p99, quorum rate, wrong answers of ``df`` (one window)."""
    lat = metrics.latency_percentiles(df)
    return {"requests": len(df), "availability": metrics.availability(df),
            "p50_ms": lat["p50"], "p95_ms": lat["p95"], "p99_ms": lat["p99"],
            "quorum_rate": metrics.quorum_rate(df), "wrong_answers": metrics.wrong_answers(df)}


def run(sut: SystemUnderTest, spec: LoadSpec, *, n: int, seed: int = 7,
        pre_s: float = 1.0, hold_s: float = 4.0, baseline_s: float = 10.0,
        faults_to_run: tuple[str, ...] = FAULTS, progress: Any = print) -> dict[str, Any]:
    """Baseline, then ``n`` trials per fault type. Returns summary, trials and requests."""
    sut.wait_steady(timeout_s=60)
    load = sut.generator(spec, seed, judged=True)
    all_records: list[RequestRecord] = []
    base_records = load.run_sync("baseline", baseline_s)
    all_records += base_records
    base_df = metrics.requests_frame(base_records)
    baseline = masking_row(base_df) | {"loadavg": loadavg(), "rate": spec.rate,
                                       "achieved_rate": metrics.achieved_rate(base_df)}
    progress(f"  baseline: p95 {baseline['p95_ms']:.1f} ms, availability "
             f"{baseline['availability']:.4f}")
    trials: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    sut.driver.roll_back_all()
    replicas = sut.replicas
    try:
        for ftype in faults_to_run:
            windows = []
            for i in range(n):
                replica = replicas[i % len(replicas)]
                t, recs = trial(sut, load, ftype, replica, f"{ftype}-{i}",
                                pre_s=pre_s, hold_s=hold_s)
                all_records += recs
                df = metrics.requests_frame(recs)
                win = df[(df["intended_s"] >= t["injected_s"]) & (df["intended_s"] <= t["on_s"])]
                t["masking"] = masking_row(win)
                windows.append(win)
                trials.append(t)
                progress(f"  {ftype} #{i + 1}/{n} on replica {replica}: TTD {_s(t['ttd_s'])}"
                         f" TTR {_s(t['ttr_s'])} availability "
                         f"{t['masking']['availability'] or 0:.4f} (load {t['loadavg'][0]})")
            mine = [t for t in trials if t["fault"] == ftype]
            ttds = [t["ttd_s"] for t in mine if t["ttd_s"] is not None]
            ttrs = [t["ttr_s"] for t in mine if t["ttr_s"] is not None]
            summary[ftype] = {
                "n": len(mine), "detected": len(ttds), "ttd": percentiles(ttds),
                "ttr": percentiles(ttrs), "floor_s": FLOOR_S,
                "recovery_floor_s": RECOVERY_FLOOR_S,
                "masking": masking_row(pd.concat(windows, ignore_index=True)),
            }
    finally:
        sut.driver.roll_back_all()
    return {"baseline": baseline, "faults": summary, "trials": trials,
            "params": {"n": n, "pre_s": pre_s, "hold_s": hold_s, "baseline_s": baseline_s,
                       "load": spec.model_dump(mode="json", exclude_unset=True), "seed": seed},
            "records": all_records}


def _s(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}s"
