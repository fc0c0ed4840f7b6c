"""Measurement check: our load generator against an independent tool at the same rate.

``hey -q R/c -c c`` paces each of its ``c`` workers to ``R/c`` requests/s, but every
worker waits for its answer before the next send (closed loop) and times a request from
its *actual* send. Our generator sends on a fixed schedule whatever the answers (open
loop) and times from the *intended* send. Below capacity the two must agree; above it hey
under-reports (coordinated omission) while ours shows the queue. ``wrk`` (Debian's wrk
4, not wrk2: no ``-R`` constant rate) is closed loop at full speed: it gives the
endpoint's saturated throughput, and its latency is the latency *at* that throughput.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from typing import Any

from bench.common import SystemUnderTest, load_spec, loadavg, percentiles
from gameday import metrics

__all__ = ["TOLERANCE", "run"]

#: Percentiles agree when within 50 % of each other or 5 ms, whichever is larger: two
#: clients in two processes on a shared 2-core machine, each with its own wake-up and
#: connection-reuse costs (hey at 50/s reads p50 4.3 ms with 1 worker, 8.4 ms with 5).
TOLERANCE = {"relative": 0.5, "absolute_ms": 5.0}
_QS = (0.5, 0.95, 0.99)


def _ours(sut: SystemUnderTest, product: str, rate: float, duration_s: float
          ) -> dict[str, Any]:
    """The system file's ``read`` request alone, on ``product`` only: the endpoint hey
    and wrk are given."""
    spec = load_spec(rate, read=1, write=0, products=[product], timeout_s=2.0)
    df = metrics.requests_frame(sut.generator(spec, 5).run_sync("xcheck", duration_s))
    lat = metrics.latency_percentiles(df)
    return {"tool": "gameday SystemLoadGenerator (open loop)", "requests": len(df),
            "achieved_rate": metrics.achieved_rate(df, duration_s),
            "ok": metrics.availability(df), "p50_ms": lat["p50"], "p95_ms": lat["p95"],
            "p99_ms": lat["p99"]}


def _hey(url: str, rate: float, duration_s: float, workers: int) -> dict[str, Any]:
    cmd = ["hey", "-z", f"{duration_s:g}s", "-c", str(workers), "-q", f"{rate / workers:g}",
           "-o", "csv", url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 60).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    lat = [float(r["response-time"]) * 1000 for r in rows]
    ok = sum(1 for r in rows if r.get("status-code") == "200")
    p = percentiles(lat, _QS)
    return {"tool": f"hey -c {workers} -q {rate / workers:g} (closed loop per worker)",
            "requests": len(rows), "achieved_rate": len(rows) / duration_s,
            "ok": ok / len(rows) if rows else None,
            "p50_ms": p["median"], "p95_ms": p["p95"], "p99_ms": p["p99"], "command": cmd}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return float("nan")
    return float(m[1]) * {"us": 1e-3, "ms": 1.0, "s": 1000.0}[m[2]]


def _wrk(url: str, duration_s: float, connections: int) -> dict[str, Any]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration_s:g}s", "--latency", url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 60).stdout
    dist = dict(re.findall(r"^\s+(\d+)%\s+(\S+)", out, re.M))
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return {"tool": f"wrk -t1 -c{connections} (closed loop, full speed)",
            "achieved_rate": float(rps[1]) if rps else None,
            "p50_ms": _ms(dist.get("50", "")), "p99_ms": _ms(dist.get("99", "")),
            "p95_ms": None, "command": cmd, "raw": out}


def agree(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return False
    return abs(a - b) <= max(TOLERANCE["absolute_ms"], TOLERANCE["relative"] * max(a, b))


def run(sut: SystemUnderTest, *, rate: float = 50.0, duration_s: float = 15.0, workers: int = 1,
        overload_rate: float | None = None, progress: Any = print) -> dict[str, Any]:
    """Same endpoint, same rate, two tools; plus wrk's saturated figure.

    ``workers`` defaults to 1: hey's own figure grows with its worker count at the same
    rate (at 50 req/s on this machine p50 4.3 ms with 1 worker, 8.4 ms with 5, 26.6 ms
    with 16: each idle worker's wake-up is part of what it measures), and one closed-loop
    worker easily keeps 50 req/s of ~5 ms answers. wrk runs with 16 connections to find
    the saturated throughput.
    """
    missing = [t for t in ("hey", "wrk") if shutil.which(t) is None]
    if missing:
        return {"skipped": f"{' and '.join(missing)} not installed: sudo apt-get install -y "
                           + " ".join(missing)}
    product = "PROD-001"
    url = sut.request_url("read", product=product)
    out: dict[str, Any] = {"endpoint": url, "rate": rate, "duration_s": duration_s,
                           "tolerance": TOLERANCE, "runs": []}
    for r in [rate] + ([overload_rate] if overload_rate else []):
        la = loadavg()
        ours = _ours(sut, product, r, duration_s)
        theirs = _hey(url, r, duration_s, workers)
        # p50 and p95 are judged; p99 of ~750 samples rests on its 8 largest values, which
        # one hiccup of another process on a shared 2-core machine decides: reported only.
        verdict = {f"p{int(q * 100)}": agree(ours[f"p{int(q * 100)}_ms"],
                                             theirs[f"p{int(q * 100)}_ms"]) for q in _QS[:2]}
        out["runs"].append({"rate": r, "ours": ours, "hey": theirs, "agree": verdict,
                            "loadavg": la})
        progress(f"  {r:g}/s ours p50/p95/p99 {ours['p50_ms']:.1f}/{ours['p95_ms']:.1f}/"
                 f"{ours['p99_ms']:.1f} ms · hey {theirs['p50_ms']:.1f}/{theirs['p95_ms']:.1f}/"
                 f"{theirs['p99_ms']:.1f} ms · agree {verdict}")
    out["wrk"] = _wrk(url, min(duration_s, 10.0), 16)
    out["wrk"]["loadavg"] = loadavg()
    progress(f"  wrk closed loop: {out['wrk']['achieved_rate']} req/s, p50 "
             f"{out['wrk']['p50_ms']:.1f} ms, p99 {out['wrk']['p99_ms']:.1f} ms")
    return out
