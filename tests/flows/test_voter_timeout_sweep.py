"""A latency sweep across the voter's per-replica timeout, end to end on the real local
stack: clients see no step there (the voter answers with the first two agreeing
replicas), but the voter's own count of its requests to the slow replica that got no
answer in time does, and the sweep names the breaking point between the two doses around
the timeout. The timeout is the one the running voter reports (``/voting-stats``), not a
constant of this test; the doses stay outside the latency fault's own spread around it
(each request waits uniform(0.8·L, 1.2·L))."""

from __future__ import annotations

import json

import httpx
import pytest
import yaml

pytestmark = pytest.mark.slow


def test_a_latency_sweep_across_the_voters_timeout_finds_it(
    prefect_harness, local_stack, flow_env, tmp_path
):
    from flows.gameday import gameday_flow

    stats = httpx.get(f"{local_stack.urls.voter}/voting-stats", timeout=5).json()
    timeout_ms = stats["voting_stats"]["timeout_s"] * 1000
    # below: the slowest answer (1.2·L) still in time; above: the fastest (0.8·L) too late
    below = [round(timeout_ms * f) for f in (0.4, 0.65)]
    above = [round(timeout_ms * f) for f in (1.4, 2.0)]
    runbook = tmp_path / "voter-timeout.yaml"
    runbook.write_text(yaml.safe_dump({
        "name": "voter-timeout", "system": "systems/inventory.yaml", "seed": 7,
        "load": {"rate": 20, "timeout_s": 2.0, "mix": {"read": 7, "write": 3},
                 "follow_up_after_s": {"write": 0.5}},
        "slo": {"latency_p95_min_ms": 50}, "safety": {"fault_ttl_s": 30},
        "phases": [
            {"name": "baseline", "duration_s": 2},
            {"name": "slow_replica", "fault": {"type": "latency", "target": "inventory/2"},
             "duration_s": 3,
             "sweep": {"param": "latency_ms", "values": below + above, "trials": 2,
                       "metric": "front_timeout_share",
                       "target": {"op": "<=", "value": 0.5}}},
        ]}))

    gameday_flow(runbook=str(runbook), report=True, return_state=True)
    [run_dir] = sorted(p.parent for p in flow_env.glob("*/journal.json"))
    journal = json.loads((run_dir / "journal.json").read_text())
    swept = [p for p in journal["phases"] if p.get("dose") is not None]
    assert all(p["front"]["timeout_s"] * 1000 == timeout_ms for p in swept)
    assert all(p["front"]["asked"] > 0 for p in swept), [p["front"] for p in swept]
    [sweep] = journal["sweeps"]
    points = {p["dose"]: p for p in sweep["points"]}
    for dose in below:
        assert points[dose]["verdict"] == "pass", points[dose]
    for dose in above:
        assert points[dose]["verdict"] == "fail", points[dose]
    bp = sweep["breaking_point"]
    assert (bp["kind"], bp["direction"]) == ("crossing", "up"), bp
    assert (bp["low"], bp["high"]) == (below[-1], above[0]), bp
    assert bp["low"] < bp["estimate"] < bp["high"]
    page = (run_dir / "report.html").read_text()
    assert (f"front timeouts on the faulted member ≤ 50 % breaks between {below[-1]} ms "
            f"and {above[0]} ms") in page
    assert "got no answer within the front&#x27;s timeout" in page or \
        "got no answer within the front's timeout" in page
