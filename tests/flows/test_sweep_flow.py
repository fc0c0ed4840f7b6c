"""A latency sweep end to end: real Prefect, the real local stack, the report. One replica's
latency swept across the voter's 0.3 s timeout (runbooks/breaking-point.yaml) must show the
change of regime there: below the timeout the clients' p99 follows the injected latency,
above it the voter stops waiting and p99 levels off."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

RUNBOOK = Path(__file__).resolve().parents[2] / "runbooks" / "breaking-point.yaml"
#: The voter's timeout (stack/common/settings.py, VOTER_TIMEOUT_S) in ms.
VOTER_TIMEOUT_MS = 300


def test_a_latency_sweep_across_the_voters_timeout_shows_the_change_of_regime(
    prefect_harness, local_stack, flow_env
):
    from flows.gameday import gameday_flow

    gameday_flow(runbook=str(RUNBOOK), report=True, return_state=True)
    [run_dir] = sorted(p.parent for p in flow_env.glob("*/journal.json"))
    journal = json.loads((run_dir / "journal.json").read_text())
    [sweep] = journal["sweeps"]
    assert sweep["phase"] == "slow_replica" and sweep["metric"] == "latency_p99_ms"
    points = {p["dose"]: p for p in sweep["points"]}
    assert sorted(points) == [50, 150, 250, 350, 450, 650]
    assert all(p["trials"] == 2 for p in points.values())
    p99 = {d: p["interval"]["estimate"] for d, p in points.items()}
    below = [d for d in p99 if d < VOTER_TIMEOUT_MS]
    above = [d for d in p99 if d > VOTER_TIMEOUT_MS]
    # below the timeout the clients wait for the slow replica: p99 climbs with the dose
    assert p99[250] - p99[50] > 0.5 * (250 - 50), p99
    # above it the voter gives up at its timeout: tripling the dose adds far less than that
    assert p99[650] - p99[350] < 0.5 * (650 - 350), p99
    assert max(p99[d] for d in above) < max(above), p99  # capped well below the dose
    assert min(below) == 50
    bp = sweep["breaking_point"]
    assert bp["kind"] == "crossing" and bp["direction"] == "up", bp
    assert 50 <= bp["low"] < bp["high"] <= 650
    # a dose's TTD/latency checks are the sweep's, not failures of the run
    failing = journal["verdict"]["failing_checks"]
    assert not [f for f in failing if f.startswith("slow_replica-") and
                ("time to detect" in f or "latency" in f)], failing
    page = (run_dir / "report.html").read_text()
    assert "Breaking points: the metric against the dose" in page
    assert "p99 latency ≤ 250 ms" in page
