"""The dead-man's switch with real processes: a SIGSTOPped ``sleep`` is the fault, SIGCONT
(``gameday.deadman:signal_process``) its rollback, as a process fault provider uses it.

The switch must roll back at its TTL while the harness lives, at once when the harness is
killed with SIGKILL, when the watchdog itself is signalled, and never once disarmed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from pydantic import ValidationError

from gameday import deadman
from gameday.errors import FaultError


def _wait(predicate: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.05)


def _stopped(proc: psutil.Process) -> bool:
    return proc.status() == psutil.STATUS_STOPPED


@pytest.fixture
def victim() -> Iterator[psutil.Process]:
    """A process in the "fault": stopped with SIGSTOP."""
    popen = subprocess.Popen(["sleep", "300"])
    proc = psutil.Process(popen.pid)
    proc.send_signal(signal.SIGSTOP)
    _wait(lambda: _stopped(proc), 5, "the victim to stop")
    try:
        yield proc
    finally:
        popen.kill()
        popen.wait(timeout=5)


def _resume(proc: psutil.Process) -> deadman.Rollback:
    return deadman.Rollback(call="gameday.deadman:signal_process",
                            kwargs={"pid": proc.pid, "started_at": proc.create_time()},
                            description=f"SIGCONT to sleep {proc.pid}")


def test_the_watchdog_rolls_back_at_the_ttl_while_the_harness_lives(
    victim: psutil.Process, tmp_path: Path
) -> None:
    switch = deadman.arm(_resume(victim), ttl_s=3.0, state_dir=tmp_path)
    assert switch.armed and _stopped(victim)  # (3 s: longer than a slow watchdog start)
    _wait(lambda: not _stopped(victim), 10, "the rollback at the TTL")
    _wait(lambda: switch.fired() is not None, 5, "the watchdog's result")
    firing = switch.fired()
    assert firing is not None
    assert (firing.reason, firing.ok, firing.attempts) == ("ttl", True, 1)
    assert firing.fired_at >= switch.spec.expires_at
    assert firing.output == f"sent SIGCONT to pid {victim.pid}"
    switch.watchdog.wait(timeout=5)
    assert not switch.armed and not switch.path.exists()


def test_the_ttl_runs_from_when_the_switch_is_armed_not_from_before_the_watchdog_started(
    victim: psutil.Process, tmp_path: Path
) -> None:
    """The defect: the deadline was set before the watchdog process started, so a fault
    injected once arm() returned lasted the TTL minus the watchdog's start-up (a 2.5 s
    hang of an lb backend ended after 1.2 s on a busy machine)."""
    switch = deadman.arm(_resume(victim), ttl_s=2.0, state_dir=tmp_path)
    injected = time.time()  # the harness injects as soon as arm() returns
    _wait(lambda: switch.fired() is not None, 10, "the rollback at the TTL")
    firing = switch.fired()
    assert firing is not None and firing.reason == "ttl"
    assert firing.fired_at - injected >= 2.0 - deadman.POLL_S


_HARNESS = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from gameday import deadman
    rollback = deadman.Rollback.model_validate_json(sys.argv[1])
    switch = deadman.arm(rollback, ttl_s=300, state_dir=Path(sys.argv[2]))
    print(switch.id, flush=True)
    time.sleep(600)
""")


def test_kill_9_of_the_harness_rolls_back_at_once(victim: psutil.Process, tmp_path: Path) -> None:
    harness = subprocess.Popen(
        [sys.executable, "-c", _HARNESS, _resume(victim).model_dump_json(), str(tmp_path)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert harness.stdout is not None
        switch_id = harness.stdout.readline().strip()
        assert switch_id, "the harness did not arm its switch"
        assert _stopped(victim)
        harness.send_signal(signal.SIGKILL)
        # Not reaped yet on purpose: a zombie harness counts as dead.
        _wait(lambda: not _stopped(victim), 10, "the rollback after the harness died")
    finally:
        harness.kill()
        harness.wait(timeout=5)
    result = tmp_path / "deadman" / f"{switch_id}.result.json"
    _wait(result.exists, 5, "the watchdog's result")
    firing = deadman.Firing.model_validate_json(result.read_text())
    assert (firing.reason, firing.ok) == ("harness-died", True)
    assert firing.fired_at < firing.finished_at < time.time()
    assert deadman.armed_specs(tmp_path) == []


def test_a_disarmed_switch_never_acts(victim: psutil.Process, tmp_path: Path) -> None:
    # A TTL well above the watchdog's start-up (python + imports: seconds on a busy machine).
    switch = deadman.arm(_resume(victim), ttl_s=5, state_dir=tmp_path)
    switch.disarm()
    assert switch.watchdog.returncode == 0 and not switch.armed
    time.sleep(max(0.0, switch.spec.expires_at - time.time()) + 0.5)  # past the TTL
    assert _stopped(victim)
    assert switch.fired() is None
    assert "disarmed" in (tmp_path / "deadman" / "watchdog.log").read_text()


def test_rollback_runs_in_the_harness_then_disarms(victim: psutil.Process, tmp_path: Path) -> None:
    switch = deadman.arm(_resume(victim), ttl_s=60, state_dir=tmp_path)
    assert switch.rollback() == f"sent SIGCONT to pid {victim.pid}"
    assert not _stopped(victim)
    assert not switch.armed and switch.fired() is None
    assert deadman.armed_specs(tmp_path) == []


def test_a_signalled_watchdog_rolls_back_rather_than_leave_the_fault(
    victim: psutil.Process, tmp_path: Path
) -> None:
    switch = deadman.arm(_resume(victim), ttl_s=300, state_dir=tmp_path)
    os.kill(switch.watchdog.pid, signal.SIGTERM)
    _wait(lambda: not _stopped(victim), 10, "the rollback on SIGTERM")
    switch.watchdog.wait(timeout=5)
    firing = switch.fired()
    assert firing is not None and firing.reason == "signal" and firing.ok


def test_the_watchdog_survives_a_kill_of_the_harness_process_group(
    victim: psutil.Process, tmp_path: Path
) -> None:
    # The harness leads its own process group, as a shell job does; Ctrl-C or `kill -- -pgid`
    # reaches the whole group. The watchdog has a session of its own and stays.
    harness = subprocess.Popen(
        [sys.executable, "-c", _HARNESS, _resume(victim).model_dump_json(), str(tmp_path)],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )
    assert harness.stdout is not None
    assert harness.stdout.readline().strip()
    os.killpg(harness.pid, signal.SIGKILL)
    harness.wait(timeout=5)
    _wait(lambda: not _stopped(victim), 10, "the rollback after the group was killed")


def test_abort_fires_every_armed_switch_here(victim: psutil.Process, tmp_path: Path) -> None:
    switch = deadman.arm(_resume(victim), ttl_s=300, state_dir=tmp_path)
    [(spec, outcome)] = deadman.fire_armed(tmp_path)
    assert spec.id == switch.id
    assert outcome == f"rolled back: sent SIGCONT to pid {victim.pid}"
    assert not _stopped(victim)
    switch.watchdog.wait(timeout=5)  # it saw its spec go and left without acting
    assert switch.fired() is None


def test_abort_leaves_a_stack_switch_to_its_watchdog(victim: psutil.Process,
                                                    tmp_path: Path) -> None:
    """A ``stack`` switch holds the take-down of a stack a live GameDay started: ``gameday
    abort`` undoes faults only; the switch still fires when its harness dies."""
    held = deadman.arm(_resume(victim), ttl_s=300, state_dir=tmp_path, kind="stack")
    try:
        assert deadman.fire_armed(tmp_path) == []
        assert _stopped(victim) and held.armed
        assert [s.kind for s in deadman.armed_specs(tmp_path)] == ["stack"]
    finally:
        held.disarm()


def test_a_rollback_that_cannot_be_found_arms_nothing(tmp_path: Path) -> None:
    bad = deadman.Rollback(call="gameday.no_such_module:undo")
    with pytest.raises(FaultError, match="rollback 'gameday.no_such_module:undo' cannot be found"):
        deadman.arm(bad, ttl_s=10, state_dir=tmp_path)
    assert deadman.armed_specs(tmp_path) == []
    with pytest.raises(ValidationError):
        deadman.Rollback(call="os.system('rm -rf /')")
    with pytest.raises(FaultError, match="positive TTL"):
        deadman.arm(deadman.Rollback(call="gameday.deadman:signal_process"), ttl_s=0,
                    state_dir=tmp_path)


def test_signal_process_leaves_a_reused_pid_alone(victim: psutil.Process) -> None:
    outcome = deadman.signal_process(victim.pid, victim.create_time() - 100.0)
    assert outcome == f"pid {victim.pid} is another process now: nothing to do"
    assert _stopped(victim)
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert deadman.signal_process(gone.pid, 0.0) == f"pid {gone.pid} is gone: nothing to do"
