"""The JupyterLab session runs a GameDay on a system file too: its checklist probes the
system's steady state, the live panel shows the system's detector, and the notebook built
for such a runbook speaks of the system, not of the inventory stack."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gameday.session import Session
from gameday.session_notebook import build
from pair_system import isolate_gameday_env, pair_runbook, pair_system

ROLES = {"owner": "Ana", "coordinator": "Bo", "reporter": "Cy"}


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_gameday_env(tmp_path, monkeypatch)


def test_a_session_runs_a_gameday_on_a_system_file(tmp_path: Path) -> None:
    with pair_system(tmp_path) as (system, port):
        session = Session(pair_runbook(tmp_path), base_port=port, roles=ROLES, show=False)
        assert session.where().startswith("target: local · system 'pair' (")
        checks = {c.item: c for c in session.checklist(abort_criteria_agreed=True)}
        assert checks["system healthy"].ok, checks["system healthy"].detail
        assert checks["system healthy"].detail == "3 steady-state probe(s) of 'pair' hold"
        session.start()
        session.run_phase("baseline")
        record = session.run_phase("break-b")
        assert record is not None and record.fault is not None
        assert record.fault.component == "web/b" and record.metrics.ttd_s is not None
        session.noticed("front door fine, b is out", phase="break-b")
        session.run_phase("recovery")
        outcome = session.finish(report=False)
        assert outcome.passed, outcome.failing_checks
        assert system.faulted == {}


def test_the_checklist_says_which_probe_of_the_system_fails(tmp_path: Path) -> None:
    with pair_system(tmp_path) as (system, port):
        system.faulted["a"] = 503
        session = Session(pair_runbook(tmp_path), base_port=port, roles=ROLES, show=False)
        item = {c.item: c for c in session.checklist(abort_criteria_agreed=True)}[
            "system healthy"]
        assert not item.ok and "probe members [web/a]" in item.detail and "503" in item.detail


def test_the_live_panel_shows_the_systems_components_as_its_detector_sees_them(
        tmp_path: Path) -> None:
    from gameday.live import LiveView

    with pair_system(tmp_path) as (system, port):
        session = Session(pair_runbook(tmp_path), base_port=port, roles=ROLES, show=False)
        session.checklist(abort_criteria_agreed=True)
        session.start()
        try:
            phase = session.runbook.phases[1]
            system.faulted["b"] = 503
            run = session.run
            assert run is not None
            view = LiveView(run, phase, show=False)
            deadline = time.monotonic() + 5  # the detector polls every 50 ms
            while (sample := view.sample()).components.get("web/b") != "OFF":
                assert time.monotonic() < deadline, sample
                time.sleep(0.05)
            assert sample.components == {"web/a": "ON", "web/b": "OFF"}
            html = view.html()
            assert "components (detector)" in html and "web/b OFF ⚡" in html
            assert "replica web" not in html
        finally:
            system.faulted.clear()
            session.finish(report=False)


def test_the_session_notebook_for_a_system_speaks_of_the_system(tmp_path: Path) -> None:
    with pair_system(tmp_path):
        nb = build(pair_runbook(tmp_path))
    text = "\n".join(c.source for c in nb.cells)
    assert "every steady-state probe of `pair.yaml` holds" in text
    assert "the system's detector marks web/b OFF within 1 s" in text
    assert "inventory replicas" not in text and "quorum" not in text
    assert "print(session.where())" in text
