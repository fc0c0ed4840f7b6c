"""The typed records a run passes the notifier (gameday.run_record), as the flow builds them."""

from __future__ import annotations

from gameday.run_record import AbortNotice, Outcome, PhaseRecord, PlannedPhase, StartNotice

#: A bot token shaped like Slack's; tests assert it never leaks.
TOKEN = "xoxb-1234567890-TESTSECRETTOKEN"

PHASES = [
    ("baseline", None),
    ("crash", "crash on inventory/2"),
    ("latency", "latency on inventory/3 (latency_ms=400.0)"),
    ("recovery", None),
]


def sample_run() -> StartNotice:
    return StartNotice(
        run_id="20261122T073000Z-standard", name="standard",
        description="Crash and slow a replica under load.", target="local", seed=42,
        started_by="ci", phases=[PlannedPhase(name=n, fault=f) for n, f in PHASES])


def sample_phase() -> PhaseRecord:
    return PhaseRecord(
        name="crash", fault={"type": "crash", "component": "inventory/2", "ttl_s": 30},
        duration_s=12,
        start="2026-11-22T07:30:10+00:00", passed=False,
        metrics={"requests": 2400, "availability": 0.9987, "latency_p95_ms": 41.7,
                 "ttd_s": 0.61, "ttr_s": 1.25, "wrong_answers": 0},
        checks=[
            {"name": "availability", "target": {"op": ">=", "value": 0.999},
             "value": 0.9987, "passed": False},
            {"name": "ttd_s", "target": {"op": "<=", "value": 0.8}, "value": 0.61,
             "passed": True},
        ])


def sample_abort() -> AbortNotice:
    return AbortNotice(
        run_id="20261122T073000Z-standard",
        reason="availability 0.91 fell below the floor 0.95", phase="latency",
        at="2026-11-22T07:31:10+00:00",
        rolled_back={"cleared": {"1": "cleared", "2": "cleared", "3": "cleared"},
                     "restarted": ["2"]})


def sample_verdict() -> Outcome:
    return Outcome(
        run_id="20261122T073000Z-standard", name="standard", passed=False, score=75.0,
        status="failed", duration_s=96.4,
        failing_checks=["crash: availability 0.9987 (target ≥ 0.999)"],
        run_dir="reports/20261122T073000Z-standard",
        journal="reports/20261122T073000Z-standard/journal.json",
        report="reports/20261122T073000Z-standard/report.html")
