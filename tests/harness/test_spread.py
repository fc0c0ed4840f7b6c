"""Trials spread over workers: a runbook split into repetitions, the children gathered."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import yaml

from gameday import metrics
from gameday.errors import GameDayError
from gameday.evidence.trials import trial_evidence
from gameday.journal import Journal, read_journal
from gameday.records import RequestRecord
from gameday.run_record import ChildRun, FaultRecord, JournalRecord, PhaseMetrics, PhaseRecord
from gameday.runbook import load_runbook
from gameday.spread import gather, repetition, repetitions

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 30, tzinfo=UTC)


def _runbook(tmp_path: Path, **changes) -> Path:
    data = yaml.safe_load((REPO / "runbooks" / "smoke.yaml").read_text())
    data["slo"]["ttd_s"].update(latency=1.0, intermittent=1.0)  # the sweeps below dose these
    data.update(changes)
    path = tmp_path / "smoke-trials.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_repetition_k_is_trial_k_with_the_shared_phases_exactly_as_one_process_runs_it(
        tmp_path) -> None:
    runbook = load_runbook(_runbook(tmp_path, trials=3, trial_order="shuffled"))
    assert repetitions(runbook) == 3
    whole = {p.name: p for p in runbook.phases}
    for k in (1, 2, 3):
        part = repetition(runbook, k)
        assert [p.trial for p in part.phases] == [None, k, k, None]
        assert part.phases[0].name == "baseline" and part.phases[-1].name == "recovery"
        # the same phase (name → load schedule; rotated replica; shuffled order)
        assert all(p == whole[p.name] for p in part.phases)
        assert [p.name for p in part.phases[1:3]] == [
            p.name for p in runbook.phases if p.trial == k]


def test_a_runbook_with_one_trial_or_a_search_cannot_be_spread(tmp_path) -> None:
    with pytest.raises(GameDayError, match="has one trial: nothing to spread"):
        repetitions(load_runbook(_runbook(tmp_path)))
    search = _runbook(tmp_path, phases=[
        {"name": "baseline", "duration_s": 2},
        {"name": "flaky", "fault": {"type": "intermittent", "target": "inventory/1"},
         "duration_s": 2,
         "sweep": {"param": "probability", "between": [0.1, 0.5], "trials": 2}}])
    with pytest.raises(GameDayError, match="searches for a breaking point"):
        repetitions(load_runbook(search))
    with pytest.raises(GameDayError, match="between 1 and 3"):
        repetition(load_runbook(_runbook(tmp_path, trials=3)), 4)


def _record(name: str, trial: int | None, ttd: float | None = None) -> PhaseRecord:
    kind = name.rsplit("-t", 1)[0]
    fault = FaultRecord(type=kind, component=str(trial)) if trial else None
    return PhaseRecord(name=name, trial=trial, repeats=kind if trial else None,
                       duration_s=5, start=NOW, fault=fault,
                       metrics=PhaseMetrics(requests=2, availability=1.0, ttd_s=ttd,
                                            ttr_s=0.2 if ttd is not None else None))


def _child(tmp_path: Path, k: int, ttd: float | None) -> tuple[ChildRun, JournalRecord]:
    """What repetition ``k``'s run leaves: its journal and requests (only its phases)."""
    names = ["baseline", f"crash-t{k}", f"incorrect_response-t{k}", "recovery"]
    phases = [_record(n, None if n in ("baseline", "recovery") else k,
                      ttd if n.startswith("crash") else 0.1) for n in names]
    journal = Journal(JournalRecord(start=NOW, run_id=f"child-{k}", status="completed",
                                    target_key=f"local:{7600 + 10 * k}", phases=phases))
    journal.add_requests(RequestRecord(n, "read", "P", 1000.0 + k, 0.01 * k, 200, True)
                         for n in names)
    run_dir = tmp_path / f"t{k}" / f"child-{k}"
    journal.write(run_dir)
    return (ChildRun(repetition=k, run_dir=str(run_dir), status="completed"),
            read_journal(run_dir / "journal.json"))


def test_gathered_trials_are_judged_like_one_run_and_keep_each_phase_as_its_child_wrote_it(
        tmp_path) -> None:
    path = _runbook(tmp_path, trials=3)
    runbook = load_runbook(path)
    kids = [_child(tmp_path, k, ttd) for k, ttd in ((1, 0.3), (2, 0.5), (3, None))]
    outcome = gather(runbook, path, [c for c, _ in kids], {c.repetition: j for c, j in kids},
                     reports_dir=tmp_path / "reports", seed=1, run_id="gathered")
    journal = read_journal(Path(outcome.journal))
    assert [p.name for p in journal.phases] == [p.name for p in runbook.phases]
    assert journal.phases[3] == kids[1][1].phases[1]  # crash-t2, from child 2, unchanged
    assert [c.run_dir for c in journal.children] == [c.run_dir for c, _ in kids]
    # the same evidence a one-process run computes from the same records
    assert journal.evidence == trial_evidence(journal.phases, runbook.slo, seed=1)
    crash = next(e for e in journal.evidence if e.fault_type == "crash")
    assert (crash.trials, crash.detected) == (3, 2)
    assert journal.verdict is not None and journal.verdict.outcome in ("fail", "inconclusive")
    requests = pd.read_csv(Path(outcome.run_dir) / "requests.csv")
    # shared phases from repetition 1 only, each trial's from its own child, in order
    assert list(requests["phase"]) == [p.name for p in runbook.phases]
    assert list(requests[requests["phase"] == "baseline"]["latency_s"]) == [0.01]


def test_a_trial_whose_run_left_no_journal_fails_the_gathered_run(tmp_path) -> None:
    path = _runbook(tmp_path, trials=2)
    runbook = load_runbook(path)
    first, journal = _child(tmp_path, 1, 0.3)
    lost = ChildRun(repetition=2, state="CRASHED", error="no journal (flow run CRASHED)")
    outcome = gather(runbook, path, [first, lost], {1: journal},
                     reports_dir=tmp_path / "reports", seed=1)
    assert outcome.status == "failed" and not outcome.passed
    assert "trial 2: no run (no journal (flow run CRASHED))" in outcome.failing_checks
    names = [p.name for p in read_journal(Path(outcome.journal)).phases]
    assert names == ["baseline", "crash-t1", "incorrect_response-t1", "recovery"]


def test_gameday_run_spread_over_refuses_one_trial_and_a_missing_prefect_server(
        tmp_path, monkeypatch, capsys) -> None:
    from gameday.cli import main

    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert main(["run", str(_runbook(tmp_path)), "--spread-over", "gameday/smoke"]) != 0
    assert "has one trial: nothing to spread over workers" in capsys.readouterr().err
    assert main(["run", str(_runbook(tmp_path, trials=2)), "--spread-over",
                 "gameday/smoke"]) != 0
    assert "--spread-over needs PREFECT_API_URL" in capsys.readouterr().err


def test_the_gathered_runs_cross_check_reads_each_phase_from_the_trial_that_recorded_it(
        tmp_path) -> None:
    from gameday.journal import load_run
    from gameday.spread import crosscheck_run

    path = _runbook(tmp_path, trials=2)
    kids = []
    for k in (1, 2):  # children whose recorded figures are those of their raw data
        child, journal = _child(tmp_path, k, None)
        _, requests, transitions = load_run(child.run_dir)
        for ph in journal.phases:
            ph.metrics = metrics.phase_metrics(requests, transitions, ph)
        Journal(journal).write(child.run_dir, raw=False)
        kids.append((child.model_copy(update={"run_id": journal.run_id}), journal))
    outcome = gather(load_runbook(path), path, [c for c, _ in kids],
                     {c.repetition: j for c, j in kids}, reports_dir=tmp_path / "r", seed=1)
    journal, requests, transitions = load_run(outcome.run_dir)
    assert all(not d for d in crosscheck_run(outcome.run_dir, journal, requests,
                                             transitions).values())
    shutil.rmtree(kids[1][0].run_dir)  # trial 2's raw data gone
    differ = crosscheck_run(outcome.run_dir, journal, requests, transitions)
    assert differ["crash-t2"] == ["the raw data of the trial that recorded it is missing"]
    assert differ["crash-t1"] == [] and differ["baseline"] == []


def test_a_fixed_sweep_spreads_by_its_trials_each_with_every_dose(tmp_path) -> None:
    runbook = load_runbook(_runbook(tmp_path, phases=[
        {"name": "baseline", "duration_s": 2},
        {"name": "slow", "fault": {"type": "latency", "target": "inventory/2"}, "duration_s": 2,
         "sweep": {"param": "latency_ms", "values": [100, 400], "trials": 2,
                   "metric": "ttd_s"}}]))
    assert repetitions(runbook) == 2
    part = repetition(runbook, 2)
    assert [p.name for p in part.phases] == ["baseline", "slow-d1-t2", "slow-d2-t2"]
    assert [p.fault.params()["latency_ms"] for p in part.phases[1:]] == [100, 400]
