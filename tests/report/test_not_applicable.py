"""A system whose answers say nothing of a quorum and that has no oracle (systems/lb.yaml)
has no quorum rate and no wrong answers: the metrics say None, no check is made, and every
place people read figures says "not applicable" — never 0, never a bare dash. A system
with both (systems/inventory.yaml) has its figures."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from gameday import metrics
from gameday.notify.messages import phase_message
from gameday.records import RequestRecord
from gameday.run_record import FaultRecord, JournalRecord, PhaseRecord, SystemInfo
from gameday.runbook import SloSpec
from gameday.summary import markdown_summary
from gameday.tables import plan_rows, readable_phase_table, runbook_slo

T0 = 1_800_000_000.0


def _requests(kind: str, *, quorum: bool | None, wrong: bool | None, n: int = 50,
              phase: str = "kill", ok_every: int = 25) -> pd.DataFrame:
    rows = [RequestRecord(phase, kind, "", T0 + i / 10, 0.01, 200, i % ok_every != 0,
                          quorum=quorum, wrong=wrong).as_dict() for i in range(n)]
    return metrics.requests_frame(rows)


def _phase(frame: pd.DataFrame, judged: bool | None) -> PhaseRecord:
    at = datetime.fromtimestamp(T0, UTC)
    record = PhaseRecord(name="kill", duration_s=5.0, start=at, end=at,
                         fault=FaultRecord(type="kill", component="backend/b"))
    record.metrics = metrics.phase_metrics(frame, metrics.transitions_frame([]), record,
                                           judged=judged)
    return record


def test_a_system_without_voter_or_oracle_has_no_quorum_rate_and_no_wrong_answers() -> None:
    frame = _requests("item", quorum=None, wrong=None)
    m = _phase(frame, judged=False).metrics
    assert (m.quorum_rate, m.wrong_answers) == (None, None)
    assert m.availability == 0.96
    # a system's request named "read" is still no voter read: no quorum was recorded
    assert metrics.quorum_rate(_requests("read", quorum=None, wrong=None)) is None
    # inferred from the run's data when not said: nothing judged, nothing to count
    assert _phase(frame, judged=None).metrics.wrong_answers is None
    checks = metrics.evaluate(m, SloSpec(), "kill")
    assert [c.name for c in checks] == ["availability"]  # no quorum, no wrong answers


def test_the_inventory_stacks_reads_keep_their_quorum_rate_and_wrong_answers() -> None:
    frame = _requests("read", quorum=True, wrong=False)
    m = _phase(frame, judged=True).metrics
    assert (m.quorum_rate, m.wrong_answers) == (1.0, 0)
    names = [c.name for c in metrics.evaluate(m, SloSpec(), "crash")]
    assert names[:3] == ["availability", "quorum_rate", "wrong_answers"]


def test_a_systems_requests_count_towards_the_achieved_rate() -> None:
    frame = _requests("item", quorum=None, wrong=None, n=50)
    assert metrics.achieved_rate(frame, 5.0) == 10.0
    # follow-ups ("<request>><n>") are not scheduled
    follow = _requests("order>1", quorum=None, wrong=None, n=50)
    assert metrics.achieved_rate(pd.concat([frame, follow]), 5.0) == 10.0


def test_requests_files_of_older_runs_read_in_todays_names(tmp_path: Path) -> None:
    """Before journal version 3 the values drawn were ``product_id`` and the stack's order
    cancels were ``cancel``: read as ``key`` and a follow-up (not scheduled)."""
    path = tmp_path / "requests.csv"
    path.write_text("phase,kind,product_id,intended_s,latency_s,status,ok,error,quorum,"
                    "value,wrong\n"
                    + "".join(f"p,read,PROD-001,{T0 + i / 10},0.01,200,True,,True,5.0,False\n"
                              for i in range(50))
                    + "".join(f"p,cancel,PROD-002,{T0 + i / 10},0.01,200,True,,,,\n"
                              for i in range(50)))
    frame = metrics.requests_frame(path)
    assert set(frame["key"]) == {"PROD-001", "PROD-002"}
    assert set(frame["kind"]) == {"read", "write>1"}
    assert metrics.achieved_rate(frame, 5.0) == 10.0


def _journal(phase: PhaseRecord, system: SystemInfo | None) -> JournalRecord:
    return JournalRecord(start=datetime.fromtimestamp(T0, UTC), run_id="r", system=system,
                         phases=[phase])


def test_people_read_not_applicable_where_the_system_has_no_such_figure() -> None:
    phase = _phase(_requests("item", quorum=None, wrong=None), judged=False)
    journal = _journal(phase, SystemInfo(name="lb", detector="status"))
    row = readable_phase_table(journal).iloc[0]
    assert (row["quorum rate"], row["wrong answers"]) == ("not applicable", "not applicable")
    slack = phase_message(phase)
    assert "not applicable" in str(slack.blocks) and "Wrong answers" in str(slack.blocks)


def test_the_inventory_report_shows_its_figures_as_before() -> None:
    phase = _phase(_requests("read", quorum=True, wrong=False), judged=True)
    row = readable_phase_table(_journal(phase, None)).iloc[0]
    assert row["quorum rate"].endswith("100 %") and row["wrong answers"].endswith("0")
    assert "not applicable" not in str(phase_message(phase).blocks)


def test_the_plan_and_the_slo_list_name_a_systems_components_and_faults() -> None:
    runbook = {"system": "systems/lb.yaml",
               "slo": {"availability": 0.99, "quorum_rate": 0.99, "wrong_answers": 0,
                       "ttd_s": {"crash": 0.8, "kill": 1.0, "hang": 1.5}},
               "phases": [{"name": "b", "duration_s": 6},
                          {"name": "k", "duration_s": 8, "recovery": {"action": "restart"},
                           "fault": {"type": "kill", "target": "backend/b", "replica": None}}]}
    assert [r["fault"] for r in plan_rows(runbook)] == ["—", "kill on backend/b"]
    lb_phases = [_phase(_requests("item", quorum=None, wrong=None), judged=False)]
    assert runbook_slo(runbook, lb_phases) == {"availability": 0.99, "ttd_s": {"kill": 1.0}}
    # a system whose answers say whether a quorum served them, judged by an oracle
    voted = [_phase(_requests("read", quorum=True, wrong=False), judged=True)]
    assert runbook_slo(runbook, voted) == {"availability": 0.99, "quorum_rate": 0.99,
                                           "wrong_answers": 0, "ttd_s": {"kill": 1.0}}
    version_1 = {"slo": runbook["slo"], "phases": [
        {"name": "c", "duration_s": 1, "fault": {"type": "crash", "replica": "2"}}]}
    assert plan_rows(version_1)[0]["fault"] == "crash on 2"


def test_the_markdown_summary_says_not_applicable_for_a_system(tmp_path: Path) -> None:
    from gameday.run_record import Outcome

    phase = _phase(_requests("item", quorum=None, wrong=None), judged=False)
    journal = _journal(phase, SystemInfo(name="lb"))
    outcome = Outcome(run_id="r", name="lb", passed=False, score=0.0, status="failed",
                      failing_checks=[], journal=str(tmp_path / "journal.json"),
                      run_dir=str(tmp_path))
    row = next(line for line in markdown_summary(journal, outcome).splitlines()
               if line.startswith("| kill"))
    assert row.count("not applicable") == 2
