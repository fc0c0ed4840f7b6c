from __future__ import annotations

import json
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gameday.cli import main
from gameday.paths import REPO_ROOT

RECORDED = REPO_ROOT / "tests" / "report" / "fixtures" / "run-smoke" / "journal.json"


def _run(reports: Path, run_id: str, minutes: int, **changes: Any) -> Path:
    """A copy of the recorded run, ``minutes`` after it, with ``changes``."""
    data = json.loads(RECORDED.read_text())
    from datetime import datetime

    start = datetime.fromisoformat(data["start"]) + timedelta(minutes=minutes)
    data.update(run_id=run_id, start=start.isoformat(), **changes)
    folder = reports / run_id
    folder.mkdir(parents=True)
    (folder / "journal.json").write_text(json.dumps(data))
    return folder


def _no_such_pid() -> int:
    import psutil

    pid = 4_000_000
    while psutil.pid_exists(pid):
        pid += 1
    return pid


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    r = tmp_path / "reports"
    passed = _run(r, "20261122-080000-smoke-aaaaaa", 10, status="completed",
                  verdict={"passed": True, "score": 97.5, "failing_checks": []})
    (passed / "report.html").write_text("<html></html>")
    _run(r, "20261122-081000-smoke-bbbbbb", 20)  # failed (the recording's own verdict)
    _run(r, "20261122-082000-nightly-cccccc", 30, status="interrupted", verdict=None,
         end=None, interruption={"found_at": "2026-11-22T08:40:00+00:00",
                                 "found_by": "gameday abort", "reason": "killed -9"})
    _run(r, "20261122-083000-smoke-dddddd", 40, status="running", verdict=None, end=None,
         duration=None, process={"pid": _no_such_pid(), "host": socket.gethostname()})
    half = r / "20261122-084000-smoke-eeeeee"  # the journal cut off mid-write
    half.mkdir()
    (half / "journal.json").write_text(RECORDED.read_text()[:700])
    (r / "20261122-085000-standard-ffffff").mkdir()  # never wrote a journal
    (r / "sessions").mkdir()  # JupyterLab session notebooks: not runs
    (r / "index.html").write_text("")
    return r


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    assert main(["runs", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_runs_lists_every_run_newest_first_whatever_state_it_is_in(
    reports: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _json(capsys, "--reports-dir", str(reports))
    assert [(r["run_id"][-6:], r["verdict"]) for r in rows] == [
        ("ffffff", "unreadable"), ("eeeeee", "unreadable"), ("dddddd", "died"),
        ("cccccc", "interrupted"), ("bbbbbb", "fail"), ("aaaaaa", "pass")]
    by = {r["run_id"][-6:]: r for r in rows}
    assert by["aaaaaa"] == {**by["aaaaaa"], "runbook": "smoke", "target": "local",
                            "score": 97.5, "status": "completed", "duration_s": 23.556}
    assert by["aaaaaa"]["report"].endswith("aaaaaa/report.html")
    assert by["bbbbbb"]["score"] == 83.33 and by["bbbbbb"]["report"] is None
    assert by["cccccc"]["problem"] == "killed -9" and by["cccccc"]["score"] is None
    assert "gameday abort" in by["dddddd"]["problem"]
    assert "not a readable JSON journal" in by["eeeeee"]["problem"]
    assert by["eeeeee"]["start"] == "2026-11-22T08:40:00Z"  # from the run id
    assert "no journal.json" in by["ffffff"]["problem"]
    assert [r["run_id"][-6:] for r in _json(capsys, "--reports-dir", str(reports),
                                            "-n", "2")] == ["ffffff", "eeeeee"]


def test_runs_table_reads_at_a_glance(reports: Path, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    assert main(["runs", "--reports-dir", str(reports)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["started", "(UTC)", "runbook", "target", "verdict", "score",
                              "duration", "run"]
    assert out[6].split() == ["2026-11-22", "07:54:38", "smoke", "local", "PASS", "98",
                              "24", "s", "20261122-080000-smoke-aaaaaa"]
    assert any(line.startswith("20261122-082000-nightly-cccccc: killed -9") for line in out)


def test_runs_on_an_empty_or_missing_folder_says_so(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--reports-dir", str(tmp_path / "none")]) == 0
    assert "no runs in" in capsys.readouterr().out
    assert _json(capsys, "--reports-dir", str(tmp_path)) == []


def test_hostile_text_in_a_journal_cannot_reach_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = json.loads(RECORDED.read_text())
    _run(tmp_path, "20261122-080000-smoke-aaaaaa", 0, status="failed",
         error="boom\x1b[2J\x1b]0;owned\x07\nsecond line",
         runbook={**data["runbook"], "name": "x\x1b[31mred"})
    assert main(["runs", "--reports-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "boom?[2J?]0;owned??second line" in out
