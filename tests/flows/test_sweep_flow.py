"""A latency sweep end to end: real Prefect, the real local stack, the report. One replica's
latency swept across the monitor's 0.15 s check timeout and the voter's 0.3 s timeout
(runbooks/breaking-point.yaml) shows the change of regime in detection: below the check
timeout the slow replica is never marked OFF, above it every trial is, within the 1 s
target; the breaking point lies between."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

RUNBOOK = Path(__file__).resolve().parents[2] / "runbooks" / "breaking-point.yaml"
#: The monitor's health-check timeout (stack/common/settings.py, MONITOR_TIMEOUT_S) in ms.
CHECK_TIMEOUT_MS = 150


def test_a_latency_sweep_shows_where_detection_changes_regime(
    prefect_harness, local_stack, flow_env
):
    from flows.gameday import gameday_flow

    gameday_flow(runbook=str(RUNBOOK), report=True, return_state=True)
    [run_dir] = sorted(p.parent for p in flow_env.glob("*/journal.json"))
    journal = json.loads((run_dir / "journal.json").read_text())
    assert [p["dose"] for p in journal["phases"] if p.get("dose_trial") == 1] == [
        50, 100, 150, 200, 250, 350, 650]
    [sweep] = journal["sweeps"]
    assert sweep["phase"] == "slow_replica" and sweep["metric"] == "ttd_s"
    assert sweep["target"] == {"op": "<=", "value": 1.0}
    points = {p["dose"]: p for p in sweep["points"]}
    assert all(p["trials"] == 2 for p in points.values())
    # well below the check timeout the monitor never sees the slow replica: TTD is +inf
    for dose in (50, 100):
        assert points[dose]["values"] == [None, None], points[dose]
        assert points[dose]["verdict"] == "fail"
    # well above it every trial is detected within the target
    for dose in (250, 350, 650):
        assert all(v is not None and v <= 1.0 for v in points[dose]["values"]), points[dose]
    bp = sweep["breaking_point"]
    assert bp["kind"] == "crossing" and bp["direction"] == "down", bp
    assert 100 <= bp["low"] < bp["high"] <= 250, bp  # around the 150 ms check timeout
    # a dose's TTD/latency checks are the sweep's, not failures of the run
    failing = journal["verdict"]["failing_checks"]
    assert not [f for f in failing if f.startswith("slow_replica-") and
                ("time to detect" in f or "latency" in f)], failing
    page = (run_dir / "report.html").read_text()
    assert "Breaking points: the metric against the dose" in page
    assert "time to detect (TTD) ≤ 1 s is met between" in page
