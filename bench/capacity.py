"""Capacity: the highest open-loop rate a path sustains.

For each path (voter reads; orders writes, each cancelled later; the standard 80/20 mix:
systems/inventory.yaml's ``read`` and ``write`` requests at those weights, sent by
:class:`gameday.systems.load.SystemLoadGenerator`) the rate climbs a ladder; a step
*holds* when the achieved send rate
(:func:`gameday.metrics.achieved_rate`) is within 2 % of the target, availability is at
least 99.9 % and p99 (every request, failures at their elapsed time, from the intended
send time) is at most ``p99_bound_ms``. The path's capacity is the last step that held
before the first that did not. The load generator runs on the same 2 cores as the stack:
its own cost is part of the figure, as it is in a GameDay.
"""

from __future__ import annotations

from typing import Any

from bench.common import SystemUnderTest, load_spec, loadavg
from gameday import metrics

__all__ = ["PATHS", "DEFAULT_LADDER", "settle", "step", "run"]

#: path → (read, write) weights of the system file's requests (voter reads only; order
#: writes + their cancels; the 80/20 mix).
PATHS = {"voter": (1, 0), "orders": (0, 1), "mix": (8, 2)}
DEFAULT_LADDER = (50, 100, 150, 200, 250, 300, 400)
RATE_TOLERANCE = 0.02
AVAILABILITY_FLOOR = 0.999


def step(sut: SystemUnderTest, path: str, rate: float, duration_s: float,
         p99_bound_ms: float, *, seed: int = 11) -> dict[str, Any]:
    """One rung: ``rate`` req/s on ``path`` for ``duration_s``; its figures and verdict."""
    read, write = PATHS[path]
    spec = load_spec(rate, read=read, write=write, timeout_s=1.0, follow_up_after_s=1.0)
    before = loadavg()
    recs = sut.generator(spec, seed).run_sync(f"{path}-{rate:g}", duration_s)
    df = metrics.requests_frame(recs)
    achieved = metrics.achieved_rate(df, duration_s) or 0.0
    lat = metrics.latency_percentiles(df)
    av = metrics.availability(df) or 0.0
    lag = df["send_lag_s"].quantile(0.99) * 1000 if len(df) else None
    holds = (abs(achieved - rate) <= RATE_TOLERANCE * rate and av >= AVAILABILITY_FLOOR
             and lat["p99"] is not None and lat["p99"] <= p99_bound_ms)
    return {"path": path, "rate": rate, "achieved_rate": achieved, "availability": av,
            "p50_ms": lat["p50"], "p95_ms": lat["p95"], "p99_ms": lat["p99"],
            "send_lag_p99_ms": lag, "requests": len(df), "holds": bool(holds),
            "loadavg_before": before, "loadavg_after": loadavg()}


def settle(sut: SystemUnderTest) -> float:
    """Wait until the last rung's orders are all applied (the file's invariants: every
    replica equals the ledger) and its steady state holds (an overloaded rung leaves a
    backlog that would count against the next path)."""
    sut.settle(timeout_s=60)
    return loadavg()[0]


def run(sut: SystemUnderTest, *, paths: tuple[str, ...] = ("voter", "mix", "orders"),
        ladder: tuple[float, ...] = DEFAULT_LADDER, duration_s: float = 8.0,
        p99_bound_ms: float = 250.0, progress: Any = print) -> dict[str, Any]:
    """Climb ``ladder`` on each path until a rung fails; ``{path: {capacity, steps}}``."""
    out: dict[str, Any] = {"p99_bound_ms": p99_bound_ms, "duration_s": duration_s,
                           "rate_tolerance": RATE_TOLERANCE,
                           "availability_floor": AVAILABILITY_FLOOR, "paths": {}}
    for path in paths:
        steps, capacity = [], None
        for rate in ladder:
            settle(sut)
            s = step(sut, path, rate, duration_s, p99_bound_ms)
            steps.append(s)
            progress(f"  {path} @ {rate:g}/s: achieved {s['achieved_rate']:.1f}, p99 "
                     f"{s['p99_ms'] or 0:.0f} ms, availability {s['availability']:.4f}"
                     f" → {'holds' if s['holds'] else 'fails'} (load {s['loadavg_after'][0]})")
            if not s["holds"]:
                break
            capacity = rate
        out["paths"][path] = {"capacity_rps": capacity, "steps": steps}
    return out
