"""The load generator's own ceiling, against nginx serving a static answer (bench/nginx.py).

- **one process**: the generator GameDays send with (a system file's: one GET of nginx's
  static answer, its JSON body parsed and judged, bench/static_system.py) in one spawned
  process at each rate of a ladder; a rate *holds* when the
  achieved rate is within 2 % of the scheduled one and the send lag p99 is ≤ 5 ms
  (:func:`gameday.load_check.check_load`). The ceiling is the highest rate that held.
- **sharded**: the same schedule split over 2, 3, … processes
  (:func:`gameday.load_shards.run_sharded`) at a higher rate; holds within 2 %.
- **wrk side by side**: Debian's wrk 4 has no constant-rate mode, so it is paced by a Lua
  ``delay()`` (each of ``c`` connections waits ``d`` ms between requests: ≈ c/d kHz), run
  first; then the generator sends at the rate wrk achieved, on the same URL. Honest and
  not slower means p50 within 1 ms of wrk's either way and p99 at most 20 % above wrk's
  (:func:`agrees_with_wrk`). wrk times each request from its actual send, the generator
  from its intended send (so its figure also holds its own send lag): it cannot read
  short by leaving its own lateness out, so a p99 *below* wrk's is wrk's own cost per
  request (its Lua ``delay()`` pacing), not a generator that hides something, and is
  reported as measured.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench.common import loadavg
from bench.crosscheck import _ms
from bench.static_system import PATH, static_load
from gameday import metrics
from gameday.load_shards import run_sharded
from gameday.metrics import percentile

__all__ = ["CEILING_TARGET", "SHARDED_TARGET", "WRK_TARGET", "agrees_with_wrk", "run"]

#: One process: rate ≥ 2,000 req/s within 2 %, send lag p99 ≤ 5 ms.
CEILING_TARGET = {"rate": 2000.0, "tolerance": 0.02, "send_lag_p99_ms": 5.0}
#: Sharded across processes: ≥ 4,000 req/s within 2 %.
SHARDED_TARGET = {"rate": 4000.0, "tolerance": 0.02}
#: Side by side with wrk: p50 within 1 ms, p99 at most 20 % above wrk's.
WRK_TARGET = {"p50_abs_ms": 1.0, "p99_rel": 0.2}
#: Up to where one process on gameday.wire stops holding on this machine (8,000-10,000
#: held depending on its state, 12,000 never: BENCHMARKS.md).
DEFAULT_LADDER = (1000.0, 2000.0, 4000.0, 6000.0, 8000.0, 10000.0, 12000.0)


def _step(base: str, rate: float, duration_s: float, shards: int) -> dict[str, Any]:
    la = loadavg()
    with static_load(base) as (source, spec, seed):
        spec = spec.model_copy(update={"rate": rate})
        run = run_sharded(source, spec, seed, f"ceiling-{rate:g}-x{shards}", duration_s,
                          shards)
    df = metrics.requests_frame(run.records)
    lat = metrics.latency_percentiles(df)
    check = run.check
    return {"rate": rate, "shards": shards, "requests": len(df),
            "ok": metrics.availability(df),
            "achieved_rate": check.achieved_rate if check else None,
            "scheduled_rate": check.scheduled_rate if check else None,
            "send_lag_p99_ms": check.send_lag_p99_ms if check else None,
            "p50_ms": lat["p50"], "p99_ms": lat["p99"], **_from_send(df),
            **_process_costs(run.per_shard), "per_shard": run.per_shard,
            "loadavg": la, "loadavg_after": loadavg()}


def _from_send(df: Any) -> dict[str, float | None]:
    """p50/p99 in ms from each request's actual send (latency less its send lag): what
    wrk measures; the judged figures run from the intended send."""
    sent = (df["latency_s"] - df["send_lag_s"].fillna(0.0)).to_numpy(dtype=float) * 1000.0
    return {"p50_from_send_ms": percentile(sent, 0.5), "p99_from_send_ms": percentile(sent, 0.99)}


def _process_costs(per_shard: list[dict[str, float]]) -> dict[str, float | None]:
    """What the generator process(es) spent, robust to a busy machine: CPU per request
    (the mean over shards) and full (gen-2) garbage collections during the run."""
    cpu = [s["cpu_ms_per_request"] for s in per_shard if "cpu_ms_per_request" in s]
    return {"cpu_ms_per_request": round(sum(cpu) / len(cpu), 3) if cpu else None,
            "gc_full": sum(s.get("gc_full", 0.0) for s in per_shard),
            "gc_full_max_ms": max((s.get("gc_full_max_ms", 0.0) for s in per_shard), default=0.0),
            "gc_young_max_ms": max((s.get("gc_young_max_ms", 0.0) for s in per_shard),
                                   default=0.0)}


def _costs(step: dict[str, Any]) -> str:
    return (f"CPU {step['cpu_ms_per_request']} ms/request, full GCs {step['gc_full']:g} "
            f"(longest {step['gc_full_max_ms']} ms CPU), longest young GC "
            f"{step['gc_young_max_ms']} ms CPU")


def _one_process(base: str, rate: float, duration_s: float) -> dict[str, Any]:
    """One process at ``rate``; ``holds`` as :data:`CEILING_TARGET` judges it."""
    step = _step(base, rate, duration_s, 1)
    step["holds"] = (_within(step, CEILING_TARGET["tolerance"])
                     and (step["send_lag_p99_ms"] or 0) <= CEILING_TARGET["send_lag_p99_ms"])
    return step


def _within(step: dict[str, Any], tolerance: float) -> bool:
    a, s = step["achieved_rate"], step["scheduled_rate"]
    return bool(a and s and abs(a / s - 1.0) <= tolerance and step["ok"] == 1.0)


def agrees_with_wrk(ours: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """Whether the generator's p50/p99 (from its intended send) meet :data:`WRK_TARGET`
    beside wrk's at the same rate: p50 within 1 ms either way, p99 at most 20 % above."""
    return bool(
        abs(ours["p50_ms"] - theirs["p50_ms"]) <= WRK_TARGET["p50_abs_ms"]
        and ours["p99_ms"] <= (1.0 + WRK_TARGET["p99_rel"]) * theirs["p99_ms"])


def _wrk_paced(url: str, connections: int, delay_ms: float, duration_s: float
               ) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gameday-bench-wrk-") as tmp:
        script = Path(tmp) / "paced.lua"
        script.write_text(f"function delay()\n  return {delay_ms:g}\nend\n")
        cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration_s:g}s", "--latency",
               "-s", str(script), url]
        out = subprocess.run(cmd, capture_output=True, text=True,
                             timeout=duration_s + 60).stdout
    dist = dict(re.findall(r"^\s+(\d+)%\s+(\S+)", out, re.M))
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return {"tool": f"wrk -t1 -c{connections}, delay() {delay_ms:g} ms (paced closed loop)",
            "achieved_rate": float(rps[1]) if rps else None,
            "p50_ms": _ms(dist.get("50", "")), "p99_ms": _ms(dist.get("99", "")),
            "command": cmd, "raw": out}


def run(base: str, *, ladder: tuple[float, ...] = DEFAULT_LADDER, duration_s: float = 10.0,
        sharded_rate: float = 4000.0, shard_counts: tuple[int, ...] = (2, 3),
        wrk_connections: int = 10, wrk_delay_ms: float = 10.0,
        progress: Any = print) -> dict[str, Any]:
    """Every figure of the module docstring against the nginx at ``base``."""
    out: dict[str, Any] = {"endpoint": f"{base}{PATH}", "duration_s": duration_s,
                           "ceiling_target": CEILING_TARGET, "sharded_target": SHARDED_TARGET,
                           "wrk_target": WRK_TARGET, "one_process": [], "sharded": []}
    for rate in ladder:
        step = _one_process(base, rate, duration_s)
        out["one_process"].append(step)
        progress(f"  1 process @ {rate:g}/s: achieved {step['achieved_rate']}, send lag p99 "
                 f"{step['send_lag_p99_ms']} ms, p50/p99 {step['p50_ms']:.2f}/"
                 f"{step['p99_ms']:.2f} ms, holds {step['holds']}; {_costs(step)} "
                 f"(load {step['loadavg'][0]})")
    held = [s["rate"] for s in out["one_process"] if s["holds"]]
    out["ceiling_rps"] = max(held) if held else None
    for shards in shard_counts:
        step = _step(base, sharded_rate, duration_s, shards)
        step["holds"] = _within(step, SHARDED_TARGET["tolerance"])
        out["sharded"].append(step)
        progress(f"  {shards} processes @ {sharded_rate:g}/s: achieved "
                 f"{step['achieved_rate']}, send lag p99 {step['send_lag_p99_ms']} ms, "
                 f"holds {step['holds']}; {_costs(step)} (load {step['loadavg'][0]})")
    if shutil.which("wrk") is None:
        out["wrk"] = {"skipped": "wrk not installed: apt-get install -y wrk"}
        return out
    la = loadavg()
    theirs = _wrk_paced(out["endpoint"], wrk_connections, wrk_delay_ms, duration_s)
    rate = round(theirs["achieved_rate"] or 0.0)
    ours = _one_process(base, rate, duration_s) if rate else {}
    agree = bool(ours) and agrees_with_wrk(ours, theirs)
    out["wrk"] = {"rate": rate, "wrk": theirs, "ours": ours, "agree": agree, "loadavg": la}
    if ours:
        progress(f"  vs wrk, one after the other on {out['endpoint']}: {theirs['tool']} "
                 f"(load {la[0]}) achieved {theirs['achieved_rate']} req/s; then the generator "
                 f"open loop at that rate, {rate}/s, 1 process (load {ours['loadavg'][0]})")
        progress(f"  @ {rate}/s p50/p99: ours {ours['p50_ms']:.2f}/{ours['p99_ms']:.2f} ms "
                 f"from the intended send (judged), {ours['p50_from_send_ms']:.2f}/"
                 f"{ours['p99_from_send_ms']:.2f} ms from the actual send (as wrk times); "
                 f"wrk {theirs['p50_ms']:.2f}/{theirs['p99_ms']:.2f} ms · agree {agree}; "
                 f"ours: achieved {ours['achieved_rate']}, send lag p99 "
                 f"{ours['send_lag_p99_ms']} ms, holds the rate {ours['holds']}; {_costs(ours)}")
    return out
