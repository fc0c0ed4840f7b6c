"""Runbooks that name their system and target its components by group/member
(src/gameday/runbook_system.py); today's inventory runbooks read as they always did."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gameday.errors import RunbookError, SafetyError
from gameday.paths import REPO_ROOT, RUNBOOKS_DIR
from gameday.runbook import load_runbook, parse_runbook, plan
from gameday.runbook_system import system_path
from gameday.safety import check_blast_radius

LB = REPO_ROOT / "systems" / "lb.yaml"


def _lb(**overrides: object) -> dict:
    data = yaml.safe_load((RUNBOOKS_DIR / "lb.yaml").read_text())
    data["system"] = str(LB)
    data.update(overrides)
    return data


def _error(tmp_path: Path, data: dict) -> str:
    path = tmp_path / "rb.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(RunbookError) as exc:
        load_runbook(path)
    return str(exc.value).replace(str(path), "rb.yaml")


def _fault(data: dict, i: int, **fault: object) -> dict:
    data["phases"][i]["fault"] = fault
    return data


def test_the_lb_runbook_names_its_system_and_targets_backends_by_group_and_member() -> None:
    rb = load_runbook(RUNBOOKS_DIR / "lb.yaml")
    assert rb.system == "systems/lb.yaml"
    faults = [p.fault for p in rb.phases if p.fault]
    assert [(f.type, f.group, f.member) for f in faults] == [("kill", "backend", "b"),
                                                             ("hang", "backend", "c")]
    assert faults[0].describe() == "kill on backend/b"
    text = plan(rb)
    assert "system systems/lb.yaml's own request mix" in text
    assert "TTD kill ≤ 1 s, hang ≤ 1 s" in text and "quorum" not in text


def test_the_system_path_is_found_beside_the_runbook_first(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(LB.read_text())
    path = tmp_path / "rb.yaml"
    path.write_text(yaml.safe_dump(_lb(system="mine.yaml")))
    assert load_runbook(path).system == "mine.yaml"


@pytest.mark.parametrize(("fault", "message"), [
    ({"type": "meltdown", "target": "backend/b"},
     "rb.yaml: phases[1].fault.type: system 'lb' has no fault 'meltdown'; its faults: kill, "
     "hang"),
    ({"type": "kill", "target": "backend/d"},
     "rb.yaml: phases[1].fault.target: group 'backend' has no member 'd'; members: a, b, c"),
    ({"type": "kill", "target": "db/a"},
     "rb.yaml: phases[1].fault.target: system 'lb' has no component group 'db'; groups: lb, "
     "backend"),
    ({"type": "kill", "target": "lb/lb"},
     "rb.yaml: phases[1].fault.target: this fault does not apply to group 'lb'; it applies "
     "to: backend"),
    ({"type": "kill", "replica": "2"},
     "rb.yaml: phases[1].fault.replica: a field of the older runbook form; name the "
     "component as target: <group>/<member>"),
    ({"type": "kill", "target": "backend/b", "latency_ms": 5},
     "rb.yaml: phases[1].fault.latency_ms: a field of the older runbook form; give the "
     "fault's parameters in params"),
    ({"type": "kill", "target": "backend/b", "params": {"signal": 9}},
     "rb.yaml: phases[1].fault.params.signal: fault 'kill' of system 'lb' takes no such "
     "parameter; allowed: none"),
    ({"type": "kill", "target": "backend"},
     "rb.yaml: phases[1].fault.target: must match"),
])
def test_a_fault_the_system_does_not_have_names_the_field(tmp_path: Path, fault: dict,
                                                           message: str) -> None:
    assert _error(tmp_path, _fault(_lb(), 1, **fault)).startswith(message)


def test_a_ttd_target_for_a_fault_the_system_does_not_have_is_refused(
        tmp_path: Path) -> None:
    data = _lb()
    data["slo"]["ttd_s"]["kil"] = 1.0
    assert _error(tmp_path, data).splitlines() == [
        "rb.yaml: slo.ttd_s.kil: system 'lb' has no fault 'kil'; its faults: kill, hang"]


def test_a_process_fault_needs_the_local_target(tmp_path: Path) -> None:
    assert ("rb.yaml: phases[1].fault.type: fault 'kill' is a process fault: it runs on the "
            "local target only (the runbook's target is compose)") in _error(
        tmp_path, _lb(target="compose"))


def test_a_missing_or_broken_system_file_names_the_runbook_and_the_file(
        tmp_path: Path) -> None:
    assert _error(tmp_path, _lb(system="systems/nope.yaml")).startswith(
        "rb.yaml: system: cannot use systems/nope.yaml:\n")
    broken = tmp_path / "broken.yaml"
    broken.write_text(LB.read_text().replace("members: [a, b, c]", "members: a"))
    msg = _error(tmp_path, _lb(system=str(broken)))
    assert f"{broken}: components.backend.members" in msg


def test_blast_radius_counts_faulted_components_per_group(tmp_path: Path) -> None:
    data = _lb()
    data["phases"][1]["recovery"] = {"action": "none"}  # b stays faulted while c hangs
    assert _error(tmp_path, data) == (
        "rb.yaml: phases[2].fault: 2 components of group 'backend' would be faulted at once, "
        "safety.max_faulted_per_group allows 1 (roll back the earlier fault with "
        "recovery.action 'clear' or 'restart')")
    data["safety"]["max_faulted_per_group"] = 2
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump(data))
    rb = load_runbook(path)
    check_blast_radius(rb)  # two of one group allowed
    rb.safety.max_faulted_per_group = 1
    with pytest.raises(SafetyError, match="would fault 2 components of group 'backend'"):
        check_blast_radius(rb)


def test_trials_rotate_a_fault_through_the_members_of_its_group(tmp_path: Path) -> None:
    path = tmp_path / "rb.yaml"
    path.write_text(yaml.safe_dump(_lb(trials=3)))
    rb = load_runbook(path)
    kills = [p.fault.target for p in rb.phases if p.fault and p.fault.type == "kill"]
    hangs = [p.fault.target for p in rb.phases if p.fault and p.fault.type == "hang"]
    assert kills == ["backend/b", "backend/c", "backend/a"]
    assert hangs == ["backend/c", "backend/a", "backend/b"]


def test_parse_runbook_checks_the_system_too() -> None:
    data = _fault(_lb(), 1, type="kill", target="backend/z")
    with pytest.raises(RunbookError, match=r"<runbook>: phases\[1\]\.fault\.target: group"):
        parse_runbook(data)


@pytest.mark.parametrize(("fault", "sent"), [
    ({"type": "crash", "target": "inventory/2"}, {}),
    ({"type": "latency", "target": "inventory/3", "params": {"latency_ms": 500}},
     {"latency_ms": 500}),
    ({"type": "intermittent", "target": "inventory/1", "params": {"probability": 0.8}},
     {"probability": 0.8}),
    ({"type": "incorrect_response", "target": "inventory/1",
      "params": {"product_id": "PROD-003"}}, {"product_id": "PROD-003"}),
    ({"type": "latency", "target": "inventory/2"}, {"latency_ms": 1000}),  # the default
])
def test_the_stacks_fault_api_gets_what_its_contract_says(fault: dict, sent: dict) -> None:
    """systems/inventory.yaml's http faults send the stack's /inject-failure body
    (docs/stack-contract: the type, its parameters, the TTL) to the faulted replica."""
    from gameday.runbook import Fault
    from gameday.systems.loader import load_system
    from gameday.systems.providers import fault_context
    from gameday.systems.render import render, render_value
    from gameday.systems.resolve import resolve

    preset = Fault.model_validate(fault)
    resolved = resolve(load_system(REPO_ROOT / "systems" / "inventory.yaml"), base_port=7000)
    spec = resolved.system.faults[preset.type]
    assert spec.provider == "http" and spec.honours_ttl
    member = resolved.member("inventory", preset.member)
    ctx = fault_context(resolved, member, {**spec.params, **preset.params()}, 45.0)
    assert render_value(spec.inject.json_, ctx) == {"type": preset.type, **sent, "ttl_s": 45.0}
    assert render(spec.inject.url, ctx) == f"http://127.0.0.1:{7000 + int(preset.member) - 1}" \
                                           "/inject-failure"


@pytest.mark.parametrize(("load", "expected"), [
    ({"mix": {"browse": 1}}, "load.mix.browse: system 'lb' has no request 'browse'; "
                             "its requests: "),
    ({"values": {"colour": ["red"]}}, "load.values.colour: system 'lb' draws no values "
                                      "'colour'"),
    ({"follow_up_after_s": {"item": 1.0}}, "load.follow_up_after_s.item: request 'item' "
                                           "of system 'lb' has no follow-up"),
])
def test_a_runbook_adjusts_only_what_its_systems_load_has(tmp_path: Path, load: dict,
                                                          expected: str) -> None:
    data = _lb()
    data["load"] = {**data["load"], **load}
    assert expected in _error(tmp_path, data)


def test_a_mix_that_leaves_nothing_to_send_is_refused(tmp_path: Path) -> None:
    data = _lb()
    requests = yaml.safe_load(LB.read_text())["load"]["requests"]
    data["load"] = {**data["load"], "mix": {name: 0 for name in requests}}
    assert "load.mix: every request's weight is 0: nothing would be sent" in _error(tmp_path,
                                                                                    data)


def test_the_plan_says_how_the_runbook_adjusts_the_systems_mix(tmp_path: Path) -> None:
    data = _lb()
    data["load"] = {**data["load"], "mix": {"item": 2}}
    path = tmp_path / "rb.yaml"
    path.write_text(yaml.safe_dump(data))
    assert f"system {LB}'s own request mix adjusted (mix item 2); timeout" in plan(
        load_runbook(path))


@pytest.mark.parametrize("name", ["standard", "nightly", "smoke"])
def test_the_projects_own_runbooks_run_through_the_stacks_system_file(name: str) -> None:
    """make gameday, the nightly and the smoke GameDay drive the stack through
    systems/inventory.yaml (issue 12): every fault names a member and a fault type the
    file has, and the load's adjustments name its requests."""
    rb = load_runbook(RUNBOOKS_DIR / f"{name}.yaml")
    inventory = yaml.safe_load((REPO_ROOT / "systems" / "inventory.yaml").read_text())
    assert system_path(rb.system, RUNBOOKS_DIR) == REPO_ROOT / "systems" / "inventory.yaml"
    assert set(rb.load.mix or {}) == set(inventory["load"]["requests"]) == {"read", "write"}
    faults = [p.fault for p in rb.phases if p.fault is not None]
    assert faults
    for fault in faults:
        assert fault.group == "inventory" and fault.member in inventory["components"][
            "inventory"]["members"]
        assert fault.type in inventory["faults"]
        assert set(fault.params_) <= set(inventory["faults"][fault.type].get("params", {}))
