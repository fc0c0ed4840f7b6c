from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gameday.errors import SafetyError, TargetLocked
from gameday.runbook import parse_runbook
from gameday.safety import AvailabilityGuard, TargetLock, check_blast_radius

SRC = Path(__file__).resolve().parents[2] / "src"


def _hold_lock_in_child(state_dir: Path, key: str) -> subprocess.Popen[str]:
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(SRC)!r})
        from gameday.safety import TargetLock
        lock = TargetLock({str(state_dir)!r}, {key!r}, run_id="run-a").acquire()
        print("held", flush=True)
        time.sleep(120)
    """)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def test_a_second_gameday_in_another_process_is_refused_until_the_holder_dies(
    tmp_path: Path,
) -> None:
    child = _hold_lock_in_child(tmp_path, "local:5001")
    try:
        with pytest.raises(TargetLocked) as exc:
            TargetLock(tmp_path, "local:5001").acquire()
        msg = str(exc.value)
        assert msg.startswith(
            f"a GameDay is already running against local:5001 (pid {child.pid}, run run-a, "
            "since 20")
        assert msg.endswith("; wait for it or run `gameday abort`")
        assert TargetLock.holder(tmp_path, "local:5001")["pid"] == child.pid
        # another target is not affected
        with TargetLock(tmp_path, "local:6001"):
            pass
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    assert TargetLock.holder(tmp_path, "local:5001") is None
    with TargetLock(tmp_path, "local:5001", run_id="run-b") as lock:
        assert lock.held
        assert TargetLock.holder(tmp_path, "local:5001") == {
            **TargetLock.holder(tmp_path, "local:5001"), "run_id": "run-b", "pid": os.getpid()}
    assert not lock.held and TargetLock.holder(tmp_path, "local:5001") is None


def test_set_run_id_shows_in_the_refusal(tmp_path: Path) -> None:
    with TargetLock(tmp_path, "compose:gameday") as lock:
        lock.set_run_id("20260101-000000-standard-abcdef")
        with pytest.raises(TargetLocked, match=r"run 20260101-000000-standard-abcdef"):
            TargetLock(tmp_path, "compose:gameday").acquire()


class _Window:
    def __init__(self, ok: int, total: int) -> None:
        self.ok, self.total = ok, total

    def window_stats(self, window_s: float) -> tuple[int, int]:
        return self.ok, self.total


def test_guard_needs_a_minimum_sample_before_it_aborts() -> None:
    guard = AvailabilityGuard(0.9, 5.0, min_samples=20, check_interval_s=0)
    assert guard.check(_Window(0, 1)) is None  # one early failure cannot abort
    assert guard.check(_Window(18, 20)) is None  # 90 % is not below the floor
    reason = guard.check(_Window(17, 20))
    assert reason == ("availability 85.0% over the last 5 s (17/20 requests ok) fell below "
                      "the floor 90.0%")
    assert guard.check(_Window(20, 20)) == reason  # once fired, stays fired


def test_guard_rate_limits_its_evaluation() -> None:
    guard = AvailabilityGuard(0.9, 5.0, min_samples=1, check_interval_s=60)
    assert guard.check(_Window(10, 10)) is None
    assert guard.check(_Window(0, 10)) is None  # not re-evaluated within the interval


def test_check_blast_radius_refuses_models_built_in_code() -> None:
    rb = parse_runbook({"name": "x", "system": "systems/inventory.yaml", "load": {"rate": 1},
                        "phases": [
        {"name": "a", "duration_s": 1, "fault": {"type": "latency", "target": "inventory/1"},
         "recovery": {"action": "none"}},
        {"name": "b", "duration_s": 1, "fault": {"type": "latency", "target": "inventory/2"}},
    ], "safety": {"max_faulted_per_group": 2}})
    check_blast_radius(rb)
    rb.safety.max_faulted_per_group = 1
    with pytest.raises(SafetyError, match="phase 'b' would fault 2 components of group "
                                          "'inventory' at once; "
                                          "safety.max_faulted_per_group allows 1"):
        check_blast_radius(rb)


def test_lock_file_content_is_not_what_locks(tmp_path: Path) -> None:
    lock = TargetLock(tmp_path, "local:5001").acquire()
    lock.release()
    lock.path.write_text('{"pid": 1, "run_id": "stale"}')  # a stale file from a crash
    assert TargetLock.holder(tmp_path, "local:5001") is None
    with TargetLock(tmp_path, "local:5001"):
        pass


def test_the_next_holder_finds_who_died_holding_the_lock(tmp_path: Path) -> None:
    child = _hold_lock_in_child(tmp_path, "local:5001")
    os.kill(child.pid, signal.SIGKILL)  # dies holding it: the kernel frees the lock
    child.wait(timeout=10)
    with TargetLock(tmp_path, "local:5001") as lock:
        assert lock.previous is not None
        assert lock.previous["pid"] == child.pid and lock.previous["run_id"] == "run-a"
        assert TargetLock.held_here(tmp_path, "local:5001") is lock
    assert TargetLock.held_here(tmp_path, "local:5001") is None
    with TargetLock(tmp_path, "local:5001") as lock:  # a clean release leaves nothing
        assert lock.previous is None
