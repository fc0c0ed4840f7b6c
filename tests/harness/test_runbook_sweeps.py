"""``sweep:`` in a runbook: validation, the expansion of a fixed sweep, the doses a search
chooses as phases are recorded, and the breaking point read back from the records."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from gameday.errors import RunbookError
from gameday.evidence.models import counted_check
from gameday.paths import REPO_ROOT
from gameday.run_record import Check, FaultRecord, PhaseMetrics, PhaseRecord
from gameday.runbook import load_runbook, plan
from gameday.sweep import plan_phases, sweep_results
from gameday.threshold import Threshold

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def _runbook(tmp_path: Path, sweep: dict, fault: dict | None = None, **extra: object) -> Path:
    data = {"name": "sweep", "seed": 3, "system": "systems/inventory.yaml",
            "load": {"rate": 5}, "safety": {"fault_ttl_s": 30},
            "slo": {"ttd_s": {"latency": 1.0, "intermittent": 1.0}},
            "phases": [{"name": "baseline", "duration_s": 2},
                       {"name": "slow", "duration_s": 2,
                        "fault": fault or {"type": "latency", "target": "inventory/2"},
                        "sweep": sweep},
                       {"name": "recovery", "duration_s": 2}], **extra}
    path = tmp_path / "rb.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


LATENCY = {"param": "latency_ms", "values": [400, 100, 250], "trials": 2,
           "metric": "latency_p95_ms", "target": {"op": "<=", "value": 300}}


def test_a_fixed_sweep_runs_every_dose_per_trial_trials_outermost(tmp_path: Path) -> None:
    rb = load_runbook(_runbook(tmp_path, LATENCY))
    names = [p.name for p in rb.phases]
    assert names == ["baseline", "slow-d1-t1", "slow-d2-t1", "slow-d3-t1",
                     "slow-d1-t2", "slow-d2-t2", "slow-d3-t2", "recovery"]
    swept = [p for p in rb.phases if p.dose is not None]
    assert [p.fault.params()["latency_ms"] for p in swept[:3]] == [100, 250, 400]  # ascending
    assert {p.repeats for p in swept} == {"slow"}
    assert [p.fault.member for p in swept if p.dose_trial == 2] == ["3", "3", "3"]  # rotated
    assert list(plan_phases(rb, [])) == rb.phases  # nothing chosen at run time
    assert "slow-d3-t2" in plan(rb)


@pytest.mark.parametrize(("sweep", "fault", "message"), [
    ({"param": "probability", "values": [0.1, 0.2]}, None,
     "sweep.param: fault 'latency' of system 'inventory' has no numeric parameter "
     "'probability'; its numeric parameters: latency_ms"),
    ({"param": "latency_ms", "values": [100, 200], "between": [1, 2]}, None,
     "give either values (a fixed sweep) or between (a search)"),
    ({"param": "probability", "between": [0.5, 0.1]},
     {"type": "intermittent", "target": "inventory/1"}, "between: the first dose must be below"),
    ({"param": "probability", "values": [0.1, 1.5]},
     {"type": "intermittent", "target": "inventory/1"},
     "probability must be within 0..1 (got 1.5)"),
    ({"param": "latency_ms", "values": [100]}, None, "values"),
])
def test_a_bad_sweep_names_the_field_and_what_is_allowed(tmp_path: Path, sweep: dict,
                                                         fault: dict | None,
                                                         message: str) -> None:
    with pytest.raises(RunbookError, match="phases\\[1\\]") as info:
        load_runbook(_runbook(tmp_path, sweep, fault))
    assert message in str(info.value)


def test_trials_and_a_sweep_do_not_mix(tmp_path: Path) -> None:
    with pytest.raises(RunbookError, match="cannot also sweep"):
        load_runbook(_runbook(tmp_path, LATENCY, trials=3))


def _record(phase, p95: float | None = None, ttd: float | None = 0.3) -> PhaseRecord:
    return PhaseRecord(name=phase.name, duration_s=phase.duration_s, start=NOW,
                       fault=FaultRecord(type=phase.fault.type, component=phase.fault.member)
                       if phase.fault else None, repeats=phase.repeats, dose=phase.dose,
                       dose_trial=phase.dose_trial,
                       metrics=PhaseMetrics(latency_p95_ms=p95, ttd_s=ttd))


def test_a_search_bisects_towards_the_dose_where_the_metric_crosses_its_target(
        tmp_path: Path) -> None:
    sweep = {"param": "latency_ms", "between": [100, 900], "steps": 3, "trials": 2,
             "metric": "latency_p95_ms", "target": {"op": "<=", "value": 300}}
    rb = load_runbook(_runbook(tmp_path, sweep))
    assert [p.name for p in rb.phases] == ["baseline", "slow", "recovery"]  # chosen later
    assert "search latency_ms between 100 and 900" in plan(rb)
    recorded: list[PhaseRecord] = []
    ran = []
    for phase in plan_phases(rb, recorded):  # the system: p95 = min(dose, 350) ms
        ran.append(phase.name)
        p95 = None if phase.dose is None else min(phase.dose, 350.0)
        recorded.append(_record(phase, p95))
    doses = [r.dose for r in recorded if r.dose_trial == 1]
    assert doses == [100, 900, 500, 300, 400]  # ends, then midpoints of the bracket
    assert ran[0] == "baseline" and ran[-1] == "recovery"
    assert ran[1:3] == ["slow-d1-t1", "slow-d1-t2"]
    [result] = sweep_results(rb, recorded)
    assert result.search and result.metric == "latency_p95_ms"
    assert result.target == Threshold(op="<=", value=300)
    bp = result.breaking_point
    assert bp.kind == "crossing" and (bp.low, bp.high) == (300, 400)
    assert [p.dose for p in result.points] == [100, 300, 400, 500, 900]


def test_a_doses_ttd_and_latency_checks_are_the_sweeps_not_the_verdicts(tmp_path: Path
                                                                        ) -> None:
    rb = load_runbook(_runbook(tmp_path, LATENCY))
    record = _record(rb.phases[1], 900.0)
    record.checks = [Check(name=n, target=Threshold(op="<=", value=1), value=2, passed=False)
                     for n in ("latency_p95_ms", "ttd_s", "availability", "wrong_answers")]
    counted = [c.name for c in record.checks if counted_check(record, c.name, False)]
    assert counted == ["availability", "wrong_answers"]  # users were still served through it
    plain = _record(rb.phases[0], 900.0)
    assert counted_check(plain, "latency_p95_ms", False)


def test_the_default_target_is_the_runbooks_slo_and_latency_needs_one(tmp_path: Path) -> None:
    rb = load_runbook(_runbook(tmp_path, {"param": "latency_ms", "values": [100, 600]}))
    records = [_record(p, ttd=0.4) for p in rb.phases]
    [result] = sweep_results(rb, records)
    assert result.metric == "ttd_s" and result.target == Threshold(op="<=", value=1.0)
    assert result.breaking_point.kind in ("holds throughout", "unsettled")
    with pytest.raises(RunbookError, match=r"phases\[1\]\.sweep\.target: latency_p95_ms has "
                                           "no target in the runbook's slo; give one"):
        load_runbook(_runbook(tmp_path, {"param": "latency_ms", "values": [100, 600],
                                         "metric": "latency_p95_ms"}))
    with pytest.raises(RunbookError, match=r"sweep\.target: ttd_s has no target in the "
                                           r"runbook's slo for fault 'latency'; give one here"):
        load_runbook(_runbook(tmp_path, {"param": "latency_ms", "values": [100, 600]},
                              slo={"ttd_s": {"crash": 0.8}}))


def _voter_record(phase, asked: int, timed_out: int) -> PhaseRecord:
    from gameday.metrics import front_timeout_share
    from gameday.run_record import FrontTally

    record = _record(phase)
    if phase.fault is not None:
        record.front = FrontTally(member=phase.fault.member, asked=asked,
                                  timed_out=timed_out, timeout_s=0.3)
    record.metrics.front_timeout_share = front_timeout_share(record)
    return record


def test_a_sweep_of_the_voters_timeouts_finds_the_step_and_leaves_out_trials_without_a_request(
        tmp_path: Path) -> None:
    """The voter's timeouts on the faulted replica: 0 while its answers come in time,
    all of them above the timeout; a trial in which the voter sent it no request says
    nothing about the dose (not "never", as for TTD)."""
    sweep = {"param": "latency_ms", "values": [100, 200, 400, 600], "trials": 3,
             "metric": "front_timeout_share", "target": {"op": "<=", "value": 0.5}}
    rb = load_runbook(_runbook(tmp_path, sweep))
    records = []
    for p in rb.phases:
        late = p.dose is not None and p.dose > 300
        asked = 0 if (p.dose == 600 and p.dose_trial == 3) else 10
        records.append(_voter_record(p, asked, asked if late else 0))
    [result] = sweep_results(rb, records)
    points = {p.dose: p for p in result.points}
    assert [points[d].values for d in (100, 200, 400)] == [[0.0] * 3, [0.0] * 3, [1.0] * 3]
    assert points[600].values == [1.0, 1.0]  # the trial without a request is left out
    assert [points[d].verdict for d in (100, 200, 400, 600)] == ["pass", "pass", "fail", "fail"]
    bp = result.breaking_point
    assert (bp.kind, bp.low, bp.high, bp.direction) == ("crossing", 200, 400, "up")
    from gameday.evidence.readable import sweep_metric_note, sweep_sentence

    assert sweep_sentence(result).startswith(
        "front timeouts on the faulted member ≤ 50 % breaks between 200 ms and 400 ms")
    assert "(0.3 s on this system" in sweep_metric_note(result, records)
    with pytest.raises(RunbookError, match="front_timeout_share has no target"):
        load_runbook(_runbook(tmp_path, {**sweep, "target": None}))


def test_the_voters_counters_become_the_phases_tally_and_share() -> None:
    from gameday.metrics import front_timeout_share
    from gameday.run_record import FrontCounters

    before = FrontCounters(timeout_s=0.3, asked={"1": 5, "2": 7}, timed_out={"2": 1})
    after = FrontCounters(timeout_s=0.3, asked={"1": 9, "2": 15}, timed_out={"2": 7})
    tally = after.since(before, "2")
    assert (tally.asked, tally.timed_out, tally.timeout_s) == (8, 6, 0.3)
    record = PhaseRecord(name="p", duration_s=1, start=NOW, front=tally)
    assert front_timeout_share(record) == 0.75
    assert after.since(before, "3").asked == 0
    assert front_timeout_share(PhaseRecord(name="p", duration_s=1, start=NOW,
                                           front=after.since(before, "3"))) is None
    assert front_timeout_share(PhaseRecord(name="p", duration_s=1, start=NOW)) is None


def test_a_sweep_of_a_system_fault_doses_its_params_and_rotates_through_its_members(
        tmp_path: Path) -> None:
    """A sweep (runbooks/breaking-point.yaml): each dose is the system fault's parameter,
    and each trial, fixed or searched, moves to the group's next member."""
    from gameday.cli import main

    fixed = _runbook(tmp_path, {"param": "latency_ms", "values": [50, 150], "trials": 2},
                     fault={"type": "latency", "target": "inventory/2"},
                     system=str(REPO_ROOT / "systems" / "inventory.yaml"))
    rb = load_runbook(fixed)
    assert [(p.fault.member, p.fault.params()) for p in rb.phases if p.fault] == [
        ("2", {"latency_ms": 50}), ("2", {"latency_ms": 150}),
        ("3", {"latency_ms": 50}), ("3", {"latency_ms": 150})]
    assert main(["run", str(fixed), "--dry-run"]) == 0  # checked against the system file
    search = _runbook(tmp_path, {"param": "latency_ms", "between": [100, 900], "trials": 2,
                                 "metric": "latency_p95_ms",
                                 "target": {"op": "<=", "value": 300}},
                      fault={"type": "latency", "target": "inventory/3"},
                      system=str(REPO_ROOT / "systems" / "inventory.yaml"))
    rb = load_runbook(search)
    groups = {"inventory": ["1", "2", "3"]}
    first = [p for p, _ in zip(plan_phases(rb, [], groups), range(3), strict=False)][1:]
    assert [(p.fault.member, p.fault.params()) for p in first] == [
        ("3", {"latency_ms": 100}), ("1", {"latency_ms": 100})]


#: A fault of a system file with parameters of every kind (the lb system's own faults
#: take none): a sweep may dose those whose default is a number.
THROTTLE = {"provider": "http", "applies_to": ["backend"],
            "params": {"delay_ms": 200, "connections": 8, "loss": 0.1, "mode": "drop",
                       "strict": True},
            "inject": {"url": "{{ component.url }}/throttle",
                       "json": {"connections": "{{ connections }}", "loss": "{{ loss }}",
                                "delay_ms": "{{ delay_ms }}", "ttl_s": "{{ ttl_s }}"}},
            "clear": {"url": "{{ component.url }}/throttle", "method": "DELETE"}}


def _system_runbook(tmp_path: Path, sweep: dict, fault: dict | None = None) -> Path:
    """A runbook sweeping the ``throttle`` fault of a copy of systems/lb.yaml."""
    system = yaml.safe_load((REPO_ROOT / "systems" / "lb.yaml").read_text())
    system["faults"]["throttle"] = THROTTLE
    (tmp_path / "sys.yaml").write_text(yaml.safe_dump(system))
    return _runbook(tmp_path, sweep, fault or {"type": "throttle", "target": "backend/b"},
                    system="sys.yaml", slo={"ttd_s": {"throttle": 1.0}})


def test_a_system_runbook_sweeps_any_numeric_parameter_its_fault_declares(
        tmp_path: Path) -> None:
    from gameday.cli import main
    from gameday.systems.loader import load_system
    from gameday.systems.render import render_value

    path = _system_runbook(tmp_path, {"param": "connections", "values": [16, 2, 4],
                                      "trials": 2})
    rb = load_runbook(path)
    swept = [p for p in rb.phases if p.dose is not None]
    assert [(p.fault.member, p.fault.params()) for p in swept[:4]] == [
        ("b", {"connections": 2}), ("b", {"connections": 4}), ("b", {"connections": 16}),
        ("c", {"connections": 2})]  # ascending doses, rotated through the backends
    assert "inject throttle on backend/b (connections=2.0)" in plan(rb)
    assert main(["run", str(path), "--dry-run"]) == 0
    # injected as the file's default is typed: a whole dose of an integer is an integer
    spec = load_system(tmp_path / "sys.yaml").faults["throttle"]
    sent = spec.params_for(swept[0].fault.params_)
    assert sent == {"delay_ms": 200, "connections": 2, "loss": 0.1, "mode": "drop",
                    "strict": True}
    body = render_value(THROTTLE["inject"]["json"], {**sent, "ttl_s": 30})
    assert body == {"connections": 2, "loss": 0.1, "delay_ms": 200, "ttl_s": 30}
    assert type(body["connections"]) is int
    assert spec.params_for({"connections": 2.5, "loss": 1.0}) == {
        **sent, "connections": 2.5, "loss": 1.0}  # not whole, or a float default: as given
    search = _system_runbook(tmp_path, {"param": "loss", "between": [0.05, 0.5],
                                        "metric": "availability"})
    rb = load_runbook(search)
    assert "search loss between 0.05 and 0.5 for availability's breaking point" in plan(rb)
    first = next(p for p in plan_phases(rb, [], {"backend": ["a", "b", "c"]}) if p.dose)
    assert first.fault.params() == {"loss": 0.05}


@pytest.mark.parametrize(("sweep", "fault", "message"), [
    ({"param": "foo", "values": [1, 2]}, None,
     "rb.yaml: phases[1].sweep.param: fault 'throttle' of system 'lb' has no numeric "
     "parameter 'foo'; its numeric parameters: connections, delay_ms, loss"),
    ({"param": "mode", "values": [1, 2]}, None,
     "rb.yaml: phases[1].sweep.param: fault 'throttle' of system 'lb' has no numeric "
     "parameter 'mode' (its default 'drop' is not a number); its numeric parameters: "
     "connections, delay_ms, loss"),
    ({"param": "strict", "values": [0, 1]}, None,
     "parameter 'strict' (its default True is not a number)"),
    ({"param": "latency_ms", "values": [100, 200]}, {"type": "hang", "target": "backend/c"},
     "rb.yaml: phases[1].sweep.param: fault 'hang' of system 'lb' has no numeric "
     "parameter 'latency_ms'; its numeric parameters: none"),
    ({"param": "connections", "values": [1, float("inf")]}, None,
     "rb.yaml: phases[1].sweep.values: a dose of connections must be a finite number ≥ 0 "
     "(got inf)"),
    ({"param": "delay_ms", "between": [-5, 10]}, None,
     "phases[1].sweep.between: a dose of delay_ms must be a finite number ≥ 0 (got -5)"),
    ({"param": "probability", "values": [0.5, 2]}, None,  # a preset's name keeps its range
     "phases[1].sweep: probability must be within 0..1 (got 2)"),
])
def test_a_system_sweeps_param_must_be_a_numeric_parameter_of_its_fault(
        tmp_path: Path, sweep: dict, fault: dict | None, message: str) -> None:
    path = _system_runbook(tmp_path, {**sweep, "metric": "availability"}, fault)
    with pytest.raises(RunbookError) as info:
        load_runbook(path)
    assert message in str(info.value).replace(str(path), "rb.yaml")


def _without_fault(path: Path) -> Path:
    data = yaml.safe_load(path.read_text())
    del data["phases"][1]["fault"]
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_sweep_needs_a_fault_to_dose(tmp_path: Path) -> None:
    with pytest.raises(RunbookError, match=r"phases\[1\]\.sweep: doses the phase's fault; "
                                           "this phase has no fault"):
        load_runbook(_without_fault(_system_runbook(tmp_path, {"param": "loss",
                                                               "values": [0.1, 0.2]})))
