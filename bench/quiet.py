"""Detection with no client traffic, and false positives (``--only quiet``).

The original system's experiment runner injects a fault and then only polls the monitor:
no load until the fault is detected. So this step sends **no load at all** while it
measures. One trial: wait until systems/inventory.yaml's steady state holds (every replica
healthy and ON, reads reach a majority) → inject one of its faults into one replica
(rotating 1, 2, 3) through the system driver → read the detector (the monitor's
transitions) every 20 ms until the replica is OFF (at most ``give_up_s``) → roll back the
way the flow does (crash: restart, else clear) → wait until it is ON. TTD comes from the
monitor's own transitions through :func:`gameday.metrics.ttd`, like every other TTD in
this project.

Faults: crash; latency 500 ms; intermittent at probability 0.3 (the issue's hardest
case); incorrect_response on PROD-002.

False positives: a quiet run (no fault, no load) for ``quiet_s``, then the standard
runbook's load for ``load_s`` (writes keep replicas one event apart); every OFF transition
in either counts as a false positive.
"""

from __future__ import annotations

import time
from typing import Any

from bench.common import SystemUnderTest, loadavg, percentiles
from gameday import metrics
from gameday.runbook import LoadSpec

__all__ = ["FAULTS", "run", "false_positives"]

FAULTS: dict[str, dict[str, Any]] = {
    "crash": {},
    "latency": {"latency_ms": 500},
    "intermittent": {"probability": 0.3},
    "incorrect_response": {"product_id": "PROD-002"},
}


def _wait_off(sut: SystemUnderTest, replica: str, since_s: float, give_up_s: float) -> bool:
    label = sut.label(replica)
    deadline = time.monotonic() + give_up_s
    while time.monotonic() < deadline:
        try:
            if any(t["instance_id"] == label and t["status"] == "OFF"
                   for t in sut.transitions(since_s)):
                return True
        except Exception:  # noqa: BLE001 - the monitor is busy: poll again
            pass
        time.sleep(0.02)
    return False


def trial(sut: SystemUnderTest, ftype: str, replica: str, *, give_up_s: float
          ) -> dict[str, Any]:
    sut.wait_steady(timeout_s=60)
    fault = sut.fault(ftype, replica, **FAULTS[ftype])
    injected, _ = sut.driver.inject(fault, ttl_s=30.0)
    _wait_off(sut, replica, injected, give_up_s)
    sut.driver.roll_back(fault, "restart" if ftype == "crash" else "clear", timeout_s=60)
    sut.driver.wait_recovered(fault, timeout_s=60)
    trans = metrics.transitions_frame(sut.transitions(injected - 1))
    label = sut.label(replica)
    ttd = metrics.ttd(trans, label, injected)
    others = trans[(trans["status"] == "OFF") & (trans["instance_id"] != label)]
    return {"fault": ftype, "replica": replica, "injected_s": injected,
            "ttd_s": ttd if ttd is not None and ttd <= give_up_s else None,
            "other_replicas_off": len(others), "loadavg": loadavg()}


def run(sut: SystemUnderTest, *, n: int, give_up_s: float = 5.0,
        faults_to_run: tuple[str, ...] = tuple(FAULTS), progress: Any = print) -> dict[str, Any]:
    """``n`` no-traffic trials per fault type. Returns a summary per fault and the trials."""
    trials: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    sut.driver.roll_back_all()
    replicas = sut.replicas
    try:
        for ftype in faults_to_run:
            for i in range(n):
                t = trial(sut, ftype, replicas[i % len(replicas)], give_up_s=give_up_s)
                trials.append(t)
                ttd = "—" if t["ttd_s"] is None else f"{t['ttd_s']:.3f}s"
                progress(f"  no traffic: {ftype} #{i + 1}/{n} on replica {t['replica']}: "
                         f"TTD {ttd} (load {t['loadavg'][0]})")
            mine = [t for t in trials if t["fault"] == ftype]
            ttds = [t["ttd_s"] for t in mine if t["ttd_s"] is not None]
            summary[ftype] = {"n": len(mine), "detected": len(ttds), "ttd": percentiles(ttds),
                              "params": FAULTS[ftype],
                              "other_replicas_off": sum(t["other_replicas_off"] for t in mine),
                              "loadavg": [min(t["loadavg"][0] for t in mine),
                                          max(t["loadavg"][0] for t in mine)]}
    finally:
        sut.driver.roll_back_all()
    return {"faults": summary, "trials": trials, "params": {"n": n, "give_up_s": give_up_s}}


def _offs(sut: SystemUnderTest, since: float) -> list[dict]:
    return [t for t in sut.transitions(since) if t["status"] == "OFF"]


def false_positives(sut: SystemUnderTest, spec: LoadSpec, *, quiet_s: float, load_s: float,
                    seed: int = 11, progress: Any = print) -> dict[str, Any]:
    """OFF transitions with every replica healthy: quiet for ``quiet_s``, then under load."""
    sut.wait_steady(timeout_s=60)
    start = time.time()
    time.sleep(quiet_s)
    quiet = _offs(sut, start)
    progress(f"  false positives, {quiet_s:g} s quiet: {len(quiet)} OFF (load {loadavg()[0]})")
    sut.wait_steady(timeout_s=60)
    load = sut.generator(spec, seed, judged=True)
    loaded_at = time.time()
    records = load.run_sync("false-positives", load_s)
    loaded = _offs(sut, loaded_at)
    df = metrics.requests_frame(records)
    progress(f"  false positives, {load_s:g} s at {spec.rate:g} req/s: {len(loaded)} OFF "
             f"(achieved {metrics.achieved_rate(df):.1f} req/s, load {loadavg()[0]})")
    return {"quiet_s": quiet_s, "quiet_off": quiet, "load_s": load_s, "rate": spec.rate,
            "achieved_rate": metrics.achieved_rate(df), "load_off": loaded,
            "loadavg_after": loadavg()}
