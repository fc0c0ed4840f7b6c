from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gameday.errors import RunbookError
from gameday.paths import RUNBOOKS_DIR
from gameday.runbook import load_runbook, plan, runbook_sha256

MINIMAL = {
    "name": "mini",
    "system": "systems/inventory.yaml",
    "load": {"rate": 10},
    "phases": [
        {"name": "baseline", "duration_s": 1},
        {"name": "crash", "duration_s": 1, "fault": {"type": "crash", "target": "inventory/2"}},
        {"name": "slow", "duration_s": 1,
         "fault": {"type": "latency", "target": "inventory/3", "params": {"latency_ms": 200}}},
    ],
}


def _write(tmp_path: Path, data: object, name: str = "x.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def _error(tmp_path: Path, data: object) -> str:
    path = _write(tmp_path, data)
    with pytest.raises(RunbookError) as exc:
        load_runbook(path)
    return str(exc.value).replace(str(path), "x.yaml")


def _mutate(**changes: object) -> dict:
    data = yaml.safe_load(yaml.safe_dump(MINIMAL))
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = data
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        if value is KeyError:
            del node[last if not last.isdigit() else int(last)]
        else:
            node[int(last) if last.isdigit() else last] = value
    return data


@pytest.mark.parametrize("name", ["standard", "nightly", "smoke", "compare", "breaking-point"])
def test_shipped_runbooks_load_and_plan(name: str) -> None:
    rb = load_runbook(RUNBOOKS_DIR / f"{name}.yaml")
    assert rb.name == name
    text = plan(rb)
    assert all(ph.name in text for ph in rb.phases)


def test_standard_runbook_has_the_six_phases_and_fits_the_two_minute_budget() -> None:
    rb = load_runbook(RUNBOOKS_DIR / "standard.yaml")
    assert [p.name for p in rb.phases] == [
        "baseline", "crash", "latency", "intermittent", "incorrect_response", "recovery"]
    assert sum(p.duration_s for p in rb.phases) <= 80
    assert {p.fault.type for p in rb.phases if p.fault} == {
        "crash", "latency", "intermittent", "incorrect_response"}


def test_a_member_the_group_does_not_have_lists_its_members(tmp_path: Path) -> None:
    msg = _error(tmp_path, _mutate(phases__1__fault__target="inventory/4"))
    assert msg == ("x.yaml: phases[1].fault.target: group 'inventory' has no member '4'; "
                   "members: 1, 2, 3")


def test_unknown_fault_type_lists_the_systems_faults(tmp_path: Path) -> None:
    msg = _error(tmp_path, _mutate(phases__1__fault__type="meltdown"))
    assert msg.startswith("x.yaml: phases[1].fault.type: system 'inventory' has no fault "
                          "'meltdown'; its faults: crash, latency, intermittent, "
                          "incorrect_response, ")


def test_a_runbook_without_a_system_is_told_to_name_one(tmp_path: Path) -> None:
    msg = _error(tmp_path, _mutate(system=KeyError))
    assert msg == ("x.yaml: system: is required: the system file this GameDay runs against "
                   "(system: systems/inventory.yaml for the project's own stack; "
                   "docs/systems.md describes the format)")


@pytest.mark.parametrize(("where", "given", "says"), [
    ("phases__1__fault", {"type": "crash", "replica": "2"},
     "phases[1].fault.replica: a field of the older runbook form; name the component as "
     "target: <group>/<member> (replica 2 of the project's stack: target: inventory/2)"),
    ("phases__2__fault", {"type": "latency", "target": "inventory/3", "latency_ms": 200},
     "phases[2].fault.latency_ms: a field of the older runbook form; give the fault's "
     "parameters in params ({params: {latency_ms: …}})"),
    ("load", {"rate": 10, "read_ratio": 0.8},
     "load.read_ratio: a field of the older runbook form; weigh the system's requests with "
     "mix ({mix: {read: 8, write: 2}})"),
    ("load", {"rate": 10, "products": ["A"]},
     "load.products: a field of the older runbook form; give the values drawn with values "
     "({values: {product: [...]}})"),
    ("load", {"rate": 10, "cancel_after_s": 1},
     "load.cancel_after_s: a field of the older runbook form; say when a request's follow-up "
     "goes with follow_up_after_s ({follow_up_after_s: {write: 1.0}})"),
    ("safety", {"max_faulted_replicas": 2},
     "safety.max_faulted_replicas: a field of the older runbook form; it is "
     "max_faulted_per_group now"),
    ("rotate_replicas", False,
     "rotate_replicas: a field of the older runbook form; it is rotate_targets now"),
])
def test_a_field_of_the_older_form_says_what_replaced_it(tmp_path: Path, where: str,
                                                         given: object, says: str) -> None:
    assert _error(tmp_path, _mutate(**{where: given})) == f"x.yaml: {says} (docs/systems.md)"


def test_unknown_field_is_refused_with_the_allowed_fields(tmp_path: Path) -> None:
    msg = _error(tmp_path, _mutate(phases__0__durration_s=3))
    assert msg == ("x.yaml: phases[0].durration_s: unknown field; allowed: name, description, "
                   "fault, duration_s, recovery, sweep")


def test_unknown_top_level_field_is_refused(tmp_path: Path) -> None:
    assert "x.yaml: bogus: unknown field; allowed: name, description, target, seed" in _error(
        tmp_path, _mutate(bogus=1))


def test_missing_required_field(tmp_path: Path) -> None:
    assert _error(tmp_path, _mutate(load__rate=KeyError)) == "x.yaml: load.rate: is required"


def test_rate_must_be_positive_and_the_timeout_bounded(tmp_path: Path) -> None:
    msg = _error(tmp_path, _mutate(load__rate=0, load__timeout_s=90))
    assert msg.splitlines() == [
        "x.yaml: load.rate: must be > 0 (got 0)",
        "x.yaml: load.timeout_s: must be ≤ 60 (got 90)",
    ]


def test_a_parameter_the_fault_does_not_take_lists_those_it_does(tmp_path: Path) -> None:
    data = _mutate(phases__2__fault__params={"probability": 0.5})
    assert _error(tmp_path, data) == (
        "x.yaml: phases[2].fault.params.probability: fault 'latency' of system 'inventory' "
        "takes no such parameter; allowed: latency_ms")


def test_duplicate_phase_names_are_refused(tmp_path: Path) -> None:
    msg = _error(tmp_path, _mutate(phases__2__name="crash"))
    assert msg == ("x.yaml: phases[2].name: phase names must be unique "
                   "('crash' is also phases[1])")


def test_blast_radius_counts_faults_left_in_force(tmp_path: Path) -> None:
    msg = _error(tmp_path, _mutate(phases__1__recovery={"action": "none"}))
    assert msg == (
        "x.yaml: phases[2].fault: 2 components of group 'inventory' would be faulted at once, "
        "safety.max_faulted_per_group allows 1 (roll back the earlier fault with "
        "recovery.action 'clear' or 'restart')")


def test_blast_radius_of_two_is_allowed_when_the_runbook_says_so(tmp_path: Path) -> None:
    data = _mutate(phases__1__recovery={"action": "none"})
    data["safety"] = {"max_faulted_per_group": 2}
    assert load_runbook(_write(tmp_path, data)).safety.max_faulted_per_group == 2


def test_crash_cannot_be_rolled_back_by_clear(tmp_path: Path) -> None:
    msg = _error(tmp_path, _mutate(phases__1__recovery={"action": "clear"}))
    assert msg == ("x.yaml: phases[1].recovery.action: a crash fault is rolled back by "
                   "'restart' or 'none' (got 'clear')")


def test_recovery_defaults_follow_the_fault() -> None:
    from gameday.runbook import parse_runbook

    rb = parse_runbook(MINIMAL)
    assert [p.recovery.action for p in rb.phases] == ["none", "restart", "clear"]


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    msg = _error(tmp_path, "name: x\nload: {rate: 1\nphases: []\n")
    assert msg.startswith("x.yaml: YAML syntax error at line ")


def test_missing_file_is_a_runbook_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(RunbookError, match=r"nope\.yaml: cannot read the runbook"):
        load_runbook(tmp_path / "nope.yaml")


def test_a_list_is_not_a_runbook(tmp_path: Path) -> None:
    assert _error(tmp_path, "- a\n- b\n") == "x.yaml: the runbook must be a mapping (got list)"


def test_sha256_changes_with_the_bytes(tmp_path: Path) -> None:
    a = _write(tmp_path, MINIMAL, "a.yaml")
    b = _write(tmp_path, {**MINIMAL, "seed": 3}, "b.yaml")
    assert len(runbook_sha256(a)) == 64
    assert runbook_sha256(a) != runbook_sha256(b)
    assert runbook_sha256(a) == runbook_sha256(a)


def test_ttd_targets_are_the_runbooks_own(tmp_path: Path) -> None:
    """A fault type without a TTD target has no TTD check (no target named after one
    system's faults is filled in for another's)."""
    rb = load_runbook(_write(tmp_path, {**MINIMAL, "slo": {"ttd_s": {"crash": 2}}}))
    assert rb.slo.ttd_s == {"crash": 2}
    assert load_runbook(_write(tmp_path, {**MINIMAL, "slo": {}}, "b.yaml")).slo.ttd_s == {}


def test_a_fault_ttl_shorter_than_its_phase_is_refused_naming_the_field(
    tmp_path: Path,
) -> None:
    """The defect: a 1 s TTL in a 10 s phase PASSED while measuring no fault for 8 s."""
    data = _mutate(phases__2__duration_s=10, phases__2__fault__ttl_s=1)
    assert _error(tmp_path, data) == (
        "x.yaml: phases[2].fault.ttl_s: the fault of phase 'slow' would clear itself before "
        "the phase ends: it has a time-to-live of 1 s, shorter than duration_s 10 s + "
        "safety.rollback_margin_s 5 s; set phases[2].fault.ttl_s or safety.fault_ttl_s to "
        "at least 15")


def test_the_runbook_wide_ttl_is_checked_against_every_fault_phase(tmp_path: Path) -> None:
    data = _mutate(phases__1__duration_s=30)
    data["safety"] = {"fault_ttl_s": 20, "rollback_margin_s": 2}
    msg = _error(tmp_path, data)
    assert msg.startswith("x.yaml: safety.fault_ttl_s: the fault of phase 'crash' would clear "
                          "itself before the phase ends")
    assert "set phases[1].fault.ttl_s or safety.fault_ttl_s to at least 32" in msg


def test_the_default_ttl_from_the_environment_is_checked_too(tmp_path: Path) -> None:
    path = _write(tmp_path, _mutate(phases__1__duration_s=30))
    assert load_runbook(path).fault_ttl(load_runbook(path).phases[1].fault) == 60  # type: ignore[arg-type]
    with pytest.raises(RunbookError) as err:
        load_runbook(path, default_fault_ttl_s=20)  # GAMEDAY_FAULT_TTL_S=20
    assert "phases[1].fault.ttl_s: the fault of phase 'crash' would clear itself" in str(
        err.value)
    assert "GAMEDAY_FAULT_TTL_S (or the built-in default) gives a time-to-live of 20 s" in str(
        err.value)


def test_the_ttl_sent_is_the_most_specific_one() -> None:
    from gameday.runbook import parse_runbook

    rb = parse_runbook(_mutate(phases__2__fault__ttl_s=45))
    crash, slow = rb.phases[1].fault, rb.phases[2].fault
    assert crash is not None and slow is not None
    assert rb.fault_ttl(crash, 90) == 90  # GAMEDAY_FAULT_TTL_S when the runbook names none
    assert rb.fault_ttl(slow, 90) == 45  # the fault's own
    rb.safety.fault_ttl_s = 30
    assert rb.fault_ttl(crash, 90) == 30  # the runbook's beats the environment's
    assert "ttl 30 s" in plan(rb, 90) and "ttl 45 s" in plan(rb, 90)
