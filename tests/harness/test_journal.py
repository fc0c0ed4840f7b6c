from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from gameday.fingerprint import utc_time
from gameday.journal import (
    Journal,
    JournalUnreadable,
    environment_fingerprint,
    load_run,
    missing_parts,
    new_run_id,
    read_journal,
)
from gameday.paths import REPO_ROOT, RUNBOOKS_DIR
from gameday.records import REQUEST_COLUMNS, TRANSITION_COLUMNS, RequestRecord
from gameday.run_record import (
    Environment,
    JournalRecord,
    NotificationRecord,
    Observation,
    PhaseRecord,
    json_schema,
)
from gameday.runbook import load_runbook, runbook_sha256

RUNBOOK = RUNBOOKS_DIR / "smoke.yaml"
OLD_RUN = REPO_ROOT / "tests" / "report" / "fixtures" / "run-smoke" / "journal.json"


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
    j = Journal(JournalRecord(
        run_id="20260102-030405-smoke-abcdef", start=utc_time(), seed=rb.seed,
        runbook=rb.model_dump(mode="json"), runbook_path=str(RUNBOOK),
        runbook_sha256=runbook_sha256(RUNBOOK),
        environment=Environment(**environment_fingerprint("local", RUNBOOK))))
    j.steady_state("before", {"ok": True})
    j.steady_state("during", {"ok": True, "phase": "crash"})
    with j.activity("inject crash on inventory/3", "action", phase="crash") as out:
        out["response"] = {"failure_injected": True}
    with pytest.raises(RuntimeError), j.activity("clear replica 3", rollback=True):
        raise RuntimeError("replica 3 unreachable")
    j.add_phase(PhaseRecord(name="crash", fault={"type": "crash", "component": "3"},
                            duration_s=5, start=utc_time(), passed=True))
    j.add_requests([
        RequestRecord("crash", "read", "PROD-001", 1.5, 0.01, 200, True, "", True, 1000.0,
                      False, 0.001),
        RequestRecord("crash", "write", "PROD-002", 1.6, 1.0, 0, False, "timeout"),
    ])
    j.set_transitions([{"service_name": "inventory-svc", "instance_id": "3", "status": "OFF",
                        "at": "2026-01-02T03:04:06+00:00", "reason": "health check failed"}])
    j.observe(Observation(at=utc_time(), role="observer", phase="crash",
                          text="voter kept answering"))
    j.add_notifications([NotificationRecord(at=utc_time(), channel="slack-bot",
                                            kind="phase_end", ok=False, error="rate limited")])
    j.abort("availability fell", phase="crash")
    j.verdict(False, 61.234, ["crash: ttd_s None"])
    j.end("aborted", deviated=True)
    return j


def test_journal_round_trip_and_chaos_toolkit_shape(tmp_path: Path) -> None:
    _journal().write(tmp_path)
    typed, requests, transitions = load_run(tmp_path)
    assert isinstance(typed, JournalRecord) and typed.version == 3
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["status"] == "aborted" and journal["deviated"] is True
    assert journal["runbook"]["name"] == "smoke" and journal["seed"] == 1
    assert journal["runbook_path"] == str(RUNBOOK)
    run, = journal["run"]
    assert run["activity"] == {"name": "inject crash on inventory/3", "type": "action",
                               "phase": "crash"}
    assert run["status"] == "succeeded" and run["output"] == {
        "response": {"failure_injected": True}}
    assert set(run) == {"activity", "start", "end", "duration", "status", "output",
                        "exception"} and run["exception"] is None
    rb, = journal["rollbacks"]
    assert rb["status"] == "failed" and rb["exception"] == "RuntimeError: replica 3 unreachable"
    assert journal["phases"][0]["metrics"]["availability"] is None
    assert journal["phases"][0]["fault"] == {"type": "crash", "component": "3", "params": {},
                                             "ttl_s": None}
    assert journal["steady_states"]["during"] == [{"ok": True, "phase": "crash"}]
    assert journal["abort"]["reason"] == "availability fell"
    assert journal["verdict"] == {"passed": False, "score": 61.23,
                                  "failing_checks": ["crash: ttd_s None"],
                                  "outcome": None, "inconclusive": []}  # one trial
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
    assert tuple(REQUEST_COLUMNS[:11]) == ("phase", "kind", "key", "intended_s",
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
    with pytest.raises(JournalUnreadable, match="no journal here"):
        load_run(tmp_path)


def test_the_published_json_schema_is_the_models_schema() -> None:
    """docs/journal.schema.json is generated: `python -m gameday.run_record > docs/…`."""
    published = (REPO_ROOT / "docs" / "journal.schema.json").read_text(encoding="utf-8")
    assert published == json_schema(), "regenerate docs/journal.schema.json"


def test_a_journal_written_before_the_schema_validates_and_reads_typed() -> None:
    old = read_journal(OLD_RUN)
    assert old.version == 1 and old.status == "failed"
    crash = next(p for p in old.phases if p.name == "crash")
    # version 1 journalled a crash with every fault type's parameters; only its own remain
    assert crash.fault is not None and crash.fault.model_dump() == {
        "type": "crash", "component": "3", "params": {}, "ttl_s": None}
    wrong = next(p for p in old.phases if p.name == "incorrect_response")
    assert wrong.fault is not None and wrong.fault.params == {"product_id": "PROD-003"}
    # SLO targets were text ("≤ 261.4"): now numbers
    p95 = next(c for c in crash.checks if c.name == "latency_p95_ms")
    assert p95.target.model_dump() == {"op": "<=", "value": 261.4}
    assert old.missing() == []


def test_a_journal_that_does_not_match_the_schema_is_refused_naming_file_and_field(
    tmp_path: Path,
) -> None:
    data = json.loads(OLD_RUN.read_text())
    data["phases"][1]["metrics"]["ttd_s"] = "fast"
    data["phases"][2]["checks"][0]["target"] = "roughly"
    path = tmp_path / "journal.json"
    path.write_text(json.dumps(data))
    with pytest.raises(JournalUnreadable) as err:
        read_journal(path)
    lines = str(err.value).splitlines()
    assert lines[0] == f"{path}: phases[1].metrics.ttd_s: must be a number (got 'fast')"
    assert lines[1].startswith(f"{path}: phases[2].checks[0].target")
    assert "roughly" in lines[1]


def test_a_half_written_journal_says_what_is_missing(tmp_path: Path) -> None:
    j = _journal()
    j.update(status="running", end=None, verdict=None, abort=None)
    with j.activity("inject latency on inventory/3", "action", phase="latency"):
        pass
    j.write(tmp_path, raw=False)
    journal = read_journal(tmp_path / "journal.json")
    missing = missing_parts(tmp_path, journal)
    assert missing[0].startswith("the run did not finish: still marked running")
    assert "phase baseline: not run" in missing
    assert "phase recovery: not run" in missing
    assert "no verdict (the run never concluded)" in missing
    assert "requests.csv was never written" in missing
    assert "no check of the system's invariants" in missing


def test_a_half_written_system_run_misses_its_invariants_not_a_ledger(tmp_path: Path) -> None:
    j = _journal()
    j.update(status="running", end=None, verdict=None, abort=None,
             system={"name": "lb", "file": "systems/lb.yaml", "detector": "status"})
    j.write(tmp_path, raw=False)
    missing = read_journal(tmp_path / "journal.json").missing()
    assert "no check of the system's invariants (lb)" in missing
    assert not any("ledger" in line for line in missing)


def test_a_version_2_journal_reads_in_todays_names(tmp_path: Path) -> None:
    """Version 2 named the project's first system's parts (its voter, replicas, ledger and
    order cancels); such a journal reads in version 3's names, and nothing is lost."""
    old = {
        "version": 2, "run_id": "r", "start": "2026-11-01T00:00:00Z", "status": "interrupted",
        "ledger_before": {"oracle": {"PROD-001": 100}},
        "phases": [{"name": "slow", "duration_s": 3, "start": "2026-11-01T00:00:01Z",
                    "fault": {"type": "latency", "component": "inventory/2"},
                    "metrics": {"requests": 30, "voter_timeout_share": 0.25},
                    "voter": {"replica": "inventory/2", "asked": 8, "timed_out": 2,
                              "timeout_s": 0.3}}],
        "consistency": {"ok": False, "ledger": {"PROD-001": 99}, "replicas": {"1": 98},
                        "mismatches": [{"invariant": "stock", "member": "1", "detail": "98"}],
                        "waited_s": 1.5},
        "interruption": {"found_at": "2026-11-01T00:01:00Z", "found_by": "gameday abort",
                         "reason": "its process is gone", "cancels_sent": 3,
                         "cancels_failed": ["17"]},
        "sweeps": [{"phase": "slow", "fault_type": "latency", "param": "latency_ms",
                    "metric": "voter_timeout_share", "target": {"op": "<=", "value": 0.5},
                    "breaking_point": {"kind": "unsettled"}}],
    }
    (tmp_path / "journal.json").write_text(json.dumps(old))
    journal = read_journal(tmp_path / "journal.json")
    assert journal.version == 2 and journal.oracle_before == {"oracle": {"PROD-001": 100}}
    [phase] = journal.phases
    assert phase.metrics.front_timeout_share == 0.25
    assert phase.front is not None and (phase.front.member, phase.front.asked,
                                        phase.front.timed_out) == ("inventory/2", 8, 2)
    assert journal.consistency is not None and journal.consistency.mismatches == [
        {"invariant": "stock", "member": "1", "detail": "98"}]
    assert journal.interruption is not None
    assert (journal.interruption.follow_ups_sent,
            journal.interruption.follow_ups_failed) == (3, ["17"])
    assert journal.sweeps[0].metric == "front_timeout_share"
    # written again, it is a journal of today's shape
    again = json.loads(journal.model_dump_json(by_alias=True))
    assert "voter" not in again["phases"][0] and "ledger_before" not in again
