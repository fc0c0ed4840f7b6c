from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gameday.errors import RunbookError
from gameday.runbook import expand_trials, load_runbook, parse_runbook, plan

SMOKE = Path(__file__).resolve().parents[2] / "runbooks" / "smoke.yaml"


def _smoke(**overrides: object) -> dict:
    data = yaml.safe_load(SMOKE.read_text())
    data.update(overrides)
    return data


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "rb.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_single_trial_runs_exactly_as_written(tmp_path: Path) -> None:
    rb = load_runbook(_write(tmp_path, _smoke()))
    assert [p.name for p in rb.phases] == ["baseline", "crash", "incorrect_response", "recovery"]
    assert all(p.trial is None for p in rb.phases)


def test_trials_repeat_the_fault_block_between_baseline_and_recovery(tmp_path: Path) -> None:
    rb = load_runbook(_write(tmp_path, _smoke(trials=3)))
    assert [p.name for p in rb.phases] == [
        "baseline", "crash-t1", "incorrect_response-t1", "crash-t2", "incorrect_response-t2",
        "crash-t3", "incorrect_response-t3", "recovery"]
    trials = [p for p in rb.phases if p.trial]
    assert [(p.trial, p.repeats) for p in trials[:2]] == [(1, "crash"),
                                                          (1, "incorrect_response")]
    # targets rotated: crash starts on 3 (as written), then 1, then 2
    assert [p.fault.member for p in trials if p.repeats == "crash"] == ["3", "1", "2"]
    assert all(p.fault.params()["product_id"] == "PROD-003" for p in trials
               if p.repeats == "incorrect_response")
    assert "3 trials (fixed order, targets rotated)" in plan(rb)
    assert expand_trials(rb) is rb  # already expanded: unchanged


def test_shuffled_order_is_fixed_by_the_seed_and_rotation_can_be_off() -> None:
    def order(seed: int) -> list[str]:
        rb = expand_trials(parse_runbook(_smoke(trials=6, trial_order="shuffled", seed=seed,
                                                rotate_targets=False)))
        assert {p.fault.member for p in rb.phases if p.repeats == "crash"} == {"3"}
        return [p.name for p in rb.phases]

    assert order(1) == order(1)
    assert order(1) != order(2)
    fixed = [p.name for p in expand_trials(parse_runbook(_smoke(trials=6))).phases]
    assert sorted(order(1)) == sorted(fixed) and order(1) != fixed  # same phases, reordered
    assert order(1)[0] == "baseline" and order(1)[-1] == "recovery"


@pytest.mark.parametrize(("value", "said"), [(0, "trials: must be ≥ 1"),
                                             (201, "trials: must be ≤ 200")])
def test_trials_out_of_range_are_refused(tmp_path: Path, value: int, said: str) -> None:
    with pytest.raises(RunbookError) as exc:
        load_runbook(_write(tmp_path, _smoke(trials=value)))
    assert said in str(exc.value)


def test_a_runbook_cannot_set_a_phase_trial_by_hand(tmp_path: Path) -> None:
    data = _smoke()
    data["phases"][1]["trial"] = 1
    with pytest.raises(RunbookError) as exc:
        load_runbook(_write(tmp_path, data))
    assert "phases[1].trial: unknown field; allowed: name, description, fault" in str(exc.value)
