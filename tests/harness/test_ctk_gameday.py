"""A Chaos Toolkit experiment imports (`gameday import-ctk`) and runs as a GameDay: its
action is the fault (run by chaostoolkit-lib), its rollback ends it, its probes are the
steady state and the load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from gameday import engine
from gameday.cli import main
from gameday.lifecycle import GameDay
from pair_system import isolate_gameday_env, pair_system


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_gameday_env(tmp_path, monkeypatch)


def test_an_imported_chaos_toolkit_experiment_runs_as_a_gameday(tmp_path: Path) -> None:
    with pair_system(tmp_path) as (system, port):
        base = f"http://127.0.0.1:{port}"
        experiment = {
            "version": "1.0.0", "title": "b can break",
            "steady-state-hypothesis": {"title": "front door up", "probes": [
                {"type": "probe", "name": "front", "tolerance": 200,
                 "provider": {"type": "http", "url": f"{base}/front/item/apple"}}]},
            "method": [{"type": "action", "name": "break-b", "pauses": {"after": 1},
                        "provider": {"type": "http", "method": "POST",
                                     "url": f"{base}/m/b/fault?code=503"}}],
            "rollbacks": [{"type": "action", "name": "fix-b",
                           "provider": {"type": "http", "method": "POST",
                                        "url": f"{base}/m/b/clear"}}],
        }
        (tmp_path / "experiment.json").write_text(json.dumps(experiment))
        assert main(["import-ctk", str(tmp_path / "experiment.json"), "--name", "ctk",
                     "--systems-dir", str(tmp_path / "systems"),
                     "--runbooks-dir", str(tmp_path / "runbooks")]) == 0
        runbook = tmp_path / "runbooks" / "ctk.yaml"
        data = yaml.safe_load(runbook.read_text())
        for phase in data["phases"]:  # seconds, not the import's 20 s minimum
            phase["duration_s"] = 1.0
        runbook.write_text(yaml.safe_dump(data))

        gd = GameDay.prepare(runbook, progress=lambda _: None)
        with gd.locked():
            run = gd.open()
            engine.preflight(run)
            faulted = []
            for phase in gd.runbook.phases:
                if phase.fault is not None:
                    engine.inject(run, phase)
                    faulted.append(dict(system.faulted))  # the action ran
                    engine.rollback(run, phase)
                    faulted.append(dict(system.faulted))  # the rollback ran
                else:
                    engine.run_phase(run, phase)
            outcome = gd.finish("completed", report=False, announce=False)
    assert faulted == [{"b": 503}, {}]
    journal = json.loads((run.run_dir / "journal.json").read_text())
    assert journal["system"] == {"name": "ctk", "file": str(tmp_path / "systems" / "ctk.yaml"),
                                 "detector": "none"}
    assert journal["steady_states"]["after"]["ok"] is True
    assert outcome.status in ("completed", "failed") and journal["error"] is None
    names = [a["activity"]["name"] for a in journal["run"]]
    assert "inject break-b on service/service" in names, names
