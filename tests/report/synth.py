"""A run folder assembled from the documented schema (docs/architecture.md, "Run data").

Development and fallback only: the tests prefer the recorded real run in
fixtures/run-smoke/. This builds journal.json, requests.csv and transitions.csv for the
smoke runbook's shape (baseline, crash, incorrect_response, recovery) from a seed.
"""

from __future__ import annotations

import csv
import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from gameday import metrics
from gameday.run_record import PhaseRecord
from gameday.runbook import SloSpec

__all__ = ["make_run"]

_PHASES = [
    ("baseline", None, 4.0),
    ("crash", {"type": "crash", "replica": "3"}, 5.0),
    ("incorrect_response", {"type": "incorrect_response", "replica": "1"}, 5.0),
    ("recovery", None, 4.0),
]


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def make_run(
    run_dir: Path, *, start: datetime | None = None, seed: int = 1, slow: float = 1.0
) -> Path:
    """Write a synthetic run into ``run_dir``; ``slow`` scales TTD/TTR (for trends)."""
    rng = random.Random(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    start = start or datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
    t0 = start.timestamp()
    t = t0
    requests, transitions, phases = [], [], []
    for name, fault, dur in _PHASES:
        p_start, p_end = t, t + dur
        inj = det = rb = rec = None
        if fault:
            inj = p_start + 0.1
            det = inj + 0.3 * slow + rng.random() * 0.1
            rb = p_end - 0.2
            rec = rb + 1.0 * slow
            transitions.append((fault["replica"], "OFF", det, "3 failed checks"))
            transitions.append((fault["replica"], "ON", rec, "5 good checks"))
        for i in range(int(dur * 20)):
            intended = p_start + i / 20
            lat = rng.lognormvariate(-4.5, 0.4) * (1.5 if fault else 1.0)
            ok = not (fault and inj and det and inj < intended < det and rng.random() < 0.02)
            kind = "read" if rng.random() < 0.8 else "write"
            requests.append(
                dict(phase=name, kind=kind, product_id="PROD-001", intended_s=intended,
                     latency_s=lat, status=200 if ok else 0, ok=ok, error="" if ok else "timeout",
                     quorum=(ok if kind == "read" else ""), value=1000 if kind == "read" else "",
                     wrong=(False if kind == "read" else ""), send_lag_s=0.0)
            )
        phases.append(PhaseRecord(
            name=name, duration_s=dur,
            fault={"type": fault["type"], "component": fault["replica"]} if fault else None,
            start=_iso(p_start), end=_iso(p_end), injected_at=inj and _iso(inj),
            detected_at=det and _iso(det), rolled_back_at=rb and _iso(rb),
            recovered_at=rec and _iso(rec), observed_until=_iso(p_end + 2.0)))
        t = p_end
    # metrics, checks and score as the flow records them: with gameday.metrics
    req = metrics.requests_frame(requests)
    tr = metrics.transitions_frame(pd.DataFrame(
        transitions, columns=["instance_id", "status", "at_s", "reason"]))
    slo = SloSpec(ttd_s={"crash": 0.8, "incorrect_response": 0.5})
    for ph in phases:
        ph.metrics = metrics.phase_metrics(req, tr, ph)
        ph.checks = metrics.evaluate(ph.metrics, slo, ph.fault.type if ph.fault else None,
                                     phases[0].metrics)
        ph.passed = all(c.passed for c in ph.checks)
    failing = [f"{p.name}: {c.name}" for p in phases for c in p.checks if not c.passed]
    journal = dict(
        status="completed", deviated=bool(failing), start=_iso(t0), end=_iso(t),
        duration=t - t0, run_id=run_dir.name, seed=seed, target="local",
        runbook={"name": "smoke", "seed": seed, "load": {"rate": 20},
                 "slo": slo.model_dump(mode="json"),
                 "phases": [{"name": n, "fault": f, "duration_s": d} for n, f, d in _PHASES]},
        runbook_path="runbooks/smoke.yaml", runbook_sha256="0" * 64,
        environment=dict(git_sha="synthetic", target="local", runbook_sha256="0" * 64,
                         python="3.11", platform="linux", packages={"gameday": "0.1.0"}),
        steady_states={"before": {}, "after": {}, "during": []}, run=[], rollbacks=[],
        phases=[p.model_dump(mode="json") for p in phases],
        consistency={"ok": True, "ledger": {}, "replicas": {}, "mismatches": []},
        abort=None,
        verdict=dict(passed=not failing, score=round(metrics.resilience_score(phases), 2),
                     failing_checks=failing),
        observations=[dict(at=_iso(t0 + 6), role="observer", phase="crash",
                           text="Replica 3 went dark; the voter kept answering.")],
        notifications=[], version=2,
    )
    (run_dir / "journal.json").write_text(json.dumps(journal, indent=2))
    cols = list(requests[0])
    with open(run_dir / "requests.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        w.writerows(requests)
    with open(run_dir / "transitions.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["instance_id", "status", "at_s", "reason"])
        w.writerows(transitions)
    return run_dir


if __name__ == "__main__":
    import sys

    base = Path(sys.argv[1])
    for k in range(3):
        make_run(base / f"synthetic-{k}", start=datetime(2026, 11, 20 + k, 7, 0, tzinfo=UTC),
                 seed=k, slow=1.0 + k * 0.5)
