"""Journal-shaped inputs for the notifier tests, as the flow passes them."""

from __future__ import annotations

from typing import Any

#: A bot token shaped like Slack's; tests assert it never leaks.
TOKEN = "xoxb-1234567890-TESTSECRETTOKEN"

PHASES = [
    ("baseline", None),
    ("crash", {"type": "crash", "replica": "2"}),
    ("latency", {"type": "latency", "replica": "3", "latency_ms": 400}),
    ("recovery", None),
]


def sample_run() -> dict[str, Any]:
    return {
        "run_id": "20261122T073000Z-standard",
        "runbook": {"name": "standard", "description": "Crash and slow a replica under load."},
        "target": "local",
        "seed": 42,
        "started_by": "ci",
        "phases": [{"name": n, "fault": f} for n, f in PHASES],
    }


def sample_phase() -> dict[str, Any]:
    return {
        "name": "crash",
        "fault": {"type": "crash", "replica": "2"},
        "passed": False,
        "metrics": {
            "requests": 2400,
            "availability": 0.9987,
            "latency_p95_ms": 41.7,
            "ttd_s": 0.61,
            "ttr_s": 1.25,
            "wrong_answers": 0,
        },
        "checks": [
            {"name": "availability", "target": ">= 0.999", "value": 0.9987, "passed": False},
            {"name": "ttd_s", "target": "<= 0.8", "value": 0.61, "passed": True},
        ],
    }


def sample_abort() -> dict[str, Any]:
    return {
        "reason": "availability 0.91 fell below the floor 0.95",
        "phase": "latency",
        "at": "2026-11-22T07:31:10+00:00",
        "rolled_back": ["clear latency fault on replica 3", "restart replica 2"],
    }


def sample_verdict() -> dict[str, Any]:
    return {
        "run_id": "20261122T073000Z-standard",
        "runbook": "standard",
        "passed": False,
        "score": 75.0,
        "status": "completed",
        "duration_s": 96.4,
        "failing_checks": [
            {"phase": "crash", "name": "availability", "target": ">= 0.999", "value": 0.9987}
        ],
        "report_path": "reports/20261122T073000Z-standard/report.html",
    }
