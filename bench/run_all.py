"""``python -m bench``: run the benchmarks, print one table, keep the raw figures.

Raw figures go to ``bench/results/<UTC stamp>/`` (git-ignored): one JSON per benchmark,
``requests.csv`` of the detection runs, ``table.md``; ``bench/results/latest`` points at
the newest. The stack under test, systems/inventory.yaml (``gameday system up``; faults,
probes and load through its system driver), runs at ``--base-port`` (default 7600); the
GameDay overhead run starts its own at ``--gameday-port`` (default 7700). Both are stopped at the
end, whatever happens. ``--target compose`` measures the same on the compose stack (the
images of `make images`), plus what compose costs first (``setup``: images, up, down).
``loadgen`` measures the load generator itself against an nginx of its own (no stack).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench import (
    broker,
    capacity,
    clients,
    compose_setup,
    crosscheck,
    detection,
    loadgen,
    overhead,
    quiet,
    slow_replica,
    soak,
    table,
)
from bench.common import RESULTS, loadavg, machine, stack, standard_spec, write_json
from bench.nginx import nginx

__all__ = ["main"]

SECTIONS = ("setup", "detection", "quiet", "capacity", "crosscheck", "slow", "soak", "broker",
            "overhead", "nightly", "loadgen")
#: Not in a plain `make bench` (each takes 6-10 min): ask for them with --only.
LONG = ("soak", "nightly")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("-n", "--injections", type=int, default=10,
                   help="injections per fault type (default 10)")
    p.add_argument("--only", nargs="+", choices=SECTIONS,
                   default=[s for s in SECTIONS if s not in LONG],
                   help="run only these benchmarks (setup: compose only; soak and nightly, "
                        "6-10 min each, only when named)")
    p.add_argument("--target", choices=("local", "compose"), default="local",
                   help="where the stack runs (compose: the images of `make images`)")
    p.add_argument("--cold-images", action="store_true",
                   help="setup: also time `make images` from nothing (removes the images)")
    p.add_argument("--base-port", type=int, default=7600)
    p.add_argument("--gameday-port", type=int, default=7700)
    p.add_argument("--hold", type=float, default=4.0, help="seconds each fault is held")
    p.add_argument("--fp-quiet", type=float, default=120.0,
                   help="quiet: seconds with no fault and no load, counting false positives")
    p.add_argument("--fp-load", type=float, default=60.0,
                   help="quiet: seconds under the standard load, counting false positives")
    p.add_argument("--step", type=float, default=8.0, help="seconds per capacity rung")
    p.add_argument("--ladder", type=float, nargs="+", default=list(capacity.DEFAULT_LADDER))
    p.add_argument("--p99-bound", type=float, default=250.0,
                   help="capacity: p99 bound in ms (default 250)")
    p.add_argument("--xcheck-rate", type=float, default=50.0)
    p.add_argument("--xcheck-seconds", type=float, default=15.0)
    p.add_argument("--xcheck-overload", type=float, default=450.0,
                   help="also compare at this rate (above capacity)")
    p.add_argument("--slow-rates", type=float, nargs="+", default=[40.0, 150.0],
                   help="slow: rates (req/s) of the latency-fault runs (default 40 150)")
    p.add_argument("--slow-seconds", type=float, default=30.0,
                   help="slow: seconds of baseline and of fault at each rate")
    p.add_argument("--soak-seconds", type=float, default=600.0,
                   help="soak: seconds at 150 req/s, a fault every 60 s (default 600)")
    p.add_argument("--soak-period", type=float, default=60.0,
                   help="soak: seconds between faults (each held 20 s; default 60)")
    p.add_argument("--nightly-port", type=int, default=7800)
    p.add_argument("--loadgen-ladder", type=float, nargs="+",
                   default=list(loadgen.DEFAULT_LADDER),
                   help="loadgen: one process's rates (req/s) against nginx")
    p.add_argument("--loadgen-seconds", type=float, default=10.0,
                   help="loadgen: seconds per rate")
    p.add_argument("--loadgen-sharded-rate", type=float, default=4000.0)
    p.add_argument("--loadgen-shards", type=int, nargs="+", default=[2, 3],
                   help="loadgen: process counts of the sharded runs")
    p.add_argument("--out", type=Path, default=None, help="results folder")
    return p


def _requests_csv(path: Path, records: list[Any]) -> None:
    import csv

    if not records:
        return
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=[f.name for f in dataclasses.fields(records[0])])
        w.writeheader()
        for r in records:
            w.writerow(r.as_dict())


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = args.out or RESULTS / stamp
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"machine": machine(), "args": vars(args) | {"out": str(out)}}
    loads: list[float] = [loadavg()[0]]
    t0 = time.time()

    def say(msg: str) -> None:
        print(msg, flush=True)

    results["target"] = args.target
    try:
        if "setup" in args.only and args.target == "compose":
            say("bench: what compose costs first: images, up, down")
            setup = compose_setup.run(args.base_port, cold=args.cold_images, progress=say)
            results["setup"] = setup
            write_json(out / "setup.json", setup)
            loads.append(setup["loadavg"][0])
        stack_sections = [s for s in args.only
                          if s not in ("overhead", "setup", "nightly", "loadgen", "broker")]
        if stack_sections:
            say(f"bench: starting systems/inventory.yaml on {args.target} at base port "
                f"{args.base_port}")
            with stack(args.base_port, target=args.target) as sut:
                if "detection" in args.only:
                    say(f"bench: detection and masking, {args.injections} injections per fault")
                    det = detection.run(sut, standard_spec(), n=args.injections,
                                        hold_s=args.hold, progress=say)
                    _requests_csv(out / "requests.csv", det.pop("records"))
                    results["detection"] = det
                    write_json(out / "detection.json", det)
                    loads += [t["loadavg"][0] for t in det["trials"]]
                if "quiet" in args.only:
                    say(f"bench: detection with no client traffic, {args.injections} "
                        "injections per fault; false positives")
                    q = quiet.run(sut, n=args.injections, progress=say)
                    q["false_positives"] = quiet.false_positives(
                        sut, standard_spec(), quiet_s=args.fp_quiet, load_s=args.fp_load,
                        progress=say)
                    results["quiet"] = q
                    write_json(out / "quiet.json", q)
                    loads += [t["loadavg"][0] for t in q["trials"]]
                if "capacity" in args.only:
                    say(f"bench: capacity (p99 bound {args.p99_bound:g} ms)")
                    cap = capacity.run(sut, ladder=tuple(args.ladder), duration_s=args.step,
                                       p99_bound_ms=args.p99_bound, progress=say)
                    results["capacity"] = cap
                    write_json(out / "capacity.json", cap)
                    loads += [s["loadavg_after"][0] for p in cap["paths"].values()
                              for s in p["steps"]]
                if "crosscheck" in args.only:
                    say("bench: measurement check against hey and wrk")
                    capacity.settle(sut)
                    xc = crosscheck.run(sut, rate=args.xcheck_rate,
                                        duration_s=args.xcheck_seconds,
                                        overload_rate=args.xcheck_overload, progress=say)
                    results["crosscheck"] = xc
                    write_json(out / "crosscheck.json", xc)
                    loads += [r["loadavg"][0] for r in xc.get("runs", [])]
                stack_dir = sut.state_dir
                if "slow" in args.only:
                    say("bench: a slow replica under load (the nightly's latency phase)")
                    capacity.settle(sut)
                    sl = slow_replica.run(sut, stack_dir, rates=tuple(args.slow_rates),
                                          baseline_s=args.slow_seconds,
                                          fault_s=args.slow_seconds, progress=say)
                    results["slow"] = sl
                    write_json(out / "slow.json", sl)
                    loads += [r["loadavg"][0] for r in sl["rows"]]
                if "soak" in args.only:
                    say(f"bench: soak, {args.soak_seconds:g} s at 150 req/s, a fault a minute")
                    capacity.settle(sut)
                    so = soak.run(sut, stack_dir, duration_s=args.soak_seconds,
                                  period_s=args.soak_period, progress=say)
                    results["soak"] = so
                    write_json(out / "soak.json", so)
                    loads += [p["loadavg"][0] for p in so["periods"]]
        if "overhead" in args.only:
            say(f"bench: make gameday's runbook from cold start (base port {args.gameday_port})")
            ov = overhead.run(args.gameday_port, target=args.target, progress=say)
            results["overhead"] = ov
            write_json(out / "overhead.json", ov)
            loads += [ov["loadavg_before"][0], ov["loadavg_after"][0]]
        if "nightly" in args.only:
            say(f"bench: the nightly runbook, 150 req/s (base port {args.nightly_port})")
            ni = overhead.run(args.nightly_port, runbook="runbooks/nightly.yaml",
                              target=args.target, progress=say)
            results["nightly"] = ni
            write_json(out / "nightly.json", ni)
            loads += [ni["loadavg_before"][0], ni["loadavg_after"][0]]
        if "broker" in args.only and args.target == "local":
            say("bench: the local broker's cost as a partition grows (Tansu, memory engine)")
            br = broker.run(progress=say)
            results["broker"] = br
            write_json(out / "broker.json", br)
            loads += [r["loadavg"][0] for r in br["rows"]]
        if "loadgen" in args.only:
            say("bench: the load generator's ceiling against nginx (one process, sharded, "
                "side by side with wrk)")
            with nginx() as base:
                say("  which client: CPU per request at the same open-loop rate")
                picked = clients.run(base, progress=say)
                lg = loadgen.run(base, ladder=tuple(args.loadgen_ladder),
                                 duration_s=args.loadgen_seconds,
                                 sharded_rate=args.loadgen_sharded_rate,
                                 shard_counts=tuple(args.loadgen_shards), progress=say)
            lg["clients"] = picked
            results["loadgen"] = lg
            write_json(out / "loadgen.json", lg)
            loads += [s["loadavg"][0] for s in lg["one_process"] + lg["sharded"]]
    finally:
        loads.append(loadavg()[0])
        results["loadavg_range"] = f"{min(loads):.2f}–{max(loads):.2f} (1 min)"
        results["bench_wall_s"] = round(time.time() - t0, 1)
        write_json(out / "summary.json", {k: v for k, v in results.items()
                                          if k not in ("detection", "capacity", "quiet",
                                                       "slow", "soak", "loadgen", "broker")})
    text = table.render(results)
    (out / "table.md").write_text(text + "\n")
    latest = RESULTS / "latest"
    if out.parent == RESULTS:
        if latest.is_symlink() or latest.exists():
            latest.unlink() if latest.is_symlink() else shutil.rmtree(latest)
        os.symlink(out.name, latest)
    print()
    print(text)
    print(f"\nbench: {results['bench_wall_s']:.0f} s; raw figures in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
