"""The project's own stack driven as a system file (systems/inventory.yaml) rather than
by its built-in driver: its HTTP fault presets, the monitor's transitions as the detector,
voter reads judged against the ledger by the file's oracle, orders cancelled by a
follow-up, and the invariant that every replica equals the ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from gameday import engine
from gameday.lifecycle import GameDay

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def test_the_inventory_stack_runs_a_gameday_from_its_system_file(
        clean_faults, flow_env, tmp_path: Path) -> None:
    runbook = tmp_path / "inventory-system.yaml"
    runbook.write_text(yaml.safe_dump({
        "name": "inventory-system", "system": str(REPO / "systems" / "inventory.yaml"),
        "seed": 5, "load": {"rate": 20, "timeout_s": 1.0},
        "slo": {"latency_p95_min_ms": 250, "ttd_s": {"crash": 0.8, "latency": 1.0}},
        "safety": {"fault_ttl_s": 30},
        "phases": [
            {"name": "baseline", "duration_s": 3},
            {"name": "crash", "duration_s": 4, "fault": {"type": "crash",
                                                         "target": "inventory/2"}},
            {"name": "latency", "duration_s": 4,
             "fault": {"type": "latency", "target": "inventory/3",
                       "params": {"latency_ms": 500}}},
            {"name": "recovery", "duration_s": 3}],
    }))
    gd = GameDay.prepare(runbook, progress=lambda line: print(line, flush=True))
    assert gd.key == f"local:{clean_faults.base_port}"
    with gd.locked():
        run = gd.open()
        engine.preflight(run)
        for phase in gd.runbook.phases:
            engine.run_phase(run, phase)
        outcome = gd.finish("completed", report=False, announce=False)
    journal = json.loads((run.run_dir / "journal.json").read_text())
    assert journal["system"]["name"] == "inventory"
    assert journal["system"]["detector"] == "transitions"
    phases = {p["name"]: p for p in journal["phases"]}
    assert phases["crash"]["fault"]["component"] == "inventory/2"
    assert phases["latency"]["fault"]["params"] == {"latency_ms": 500}
    for name in ("crash", "latency"):
        m = phases[name]["metrics"]
        assert m["ttd_s"] is not None and m["ttd_s"] > 0, (name, m)  # the monitor's own
        assert m["wrong_answers"] == 0, (name, m)  # judged against the ledger, none wrong
    kinds = {r.kind for r in run.journal.requests}
    assert kinds == {"read", "write", "write>1"}  # reads, orders and their cancels
    assert set(journal["oracle_before"]["oracle"]) >= {"PROD-001", "PROD-002", "PROD-003"}
    assert journal["consistency"]["ok"] is True, journal["consistency"]  # replicas = ledger
    assert not any("cross-check" in f for f in outcome.failing_checks), outcome.failing_checks
