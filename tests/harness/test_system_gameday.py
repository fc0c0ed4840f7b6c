"""The engine drives a GameDay through a system file (gameday.drivers.system): a small
external system (one ASGI app in a thread: two members behind a front door, its own fault
API and a status page its detector polls) runs baseline → fault → recovery without
Prefect, and the run's figures, transitions, invariants and verdict come from the file."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gameday import engine
from gameday.errors import SafetyError
from gameday.lifecycle import GameDay
from pair_system import ORACLE_LOAD, SYSTEM, Pair, pair_runbook, pair_system


@pytest.fixture
def pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Pair, Path, int]]:
    monkeypatch.setenv("GAMEDAY_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path / "state"))
    for name in ("GAMEDAY_BASE_PORT", "GAMEDAY_SLACK_BOT_TOKEN", "GAMEDAY_SLACK_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    with pair_system(tmp_path) as (system, port):
        yield system, tmp_path, port


def _runbook(tmp_path: Path, **extra: Any) -> Path:
    return pair_runbook(tmp_path, **extra)


def _run(gd: GameDay) -> Any:
    with gd.locked():
        run = gd.open()
        engine.preflight(run)
        for phase in gd.runbook.phases:
            engine.run_phase(run, phase)
        return gd.finish("completed", report=False, announce=False), run


def test_a_gameday_on_a_system_file_reads_its_detector_load_and_invariants(
        pair, monkeypatch: pytest.MonkeyPatch) -> None:
    from gameday import deadman

    system, tmp_path, port = pair
    arm = deadman.arm

    def slow_arm(*args: Any, **kwargs: Any) -> Any:  # a busy machine: arming takes 1 s
        time.sleep(1.0)
        return arm(*args, **kwargs)

    monkeypatch.setattr(deadman, "arm", slow_arm)
    gd = GameDay.prepare(_runbook(tmp_path), base_port=port, progress=lambda _: None)
    assert gd.key == f"local:{port}"  # the system's own lock, at its base port
    outcome, run = _run(gd)
    journal = json.loads((run.run_dir / "journal.json").read_text())

    assert journal["system"]["name"] == "pair" and journal["system"]["detector"] == "status"
    phases = {p["name"]: p for p in journal["phases"]}
    fault = phases["break-b"]
    assert fault["fault"] == {"type": "break", "component": "web/b",
                              "params": {"code": 503}, "ttl_s": 20.0}
    m = fault["metrics"]
    # the app's own status page said DOWN from the injection and UP from the rollback;
    # TTD runs from the fault itself, not from before the harness armed its switch
    assert 0 <= m["ttd_s"] < 0.8 and 0 <= m["ttr_s"] < 1.0, m
    assert m["availability"] == 1.0 and m["quorum_rate"] is None and m["wrong_answers"] is None
    assert m["requests"] == 60  # 40 req/s × 1.5 s
    assert {r.kind for r in run.journal.requests} == {"buy"}
    assert {r.key for r in run.journal.requests} == {"apple", "pear"}
    assert [c["name"] for c in fault["checks"]] == ["availability", "latency_p95_ms", "ttd_s",
                                                     "ttr_s"]
    assert journal["consistency"]["ok"] is True and journal["steady_states"]["after"]["ok"]
    assert system.faulted == {}  # rolled back
    assert outcome.passed, outcome.failing_checks
    # the figures recomputed from the raw data agree (the verdict's cross-check)
    assert not any("cross-check" in f for f in outcome.failing_checks)


def test_an_invariant_that_does_not_hold_fails_the_verdict_in_the_systems_words(
        pair, monkeypatch: pytest.MonkeyPatch) -> None:
    from gameday.drivers.system import SystemFileDriver

    system, tmp_path, port = pair
    system.version["b"] = 2  # member b serves another version than the front door
    waits: list[float] = []
    wait_for = SystemFileDriver.consistency

    def short(self: SystemFileDriver, *, timeout_s: float) -> Any:
        waits.append(timeout_s)  # the run waits 30 s for invariants to hold; 0.5 s here
        return wait_for(self, timeout_s=0.5)

    monkeypatch.setattr(SystemFileDriver, "consistency", short)
    gd = GameDay.prepare(_runbook(tmp_path, phases=[{"name": "baseline", "duration_s": 0.5}]),
                         base_port=port, progress=lambda _: None)
    outcome, run = _run(gd)
    assert waits == [30.0] and not outcome.passed
    assert run.journal.record.consistency.mismatches == [
        {"invariant": "same", "member": "web/b", "detail": "2 differs from 1"}]
    assert ("consistency: the invariants of system 'pair' do not hold after recovery"
            in outcome.failing_checks)


def test_the_engine_refuses_a_second_fault_in_one_group_beyond_the_blast_radius(pair) -> None:
    system, tmp_path, port = pair
    gd = GameDay.prepare(_runbook(tmp_path), base_port=port, progress=lambda _: None)
    with gd.locked():
        run = gd.open()
        engine.preflight(run)
        run.faulted.add("web/a")  # as if a fault on a were still in force
        with pytest.raises(SafetyError, match="would fault 2 components of group 'web' at "
                                              r"once \(web/a, web/b\)"):
            engine.inject(run, gd.runbook.phases[1])
        assert system.faulted == {}  # nothing was sent
        gd.finish("aborted", report=False, announce=False)


def test_a_systems_oracle_judges_answers_and_its_follow_ups_end_the_changes(pair) -> None:
    """The inventory stack's pattern as data: reads judged against the stock the oracle
    said at the start, orders taken and given back by a follow-up. A member that makes
    the front door lie (+1000) is caught as wrong answers; the stock ends where it began."""
    system, folder, port = pair
    data = json.loads(json.dumps(SYSTEM))
    data["load"] = ORACLE_LOAD
    data["faults"]["lie"] = {**data["faults"]["break"], "params": {"code": 299}}
    # what a quorum would have said: a believable count (a lie adds 1000)
    data["load"]["requests"]["look"]["quorum"] = "n < `100`"
    (folder / "pair.yaml").write_text(yaml.safe_dump(data))
    gd = GameDay.prepare(pair_runbook(folder, phases=[
        {"name": "baseline", "duration_s": 1.5},
        {"name": "lie", "duration_s": 1.0, "fault": {"type": "lie", "target": "web/b"}}]),
        base_port=port, progress=lambda _: None)
    outcome, run = _run(gd)
    phases = {p.name: p for p in run.phases}
    kinds = {r.kind for r in run.journal.requests}
    assert kinds == {"look", "take", "take>1"}  # the follow-up, recorded as such
    baseline, lie = phases["baseline"].metrics, phases["lie"].metrics
    assert baseline.wrong_answers == 0 and baseline.quorum_rate == 1.0
    looks = [r for r in run.journal.requests if r.kind == "look" and r.phase == "lie"]
    assert lie.wrong_answers == sum(bool(r.wrong) for r in looks) > 0.5 * len(looks)
    assert all(r.value is not None and r.value > 100 for r in looks if r.wrong)
    assert lie.quorum_rate is not None  # every wrong answer was served without a quorum
    assert lie.quorum_rate <= 1 - lie.wrong_answers / len(looks) + 1e-9
    assert {r.quorum for r in run.journal.requests if r.kind != "look"} == {None}
    # follow-ups are not scheduled requests: 40 req/s of looks and takes only
    assert phases["baseline"].load is not None
    assert phases["baseline"].load.scheduled_rate == pytest.approx(40.0, rel=0.01)
    assert run.journal.record.oracle_before == {"oracle": {"apple": 10.0, "pear": 5.0}}
    assert system.stock == {"apple": 10, "pear": 5} and system.orders == {}
    assert any("lie: wrong answers" in f for f in outcome.failing_checks)


def test_a_runbook_adjusts_the_systems_mix_values_and_follow_up_delay(pair) -> None:
    """The file says what the load is; the runbook may weigh its requests (0 leaves one
    out), replace a list of values and move a request's follow-ups."""
    system, folder, port = pair
    data = json.loads(json.dumps(SYSTEM))
    data["load"] = ORACLE_LOAD  # looks and takes; a take given back 0.2 s later
    (folder / "pair.yaml").write_text(yaml.safe_dump(data))
    gd = GameDay.prepare(pair_runbook(
        folder, load={"rate": 20, "timeout_s": 1.0, "mix": {"look": 0},
                      "values": {"item": ["pear"]}, "follow_up_after_s": {"take": 0.6}},
        phases=[{"name": "baseline", "duration_s": 1.5}]),
        base_port=port, progress=lambda _: None)
    _, run = _run(gd)
    requests = run.journal.requests
    assert {r.kind for r in requests} == {"take", "take>1"}  # no look: its weight is 0
    assert {r.key for r in requests} == {"pear"}
    takes = sorted(r.intended_s for r in requests if r.kind == "take")
    gives = sorted(r.intended_s for r in requests if r.kind == "take>1")
    assert len(takes) == len(gives) == pytest.approx(30, abs=1)
    # the first give-back went 0.6 s after its take was answered, not the file's 0.2 s
    assert 0.6 <= gives[0] - takes[0] < 0.9
    assert system.stock == {"apple": 10, "pear": 5} and system.orders == {}


def test_a_fronts_counters_give_the_faulted_members_timeout_share(pair) -> None:
    """With ``counters`` the harness reads the front's per-member counts before each fault
    and after its phase: the share of its requests to the faulted member that got no
    answer in time (the inventory voter's /voting-stats, as data)."""
    system, folder, port = pair
    data = json.loads(json.dumps(SYSTEM))
    data["counters"] = {"url": "{{ front.url }}/stats", "group": "web", "asked": "asked",
                        "timed_out": "late", "timeout_s": "timeout_s"}
    (folder / "pair.yaml").write_text(yaml.safe_dump(data))
    gd = GameDay.prepare(_runbook(folder), base_port=port, progress=lambda _: None)
    _, run = _run(gd)
    phases = {p.name: p for p in run.phases}
    broken = phases["break-b"]
    assert broken.front is not None
    assert (broken.front.member, broken.front.timeout_s) == ("web/b", 0.3)
    assert broken.front.asked > 20  # 40 req/s for 1.5 s, from just before the injection
    # every request to b while it was broken timed out; a few from before the injection
    # and after the rollback (the counts span the phase) did not
    assert 0.7 <= broken.metrics.front_timeout_share <= 1.0
    assert phases["baseline"].metrics.front_timeout_share is None  # no fault, no count


def test_counters_name_a_group_of_the_system(tmp_path: Path) -> None:
    from gameday.errors import SystemFileError
    from gameday.systems.loader import load_system

    data = json.loads(json.dumps(SYSTEM))
    data["counters"] = {"url": "{{ front.url }}/stats", "group": "webs", "asked": "asked",
                        "timed_out": "late"}
    path = tmp_path / "pair.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SystemFileError, match="counters.group: no component group 'webs'"):
        load_system(path)


def test_system_check_reads_the_counters_and_says_when_they_are_not_what_the_file_says(
        pair) -> None:
    from gameday.systems.loader import load_system
    from gameday.systems.probe import check_system
    from gameday.systems.resolve import resolve

    _, folder, port = pair
    data = json.loads(json.dumps(SYSTEM))
    data["counters"] = {"url": "{{ front.url }}/stats", "group": "web", "asked": "asked",
                        "timed_out": "late", "timeout_s": "timeout_s"}
    (folder / "pair.yaml").write_text(yaml.safe_dump(data))
    resolved = resolve(load_system(folder / "pair.yaml"), target="local", base_port=port)
    (found,) = [f for f in check_system(resolved).findings if f.kind == "counters"]
    assert found.ok and found.detail.endswith("timed out 0 (timeout 0.3 s)")

    data["counters"]["asked"] = "timeout_s"  # a number where a mapping must be
    (folder / "pair.yaml").write_text(yaml.safe_dump(data))
    resolved = resolve(load_system(folder / "pair.yaml"), target="local", base_port=port)
    check = check_system(resolved)
    (found,) = [f for f in check.findings if f.kind == "counters"]
    assert not check.ok and not found.ok
    assert "asked (timeout_s) is 0.3, not a mapping" in found.detail
