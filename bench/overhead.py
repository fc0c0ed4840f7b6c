"""GameDay overhead: ``make gameday``'s runbook from cold start to the HTML report.

Runs ``gameday run runbooks/standard.yaml --start-stack --base-port N`` (the stack is
started by the run and stopped at its end, as ``make gameday`` does) and splits its wall
time with the journal's own timestamps:

- *cold start*: process start → journal start (Python + Prefect import, stack up, flow
  start);
- *phases*: first phase start → last phase end, against the configured Σ ``duration_s``;
  **harness overhead** = (phases span − configured) / configured: injecting, rolling
  back, waiting for recovery, computing metrics and writing the journal between phases;
- *run*: journal start → end (adds the steady-state checks and the consistency check);
- *report*: journal end → ``report.html`` written (papermill + nbconvert).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.common import GAMEDAY, REPO, loadavg, target_env
from gameday.frames import to_epoch

__all__ = ["run"]


def _journal_after(reports: Path, since: float) -> Path | None:
    found = [p for p in reports.glob("*/journal.json") if p.stat().st_mtime >= since]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def run(base_port: int, *, runbook: str = "runbooks/standard.yaml", target: str = "local",
        progress: Any = print) -> dict[str, Any]:
    la_before = loadavg()
    t0 = time.time()
    args = ["run", runbook, "--start-stack", "--base-port", str(base_port), "--target", target]
    proc = subprocess.run([str(GAMEDAY), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=900, env=target_env(target))
    wall = time.time() - t0
    journal_path = _journal_after(REPO / "reports", t0)
    out: dict[str, Any] = {"command": "gameday " + " ".join(args), "target": target,
                           "exit_code": proc.returncode,
                           "wall_s": wall, "loadavg_before": la_before,
                           "loadavg_after": loadavg(), "stdout_tail": proc.stdout[-2000:]}
    if journal_path is None:
        out["error"] = "no journal written: " + proc.stderr[-1000:]
        return out
    j = json.loads(journal_path.read_text())
    phases = j.get("phases") or []
    start, end = to_epoch(j.get("start")), to_epoch(j.get("end"))
    configured = sum(float(p.get("duration_s") or 0) for p in phases)
    first = to_epoch(phases[0]["start"]) if phases else None
    last = to_epoch(phases[-1]["end"]) if phases else None
    html = journal_path.parent / "report.html"
    span = (last - first) if first and last else None
    planned = len((j.get("runbook") or {}).get("phases") or [])
    if j.get("status") == "aborted" or len(phases) < planned:
        span = None  # an aborted run's phase time says nothing about the harness
    out.update({
        "run_dir": str(journal_path.parent.relative_to(REPO)),
        "status": j.get("status"), "verdict": j.get("verdict"),
        "cold_start_s": (start - t0) if start else None,
        "run_s": (end - start) if start and end else None,
        "phases_span_s": span, "configured_phase_s": configured,
        "harness_overhead": (span - configured) / configured if span and configured else None,
        "report_s": (html.stat().st_mtime - end) if html.exists() and end else None,
        "report_html": html.exists(),
        "phase_metrics": {p["name"]: p.get("metrics") for p in phases},
        "failing_checks": (j.get("verdict") or {}).get("failing_checks"),
    })
    progress(f"  wall {wall:.1f} s (cold start {out['cold_start_s'] or 0:.1f} s, phases "
             f"{span or 0:.1f} s for {configured:g} s configured, report "
             f"{out['report_s'] or 0:.1f} s), exit {proc.returncode}")
    return out
