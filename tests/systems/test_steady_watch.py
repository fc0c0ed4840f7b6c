"""Steady-state probes with ``during`` are a continuous abort condition (docs/systems.md):
a GameDay on a real local system (the pair app over HTTP) whose watched probe fails for
longer than its grace is aborted through the engine's abort path, rolls back, and says
which probe failed and what it saw; one whose watched probe holds runs to the end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gameday import engine
from gameday.errors import SystemFileError
from gameday.headline import verdict_banner
from gameday.journal import read_journal
from gameday.lifecycle import GameDay
from gameday.systems.loader import load_system
from pair_system import SYSTEM, Pair, isolate_gameday_env, pair_runbook, pair_system

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Pair, Path, int]]:
    isolate_gameday_env(tmp_path, monkeypatch)
    with pair_system(tmp_path) as (system, port):
        yield system, tmp_path, port


def _with_probes(folder: Path, **probes: Any) -> None:
    data = json.loads(json.dumps(SYSTEM))
    data["steady_state"].update(probes)
    (folder / "pair.yaml").write_text(yaml.safe_dump(data))


def _run_like_the_flow(gd: GameDay) -> tuple[Any, engine.GameDayRun]:
    """What flows/gameday.py does with an aborted phase: abort, stop, finish."""
    with gd.locked():
        run = gd.open()
        status = "completed"
        engine.preflight(run)
        for phase in gd.runbook.phases:
            record = engine.run_phase(run, phase)
            if record.aborted:
                status = "aborted"
                gd.abort(record.aborted, phase.name)
                break
        return gd.finish(status, report=False, announce=False), run


def test_a_watched_probe_failing_beyond_its_grace_aborts_the_run_and_says_what_it_saw(
        pair) -> None:
    system, folder, port = pair
    _with_probes(folder, motd_b={"url": "{{ web[1].url }}/motd",
                                 "expect": {"json": {"motd": "hello"}},
                                 "during": {"interval_s": 0.05, "grace_s": 0.3}})
    gd = GameDay.prepare(pair_runbook(folder, phases=[
        {"name": "baseline", "duration_s": 1.0},
        {"name": "break-b", "duration_s": 6.0, "fault": {"type": "break", "target": "web/b"}},
        {"name": "recovery", "duration_s": 1.0}]), base_port=port, progress=lambda _: None)
    outcome, run = _run_like_the_flow(gd)

    journal = read_journal(run.run_dir / "journal.json")
    assert journal.status == "aborted" and not outcome.passed
    assert journal.abort is not None and journal.abort.phase == "break-b"
    reason = journal.abort.reason
    assert reason.startswith("steady-state probe motd_b failed for ")
    assert "longer than its grace of 0.3 s" in reason
    assert f"motd is {HOSTILE}, expected hello" in reason  # the value it saw
    # aborted well before the phase's 6 s were up, and the recovery phase never ran
    phases = {p.name: p for p in journal.phases}
    assert list(phases) == ["baseline", "break-b"]
    broke = phases["break-b"]
    assert broke.aborted == reason
    assert (broke.end - broke.start).total_seconds() < 3.0
    assert any(c.name == "not_aborted" and not c.passed for c in broke.checks)
    assert system.faulted == {}  # the rollback ran
    during = journal.steady_states.during
    assert [d["phase"] for d in during] == ["baseline", "break-b"]
    assert during[0]["ok"] is True and during[0]["probes"] == ["motd_b"]
    assert during[1]["ok"] is False and during[1]["failed"]["probe"] == "motd_b"
    assert during[1]["failed"]["failing_s"] > 0.3
    # the report's banner says it, escaped
    banner = verdict_banner(journal)
    assert "ABORTED" in banner and "steady-state probe motd_b failed" in banner
    assert HOSTILE not in banner and "&lt;img src=x onerror=alert(1)&gt;" in banner


def test_a_watched_probe_that_holds_through_the_faults_lets_the_run_finish(pair) -> None:
    system, folder, port = pair
    # the front door holds while one member is broken (it answers from the other)
    _with_probes(folder, front_ok={"url": "{{ front.url }}/item/apple",
                                   "expect": {"json": {"ok": True}},
                                   "during": {"interval_s": 0.05, "grace_s": 0.0}})
    gd = GameDay.prepare(pair_runbook(folder), base_port=port, progress=lambda _: None)
    outcome, run = _run_like_the_flow(gd)

    journal = read_journal(run.run_dir / "journal.json")
    assert journal.status != "aborted" and journal.abort is None
    assert [p.name for p in journal.phases] == ["baseline", "break-b", "recovery"]
    during = journal.steady_states.during
    assert [d["phase"] for d in during] == ["baseline", "break-b", "recovery"]
    assert all(d["ok"] for d in during) and during[-1]["polls"] >= 20
    assert outcome.passed, outcome.failing_checks


def test_a_short_failure_within_the_grace_does_not_abort(pair) -> None:
    system, folder, port = pair
    # member b's motd fails for the 1.5 s of its fault: within a 5 s grace
    _with_probes(folder, motd_b={"url": "{{ web[1].url }}/motd",
                                 "expect": {"json": {"motd": "hello"}},
                                 "during": {"interval_s": 0.05, "grace_s": 5}})
    gd = GameDay.prepare(pair_runbook(folder), base_port=port, progress=lambda _: None)
    outcome, run = _run_like_the_flow(gd)
    journal = read_journal(run.run_dir / "journal.json")
    assert journal.abort is None and len(journal.phases) == 3
    assert journal.steady_states.during[-1]["blips"] >= 1
    assert outcome.passed, outcome.failing_checks


@pytest.mark.parametrize(("during", "message"), [
    ({"grace": 1}, "steady_state.p.during.grace: unknown field; allowed: interval_s, grace_s"),
    ({"grace_s": -1}, "steady_state.p.during.grace_s"),
    ({"interval_s": 0}, "steady_state.p.during.interval_s"),
    ("yes", "steady_state.p.during"),
])
def test_a_bad_during_is_refused_naming_the_file_and_field(
        tmp_path: Path, during: Any, message: str) -> None:
    data = json.loads(json.dumps(SYSTEM))
    data["steady_state"] = {"p": {"url": "{{ front.url }}", "during": during}}
    path = tmp_path / "pair.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SystemFileError) as err:
        load_system(path)
    assert f"{path}: " in str(err.value) or "pair.yaml" in str(err.value)
    assert message in str(err.value)


def test_the_abort_criteria_a_team_agrees_on_name_the_watched_probes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gameday.checklist import abort_criteria

    isolate_gameday_env(tmp_path, monkeypatch)
    _with_probes(tmp_path, front_ok={"url": "{{ front.url }}/item/apple",
                                     "during": {"interval_s": 0.5, "grace_s": 2}})
    gd = GameDay.prepare(pair_runbook(tmp_path), base_port=7601, progress=lambda _: None)
    assert gd.system is not None
    text = "\n".join(abort_criteria(gd.runbook, 30, gd.system.resolved.system))
    assert ("the steady-state probe front_ok of system pair failing for longer than 2 s "
            "(sent every 0.5 s) aborts the phase") in text
    assert "probe front " not in text  # probes without `during` are not abort conditions


def test_the_time_a_probe_failed_never_reads_as_its_grace(tmp_path: Path) -> None:
    """Failing 0.3002 s against a grace of 0.3 s is reported as 0.301 s, not rounded down
    to 0.3 (which says "failed for 0.3 s, longer than its grace of 0.3 s")."""
    from gameday.systems.resolve import resolve
    from gameday.systems.watch import SteadyStateWatch

    path = tmp_path / "gone.yaml"
    path.write_text(yaml.safe_dump({
        "name": "gone", "components": {"web": {"url": "http://127.0.0.1:9"}},
        "load": {"requests": {"get": {"url": "{{ web[0].url }}/"}}},
        "steady_state": {"up": {"url": "{{ web[0].url }}/",
                                "during": {"interval_s": 0.05, "grace_s": 0.3}}}}))
    ticks = iter([0.0, 0.0, 0.3, 0.3002])  # (sent, answered) of two polls
    watch = SteadyStateWatch(resolve(load_system(path)), clock=lambda: next(ticks))
    watch.poll_once("up")
    assert watch.failure is None  # failing, within its grace
    watch.poll_once("up")
    assert watch.failure is not None and watch.failure.failing_s == 0.301
    assert "failed for 0.301 s, longer than its grace of 0.3 s" in watch.failure.reason
