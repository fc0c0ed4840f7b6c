"""gameday.session.Session: checklist, lock, re-run, skip, abort with rollback."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from gameday.config import get_settings
from gameday.errors import GameDayError, TargetLocked
from gameday.observations import human_vs_monitor_table, observations_table
from gameday.run_record import JournalRecord
from gameday.safety import TargetLock
from gameday.session import Session, parse_when
from inventory_system import wait_on


def _closed_base_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1]) - 8


def test_start_refuses_until_the_checklist_passes(
    tmp_path: Path, write_runbook: Callable[..., Path]
) -> None:
    settings = get_settings(base_port=_closed_base_port(), state_dir=tmp_path / "state",
                            reports_dir=tmp_path / "reports")
    session = Session(write_runbook(), settings=settings, roles={"owner": "Ana"}, show=False)
    with pytest.raises(GameDayError, match=r"checklist not passed: \(not run\)"):
        session.start()
    checks = {c.item: c for c in session.checklist(abort_criteria_agreed=False)}
    assert not checks["roles assigned"].ok
    assert "coordinator" in checks["roles assigned"].detail
    healthy = checks["system healthy"]  # which probe failed, on which replica, and why
    assert not healthy.ok and "probe alive [inventory/1]" in healthy.detail
    assert "ConnectError" in healthy.detail
    slack = checks["Slack reachable"]
    assert slack.ok and "not configured" in slack.detail
    assert not checks["abort criteria agreed"].ok
    with pytest.raises(GameDayError) as err:
        session.start()
    for item in ("roles assigned", "system healthy", "abort criteria agreed"):
        assert item in str(err.value)
    assert not (tmp_path / "reports").exists()  # nothing touched


def test_unknown_phase_names_are_refused_with_the_runbooks_phases(
    write_runbook: Callable[..., Path]
) -> None:
    with pytest.raises(GameDayError, match="no such phase.*baseline, crash"):
        Session(write_runbook(), skip=["latncy"], show=False)
    session = Session(write_runbook(), show=False)
    with pytest.raises(GameDayError, match="'latency' is not in .*make lab RUNBOOK"):
        session.run_phase("latency")


def test_parse_when_reads_clock_times_iso_and_epochs() -> None:
    base = datetime(2026, 3, 1, 9, 0, 0).timestamp()
    assert parse_when("14:03:12", base=base) == datetime(2026, 3, 1, 14, 3, 12).timestamp()
    assert parse_when("2026-03-01T13:00:00+00:00") == datetime(2026, 3, 1, 13,
                                                                tzinfo=UTC).timestamp()
    assert parse_when(12.5) == 12.5
    with pytest.raises(ValueError, match="HH:MM:SS"):
        parse_when("yesterday")


def test_observation_tables_put_the_first_human_notice_beside_the_ttd() -> None:
    journal = JournalRecord.model_validate({
        "run_id": "r", "start": "2026-03-01T09:58:00+00:00",
        "phases": [
            {"name": "baseline", "fault": None, "metrics": {}, "duration_s": 1,
             "start": "2026-03-01T09:59:00+00:00"},
            {"name": "crash", "fault": {"type": "crash", "replica": "2"}, "duration_s": 1,
             "start": "2026-03-01T10:00:00+00:00",
             "injected_at": "2026-03-01T10:00:00+00:00", "metrics": {"ttd_s": 0.4}},
            {"name": "latency", "fault": {"type": "latency", "replica": "3"}, "duration_s": 1,
             "start": "2026-03-01T10:01:00+00:00",
             "injected_at": "2026-03-01T10:01:00+00:00", "metrics": {"ttd_s": 0.7}},
        ],
        "observations": [
            {"at": "2026-03-01T10:00:09+00:00", "role": "observer", "phase": "crash",
             "kind": "noticed", "text": "late one"},
            {"at": "2026-03-01T10:00:04+00:00", "role": "sre", "phase": "crash",
             "kind": "noticed", "text": "dashboard red"},
            {"at": "2026-03-01T09:59:00+00:00", "role": "reporter", "phase": "baseline",
             "text": "all quiet"},  # an old journal without "kind"
        ],
    })
    obs = observations_table(journal)
    assert list(obs["text"]) == ["all quiet", "dashboard red", "late one"]
    assert list(obs["kind"]) == ["note", "noticed", "noticed"]
    assert obs["after_injection_s"].isna().iloc[0] and obs["after_injection_s"].iloc[1] == 4.0
    human = human_vs_monitor_table(journal).set_index("phase")
    assert human.loc["crash", "human_noticed_s"] == 4.0
    assert human.loc["crash", "noticed_by"] == "sre" and human.loc["crash", "monitor_ttd_s"] == 0.4
    assert human["human_noticed_s"].isna()["latency"]


@pytest.mark.slow
def test_rerun_abort_and_lock_against_a_real_stack(
    local_stack, clean_faults, session_env: Path, write_runbook: Callable[..., Path]
) -> None:
    runbook = write_runbook([
        {"name": "baseline", "duration_s": 2},
        {"name": "latency", "fault": {"type": "latency", "target": "inventory/2",
                                      "params": {"latency_ms": 500}},
         "duration_s": 10},
        {"name": "recovery", "duration_s": 2},
    ])
    session = Session(runbook, roles={"owner": "A", "coordinator": "B", "reporter": "C"},
                      rerun=["baseline"], abort_during="latency", abort_after_s=1.5,
                      show=False)
    items = session.checklist(abort_criteria_agreed=True)
    assert all(c.ok for c in items), [c for c in items if not c.ok]
    session.start()
    key = f"local:{local_stack.base_port}"
    holder = TargetLock.holder(local_stack.settings.state_dir, key)
    assert holder and holder["run_id"] == session.run.journal.run_id
    with pytest.raises(TargetLocked, match="already running"):
        TargetLock(local_stack.settings.state_dir, key).acquire()

    session.run_phase("baseline")  # planned re-run: recorded twice
    t0 = time.monotonic()
    aborted = session.run_phase("latency")
    took = time.monotonic() - t0
    assert aborted is not None and aborted.aborted and "abort_during" in aborted.aborted
    assert took < 8, f"the abort stopped a 10 s phase after {took:.1f} s"
    assert aborted.rolled_back_at is not None
    assert session.state == "aborted"
    assert session.run_phase("recovery") is None  # nothing runs after an abort
    session.note("we stopped on purpose", role="owner")
    with pytest.raises(GameDayError, match="a GameDay's roles are owner, coordinator, "
                                           "reporter, observer"):
        session.note("who am I", role="Scribe")  # the old README's vocabulary

    # rolled back: replica 2 holds no fault (its own word, not a latency a busy machine
    # can blur) and every replica is ON
    fault = httpx.get(f"{local_stack.urls.replica('2')}/inject-failure", timeout=5).json()
    assert fault["failure_injected"] is False and fault["fault"] is None, fault
    wait_on(local_stack, "inventory/2", timeout_s=10)

    verdict = session.finish(report=False)
    journal = session.run.journal.record
    assert [p.name for p in journal.phases] == ["baseline", "baseline-rerun1", "latency"]
    assert journal.status == "aborted" and verdict.status == "aborted"
    assert journal.abort is not None and journal.abort.phase == "latency"
    assert "run aborted" in verdict.failing_checks
    assert any(o.text == "we stopped on purpose" for o in journal.observations)
    assert any(r.activity.name == "roll back everything" for r in journal.rollbacks)
    assert [n.kind for n in journal.notifications] == [
        "start", "phase_end", "phase_end", "phase_end", "abort", "verdict"]
    assert TargetLock.holder(local_stack.settings.state_dir, key) is None
