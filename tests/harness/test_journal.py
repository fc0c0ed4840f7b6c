from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from gameday.journal import Journal, environment_fingerprint, load_run, new_run_id
from gameday.paths import RUNBOOKS_DIR
from gameday.records import REQUEST_COLUMNS, TRANSITION_COLUMNS, RequestRecord
from gameday.runbook import load_runbook

RUNBOOK = RUNBOOKS_DIR / "smoke.yaml"


def test_run_ids_sort_by_time_and_use_safe_characters() -> None:
    a = new_run_id("Standard GameDay!", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    b = new_run_id("standard", datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC))
    assert re.fullmatch(r"20260102-030405-standard-gameday-[0-9a-f]{6}", a)
    assert re.fullmatch(r"[a-z0-9-]+", b) and a < b
    assert new_run_id("x") != new_run_id("x")


def test_environment_fingerprint_names_code_target_runbook_and_packages() -> None:
    env = environment_fingerprint("local", RUNBOOK)
    assert env["target"] == "local"
    assert len(env["runbook_sha256"]) == 64
    assert env["git_sha"] == "unknown" or re.match(r"[0-9a-f]{40}", env["git_sha"])
    assert set(env["packages"]) >= {"prefect", "httpx", "pandas", "plotly", "papermill",
                                    "slack-sdk", "gameday"}
    assert env["packages"]["pandas"] == pd.__version__


def _journal() -> Journal:
    rb = load_runbook(RUNBOOK)
    j = Journal("20260102-030405-smoke-abcdef", rb, RUNBOOK, target="local",
                environment=environment_fingerprint("local", RUNBOOK))
    j.start()
    j.steady_state("before", {"ok": True})
    j.steady_state("during", {"ok": True, "phase": "crash"})
    with j.activity("inject crash on replica 3", "action", phase="crash") as out:
        out["response"] = {"failure_injected": True}
    with pytest.raises(RuntimeError), j.activity("clear replica 3", rollback=True):
        raise RuntimeError("replica 3 unreachable")
    j.add_phase({"name": "crash", "fault": {"type": "crash", "replica": "3"},
                 "metrics": {"availability": float("nan")}, "checks": [], "passed": True})
    j.add_requests([
        RequestRecord("crash", "read", "PROD-001", 1.5, 0.01, 200, True, "", True, 1000.0,
                      False, 0.001),
        RequestRecord("crash", "write", "PROD-002", 1.6, 1.0, 0, False, "timeout"),
    ])
    j.set_transitions([{"service_name": "inventory-svc", "instance_id": "3", "status": "OFF",
                        "at": "2026-01-02T03:04:06+00:00", "reason": "health check failed"}])
    j.observe("voter kept answering", role="observer", phase="crash")
    j.notification("slack", "phase_end", ok=False, error="rate limited")
    j.abort("availability fell", phase="crash")
    j.verdict(False, 61.234, ["crash: ttd_s None"])
    j.end("aborted", deviated=True)
    return j


def test_journal_round_trip_and_chaos_toolkit_shape(tmp_path: Path) -> None:
    _journal().write(tmp_path)
    journal, requests, transitions = load_run(tmp_path)
    assert journal["status"] == "aborted" and journal["deviated"] is True
    assert journal["runbook"]["name"] == "smoke" and journal["seed"] == 1
    assert journal["runbook_path"] == str(RUNBOOK)
    run, = journal["run"]
    assert run["activity"] == {"name": "inject crash on replica 3", "type": "action",
                               "phase": "crash"}
    assert run["status"] == "succeeded" and run["output"] == {
        "response": {"failure_injected": True}}
    assert set(run) == {"activity", "start", "end", "duration", "status", "output"}
    rb, = journal["rollbacks"]
    assert rb["status"] == "failed" and rb["exception"] == "RuntimeError: replica 3 unreachable"
    assert journal["phases"][0]["metrics"]["availability"] is None  # NaN is not JSON
    assert journal["steady_states"]["during"] == [{"ok": True, "phase": "crash"}]
    assert journal["abort"]["reason"] == "availability fell"
    assert journal["verdict"] == {"passed": False, "score": 61.23,
                                  "failing_checks": ["crash: ttd_s None"]}
    assert journal["observations"][0]["role"] == "observer"
    assert journal["notifications"][0] == {**journal["notifications"][0], "ok": False,
                                           "error": "rate limited"}
    assert datetime.fromisoformat(journal["start"]) <= datetime.fromisoformat(journal["end"])
    assert requests["error"].tolist() == ["", "timeout"]
    assert requests["ok"].tolist() == [True, False]
    assert transitions.iloc[0]["instance_id"] == "3"


def test_csv_files_have_the_documented_columns(tmp_path: Path) -> None:
    _journal().write(tmp_path)
    req = pd.read_csv(tmp_path / "requests.csv")
    assert tuple(req.columns) == REQUEST_COLUMNS
    assert tuple(REQUEST_COLUMNS[:11]) == ("phase", "kind", "product_id", "intended_s",
                                           "latency_s", "status", "ok", "error", "quorum",
                                           "value", "wrong")
    assert tuple(pd.read_csv(tmp_path / "transitions.csv").columns) == TRANSITION_COLUMNS
    json.loads((tmp_path / "journal.json").read_text())  # plain JSON


def test_write_leaves_no_temporary_files_and_can_repeat(tmp_path: Path) -> None:
    j = _journal()
    j.write(tmp_path)
    j.write(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "journal.json", "requests.csv", "transitions.csv"]


def test_end_refuses_an_unknown_status() -> None:
    with pytest.raises(ValueError, match="status must be one of"):
        _journal().end("exploded")  # type: ignore[arg-type]


def test_load_run_of_a_folder_without_journal_says_so(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no journal here"):
        load_run(tmp_path)
