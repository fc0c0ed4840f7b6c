"""The one table ``make bench`` prints (Markdown), with targets and the original system."""

from __future__ import annotations

from typing import Any

from bench.soak import memory_key

__all__ = ["render", "rows"]

ORIGINAL_TTD = "9–15 s"
TTD_TARGET = {"crash": 0.8, "latency": 1.0, "intermittent": 1.0, "incorrect_response": 0.5}
ORIGINAL = {"crash": ORIGINAL_TTD, "latency": ORIGINAL_TTD,
            "intermittent": f"{ORIGINAL_TTD}; undetected in 3 of 5 runs",
            "incorrect_response": "never detected; served to clients"}


def _f(v: float | None, unit: str = "", nd: int = 2) -> str:
    return "—" if v is None else f"{v:.{nd}f}{unit}"


def _q(d: dict[str, float | None]) -> str:
    return "/".join(_f(d.get(k)) for k in ("min", "median", "p95", "max")) + " s"


def _ok(passed: bool | None) -> str:
    return "—" if passed is None else ("yes" if passed else "**no**")


def _detection(det: dict[str, Any]) -> list[tuple[str, ...]]:
    out = []
    base = det["baseline"]
    for ftype, s in det["faults"].items():
        target = TTD_TARGET[ftype]
        p95 = s["ttd"]["p95"]
        all_found = s["detected"] == s["n"]
        out.append((f"TTD {ftype} (min/med/p95/max), floor {s['floor_s']:.1f} s",
                    f"{_q(s['ttd'])}; detected {s['detected']}/{s['n']}",
                    f"p95 ≤ {target} s, every one detected", ORIGINAL[ftype],
                    _ok(all_found and p95 is not None and p95 <= target)))
        out.append((f"TTR {ftype} (min/med/p95/max), floor {s['recovery_floor_s']:.1f} s",
                    _q(s["ttr"]), "≤ 5 s (runbook SLO)", "not measured",
                    _ok(s["ttr"]["max"] is not None and s["ttr"]["max"] <= 5.0)))
    out.append(("baseline through voter+orders: availability · p50/p95/p99",
                f"{_f(base['availability'] * 100, ' %', 3)} · {_f(base['p50_ms'], '', 1)}/"
                f"{_f(base['p95_ms'], '', 1)}/{_f(base['p99_ms'], ' ms', 1)}", "", "", ""))
    for ftype, s in det["faults"].items():
        m = s["masking"]
        av_ok = m["availability"] is not None and m["availability"] >= 0.999
        out.append((f"during {ftype}: availability · p50/p95/p99 · quorum · wrong",
                    f"{_f((m['availability'] or 0) * 100, ' %', 3)} · {_f(m['p50_ms'], '', 1)}/"
                    f"{_f(m['p95_ms'], '', 1)}/{_f(m['p99_ms'], ' ms', 1)} · "
                    f"{_f((m['quorum_rate'] or 0) * 100, ' %', 2)} · {m['wrong_answers']}",
                    "≥ 99.9 %, 0 wrong", "measured only after faults cleared",
                    _ok(av_ok and m["wrong_answers"] == 0)))
        if ftype == "latency" and base["p95_ms"]:
            ratio = (m["p95_ms"] or 0) / base["p95_ms"]
            out.append(("p95 during latency fault / baseline p95", f"{ratio:.2f}×", "≤ 1.5×",
                        "—", _ok(ratio <= 1.5)))
    return out


QUIET_TTD_TARGET = 1.0


def _quiet(q: dict[str, Any]) -> list[tuple[str, ...]]:
    out = []
    for ftype, s in q.get("faults", {}).items():
        p95 = s["ttd"]["p95"]
        params = ", ".join(f"{k} {v}" for k, v in s["params"].items())
        out.append((f"TTD {ftype}{f' ({params})' if params else ''}, **no client traffic** "
                    "(min/med/p95/max)",
                    f"{_q(s['ttd'])}; detected {s['detected']}/{s['n']}",
                    f"p95 ≤ {QUIET_TTD_TARGET} s, every one detected", ORIGINAL[ftype],
                    _ok(s["detected"] == s["n"] and p95 is not None
                        and p95 <= QUIET_TTD_TARGET)))
    fp = q.get("false_positives")
    if fp:
        n = len(fp["quiet_off"]) + len(fp["load_off"])
        out.append(("false positives: OFF transitions of healthy replicas",
                    f"{len(fp['quiet_off'])} in {fp['quiet_s']:g} s quiet · "
                    f"{len(fp['load_off'])} in {fp['load_s']:g} s at {fp['rate']:g} req/s",
                    "0", "—", _ok(n == 0)))
    return out


def _capacity(cap: dict[str, Any]) -> list[tuple[str, ...]]:
    out = []
    for path, p in cap["paths"].items():
        held = [s for s in p["steps"] if s["holds"]]
        best = held[-1] if held and p["capacity_rps"] else None
        top = "≥ " if held and len(held) == len(p["steps"]) else ""  # the ladder ended first
        fig = (f"{top}{p['capacity_rps']:g} req/s (achieved {best['achieved_rate']:.1f}, p99 "
               f"{best['p99_ms']:.0f} ms)" if best else "below the first rung")
        target = "≥ 200 req/s within 2 %" if path == "mix" else ""
        out.append((f"capacity {path} (p99 ≤ {cap['p99_bound_ms']:g} ms, within 2 %)", fig,
                    target, "—", _ok((p["capacity_rps"] or 0) >= 200) if target else ""))
    return out


def _crosscheck(x: dict[str, Any]) -> list[tuple[str, ...]]:
    if "skipped" in x:
        return [("measurement check", x["skipped"], "", "", "")]
    out = []
    for r in x["runs"]:
        o, h = r["ours"], r["hey"]
        out.append((f"voter @ {r['rate']:g}/s p50/p95/p99: ours (open loop) vs hey",
                    f"{_f(o['p50_ms'], '', 1)}/{_f(o['p95_ms'], '', 1)}/{_f(o['p99_ms'], '', 1)}"
                    f" vs {_f(h['p50_ms'], '', 1)}/{_f(h['p95_ms'], '', 1)}/"
                    f"{_f(h['p99_ms'], ' ms', 1)}",
                    f"p50, p95 within {x['tolerance']['relative']:.0%} or "
                    f"{x['tolerance']['absolute_ms']:g} ms (below capacity)", "—",
                    _ok(all(r["agree"].values())) if r["rate"] == x["rate"] else
                    "differ by design"))
    w = x["wrk"]
    out.append(("wrk closed loop, full speed: req/s · p50/p99",
                f"{_f(w['achieved_rate'], '', 0)} · {_f(w['p50_ms'], '', 1)}/"
                f"{_f(w['p99_ms'], ' ms', 1)}", "", "—", ""))
    return out


def _overhead(o: dict[str, Any]) -> list[tuple[str, ...]]:
    if "error" in o:
        return [("make gameday", o["error"], "< 120 s", "—", "**no**")]
    ov = o["harness_overhead"]
    what = "make gameday" if o.get("target", "local") == "local" else "make gameday-compose"
    return [
        (f"{what}: cold start → HTML report",
         f"{o['wall_s']:.1f} s (start {_f(o['cold_start_s'], ' s', 1)}, report "
         f"{_f(o['report_s'], ' s', 1)}; {o['status']})", "< 120 s", "—",
         _ok(o["wall_s"] < 120)),
        ("harness overhead over configured phase time",
         (f"{ov * 100:.1f} % ({o['phases_span_s']:.1f} s for {o['configured_phase_s']:g} s)"
          if ov is not None else f"not measured: the run was {o['status']}"), "≤ 15 %", "—",
         _ok(ov is not None and ov <= 0.15)),
    ]


def _slow(sl: dict[str, Any]) -> list[tuple[str, ...]]:
    out = []
    for r in sl["rows"]:
        b, f = r["baseline"], r["fault"]
        costs = r["costs"]["fault"]
        slow = sl["params"]["replica"]
        out.append((
            f"slow replica {slow} ({sl['params']['latency_ms']:g} ms) at {r['rate']:g} req/s: "
            "availability · quorum · wrong · p95 fault/baseline",
            f"{_pct(f['availability'])} · {_pct(f['quorum_rate'])} · {f['wrong_answers']} · "
            f"{_f(f['p95_ms'], ' ms', 1)} / {_f(b['p95_ms'], ' ms', 1)} = "
            f"{_f(r['p95_ratio'], '×')} (voter in flight to {slow}: peak "
            f"{costs['voter_in_flight_peak'].get(slow, '—')}; load {r['loadavg'][0]})",
            "≥ 99.9 %, 0 wrong, ≤ 1.5×", "—",
            _ok(f["availability"] is not None and f["availability"] >= 0.999
                and f["wrong_answers"] == 0 and r["p95_ratio"] is not None
                and r["p95_ratio"] <= 1.5),
        ))
    return out


def _soak(so: dict[str, Any]) -> list[tuple[str, ...]]:
    periods, v = so["periods"], so["verdict"]
    if not periods or v is None:
        return [("soak", "not enough periods", "no growth", "—", "")]
    first, last = periods[0], periods[-1]
    voter_a = first["resources"].get("voter", {})
    voter_b = last["resources"].get("voter", {})
    mem = memory_key(voter_a, voter_b)  # the memory the verdict judges
    return [(
        f"soak {so['params']['duration_s']:g} s at {so['params']['rate']:g} req/s, a fault "
        f"every {so['params']['period_s']:g} s: first → last period",
        f"p95 {_f(first['p95_ms'], ' ms', 1)} → {_f(last['p95_ms'], ' ms', 1)}; voter "
        f"{voter_a.get(mem, '—')} → {voter_b.get(mem, '—')} MiB "
        f"{'private' if mem == 'private_mib' else 'RSS'}, "
        f"{voter_a.get('sockets', '—')} → {voter_b.get('sockets', '—')} sockets; "
        f"availability {_pct(so['overall']['availability'])}, wrong "
        f"{so['overall']['wrong_answers']}" + (f"; grew: {', '.join(v['grew'])}"
                                                 if v["grew"] else ""),
        "no growth", "—", _ok(v["holds"]),
    )]


def _nightly(n: dict[str, Any]) -> list[tuple[str, ...]]:
    if "error" in n:
        return [("nightly runbook", n["error"], "every phase ≥ 99.9 %", "—", "**no**")]
    out = []
    for name, m in (n.get("phase_metrics") or {}).items():
        m = m or {}
        out.append((f"nightly {name}: availability · p95 · quorum · wrong",
                    f"{_pct(m.get('availability'))} · {_f(m.get('latency_p95_ms'), ' ms', 1)} · "
                    f"{_pct(m.get('quorum_rate'))} · {m.get('wrong_answers', '—')}",
                    "≥ 99.9 %", "—", _ok((m.get("availability") or 0) >= 0.999)))
    out.append(("nightly runbook verdict", f"{n['status']} (exit {n['exit_code']}; load "
                f"{n['loadavg_before'][0]} → {n['loadavg_after'][0]})", "passed", "—",
                _ok(n["exit_code"] == 0)))
    return out


def _broker(b: dict[str, Any]) -> list[tuple[str, ...]]:
    out = []
    for key, how in (("one_record_per_batch", "each record in a batch of its own"),
                     ("large_batches", "the same records in large batches")):
        rows = b.get(key) or []
        if not rows:
            continue
        first, last = rows[0], rows[-1]
        out.append((
            f"local broker (Tansu, memory engine): CPU following a partition at "
            f"{b['rate']:g} records/s as it grows, {how}",
            f"{first['cpu_pct']:.0f} % at {first['records_in_partition']:,} → "
            f"{last['cpu_pct']:.0f} % at {last['records_in_partition']:,} records",
            "flat", "—", _ok(last["cpu_pct"] <= 1.5 * max(first["cpu_pct"], 1.0)),
        ))
    return out


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.3f} %"


def _setup(c: dict[str, Any]) -> list[tuple[str, ...]]:
    def build(b: dict[str, Any] | None) -> str:
        if b is None:
            return "—"
        return f"{b['wall_s']:.1f} s" + (" (failed)" if b["exit_code"] else "")

    storage = f"storage driver {c['storage_driver']}"
    return [
        ("make images: cold · warm", f"{build(c.get('images_cold'))} · "
         f"{build(c.get('images_warm'))}", "", "—", ""),
        (f"compose up --wait (min/med/p95/max), {c['rounds']} rounds, {storage}",
         _q(c["up_s"]), "", "—", ""),
        (f"compose down -v (min/med/p95/max), {c['rounds']} rounds", _q(c["down_s"]), "", "—",
         ""),
    ]


def _cost(s: dict[str, Any]) -> str:
    if s.get("cpu_ms_per_request") is None:  # figures from before they were measured
        return "CPU —"
    return (f"CPU {_f(s['cpu_ms_per_request'], ' ms', 3)}/request, "
            f"{s['gc_full']:g} full GCs")


def _loadgen(lg: dict[str, Any]) -> list[tuple[str, ...]]:
    def step(s: dict[str, Any]) -> str:
        return (f"{_f(s['achieved_rate'], '', 1)} of {_f(s['scheduled_rate'], '', 1)} req/s, "
                f"send lag p99 {_f(s['send_lag_p99_ms'], ' ms', 1)}")

    t, st = lg["ceiling_target"], lg["sharded_target"]
    cpu = lg.get("clients", {}).get("median_cpu_ms", {})
    picks = [(f"HTTP client CPU per request (median), {name}", _f(ms, " ms", 3), "", "", "")
             for name, ms in cpu.items()]
    held = [s for s in lg["one_process"] if s["holds"]]
    shown = held[-1] if held else (lg["one_process"] or [None])[0]
    fig = (f"{lg['ceiling_rps']:g} req/s ({step(shown)})" if held else
           f"none held; at {shown['rate']:g}: {step(shown)}" if shown else "—")
    out = [(f"load generator, 1 process vs nginx: highest rate held ({lg['duration_s']:g} s)",
            fig,
            f"≥ {t['rate']:g} req/s within {t['tolerance']:.0%}, send lag p99 ≤ "
            f"{t['send_lag_p99_ms']:g} ms", "~300–450 req/s (httpx)",
            _ok((lg["ceiling_rps"] or 0) >= t["rate"]))]
    out = picks + out
    for s in lg["one_process"]:  # each rung: whether the 2,000 req/s target held, and why
        out.append((f"load generator, 1 process @ {s['rate']:g} req/s",
                    f"{step(s)}; {_cost(s)}; load {_f((s.get('loadavg') or [None])[0])}",
                    f"send lag p99 ≤ {t['send_lag_p99_ms']:g} ms", "",
                    _ok(s["holds"]) if s["rate"] >= t["rate"] else ""))
    for s in lg["sharded"]:
        out.append((f"load generator, {s['shards']} processes @ {s['rate']:g} req/s", step(s),
                    f"≥ {st['rate']:g} req/s within {st['tolerance']:.0%}", "—",
                    _ok(s["holds"] and s["rate"] >= st["rate"])))
    w = lg.get("wrk", {})
    if "skipped" in w:
        out.append(("load generator vs wrk", w["skipped"], "", "", ""))
    elif w.get("ours"):
        o, k = w["ours"], w["wrk"]
        out.append((f"load generator vs wrk @ {w['rate']} req/s, p50/p99 (wrk paced first, "
                    "then ours open loop at its rate; ours from the intended send)",
                    f"{_f(o['p50_ms'])}/{_f(o['p99_ms'])} vs {_f(k['p50_ms'])}/"
                    f"{_f(k['p99_ms'], ' ms')} (ours from the actual send: "
                    f"{_f(o.get('p50_from_send_ms'))}/{_f(o.get('p99_from_send_ms'), ' ms')})",
                    "p50 within 1 ms, p99 ≤ 1.2 × wrk's", "—", _ok(w["agree"])))
    return out


def rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    if "setup" in results:
        out += _setup(results["setup"])
    if "detection" in results:
        out += _detection(results["detection"])
    if "quiet" in results:
        out += _quiet(results["quiet"])
    if "capacity" in results:
        out += _capacity(results["capacity"])
    if "crosscheck" in results:
        out += _crosscheck(results["crosscheck"])
    if "slow" in results:
        out += _slow(results["slow"])
    if "soak" in results:
        out += _soak(results["soak"])
    if "broker" in results:
        out += _broker(results["broker"])
    if "overhead" in results:
        out += _overhead(results["overhead"])
    if "nightly" in results:
        out += _nightly(results["nightly"])
    if "loadgen" in results:
        out += _loadgen(results["loadgen"])
    return out


def render(results: dict[str, Any]) -> str:
    head = ("figure", "measured", "design target", "original system", "meets")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows(results)]
    m = results.get("machine", {})
    lines.append("")
    lines.append(f"target: {results.get('target', 'local')}; machine: {m.get('cores')} cores "
                 f"({m.get('cpu')}), load average {results.get('loadavg_range', '?')} "
                 f"while measuring")
    return "\n".join(lines)
