"""The session notebook, headless under papermill, end to end against a real local stack."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

from gameday import units
from gameday.frames import to_epoch
from gameday.paths import NOTEBOOKS_DIR, REPO_ROOT
from gameday.report import execute_notebook
from gameday.safety import TargetLock
from gameday.session_notebook import build, write
from inventory_system import states


def test_committed_notebook_is_the_standard_runbooks_and_is_clean() -> None:
    committed = nbformat.read(NOTEBOOKS_DIR / "session.ipynb", as_version=4)
    built = build("runbooks/standard.yaml")
    assert [c.source for c in committed.cells] == [c.source for c in built.cells], (
        "notebooks/session.ipynb is stale: python -m gameday.session_notebook "
        "runbooks/standard.yaml notebooks/session.ipynb")
    code = [c for c in committed.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert [c for c in committed.cells if "parameters" in c.metadata.get("tags", [])]
    assert sum("parameters" in c.metadata.get("tags", []) for c in committed.cells) == 1
    assert committed.metadata.kernelspec.name == "gameday"
    text = "\n".join(c.source for c in committed.cells if c.cell_type == "markdown")
    for must in ("owner", "coordinator", "reporter", "observers", "Pre-flight checklist",
                 "abort criteria", "interrupt the kernel", "rerun=True", "session.skip(",
                 "Finish the session"):
        assert must in text, must
    # the stack's system file has an oracle and a quorum path: the team is told to watch both
    assert "the system's detector marks inventory/2 OFF within 0.8 s" in text
    assert "quorum ≥ 99%, 0 wrong answers" in text
    for phase in ("baseline", "crash", "latency", "intermittent", "incorrect_response",
                  "recovery"):
        assert f'session.run_phase("{phase}")' in "\n".join(c.source for c in code)


@pytest.mark.slow
def test_session_notebook_runs_a_short_gameday_and_its_observations_reach_the_report(
    local_stack, clean_faults, session_env: Path, write_runbook: Callable[..., Path],
    tmp_path: Path,
) -> None:
    runbook = write_runbook()
    notebook = write(runbook, tmp_path / "session.ipynb")
    out = tmp_path / "session-out.ipynb"
    execute_notebook(notebook, out, {
        "owner": "Ana", "coordinator": "Ben", "reporter": "Chloé", "observers": ["Dev"],
        "abort_criteria_agreed": True,
        "skip": ["recovery"],
        "notes": [
            {"phase": "crash", "kind": "noticed", "role": "observer", "after_s": 1.5,
             "text": "Dev saw replica 3 turn red on the dashboard"},
            {"phase": "crash", "role": "reporter", "text": "shop kept working throughout"},
        ],
    }, cwd=REPO_ROOT)

    [run_dir] = [p.parent for p in session_env.glob("*/journal.json")]
    journal = json.loads((run_dir / "journal.json").read_text())
    assert [p["name"] for p in journal["phases"]] == [
        "baseline", "crash", "incorrect_response"], (journal["status"], journal["abort"],
                                                     journal.get("error"))
    assert journal["status"] in ("completed", "failed") and journal["verdict"] is not None
    assert journal["abort"] is None
    assert journal["session"]["roles"]["reporter"] == "Chloé"
    assert any(r["activity"]["name"] == "skip phase recovery" for r in journal["run"])

    notes = {o["text"]: o for o in journal["observations"]}
    noticed = notes["Dev saw replica 3 turn red on the dashboard"]
    assert noticed["kind"] == "noticed" and noticed["role"] == "observer"
    assert noticed["phase"] == "crash"
    crash = next(p for p in journal["phases"] if p["name"] == "crash")
    assert to_epoch(noticed["at"]) - to_epoch(crash["injected_at"]) == pytest.approx(1.5, abs=0.01)
    assert notes["shop kept working throughout"]["kind"] == "note"

    page = (run_dir / "report.html").read_text()
    assert "Dev saw replica 3 turn red on the dashboard" in page
    assert "shop kept working throughout" in page and "Chloé" in page  # roles
    # the human-vs-monitor table, figures with their unit (the observer noticed 1.5 s in)
    assert "a human noticed after" in page and "monitor TTD" in page
    assert f">{units.fmt_seconds(1.5)}<" in page

    # the live panel of the crash phase was drawn and kept up to date in the output
    executed = nbformat.read(out, as_version=4)
    crash_cell = next(c for c in executed.cells if 'run_phase("crash")' in c.source)
    live = next(o for o in crash_cell.outputs if "text/html" in o.get("data", {}))
    html = live["data"]["text/html"]
    assert "inventory/3" in html and "availability" in html and "<polyline" in html
    assert "inventory/3 ON again" in html and "<i>done</i>" in html
    assert 'fill="#cf222e"' in html  # the ON/OFF strip shows replica 3 OFF during the crash
    finish = next(c for c in executed.cells if "session.finish(" in c.source)
    assert "report.html" in json.dumps(finish.outputs)

    # the session left the target unlocked and every replica ON
    assert TargetLock.holder(local_stack.settings.state_dir,
                             f"local:{local_stack.base_port}") is None
    assert set(states(local_stack).values()) == {"ON"}
