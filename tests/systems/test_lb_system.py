"""The second system, built from third-party software only (systems/lb.yaml): HAProxy with
active health checks in front of three nginx backends, run by the local target from its
system file, probed by `gameday system check`, faulted by the process provider, and read
through HAProxy's own detector. A hang (SIGSTOP) ends at its TTL, and at once when the
harness is killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from gameday.cli import main
from gameday.config import get_settings
from gameday.systems.loader import load_system
from gameday.systems.local import SystemLocalTarget
from gameday.systems.probe import detector_items
from gameday.systems.providers import inject_process_fault
from gameday.systems.resolve import ResolvedSystem, resolve
from lb_software import LB_TESTS

pytestmark = LB_TESTS

REPO = Path(__file__).resolve().parents[2]
LB = REPO / "systems" / "lb.yaml"


@pytest.fixture
def lb(tmp_path: Path, free_base_port: Callable[[], int]
       ) -> Iterator[tuple[ResolvedSystem, SystemLocalTarget]]:
    """The lb system on free ports, started for one test (≈ 1-2 s) and stopped after it."""
    base = free_base_port()
    state = tmp_path / "lb-state"
    resolved = resolve(load_system(LB), base_port=base)
    target = SystemLocalTarget(resolved, get_settings(base_port=base, state_dir=state),
                               source=LB, owner_pid=os.getpid())
    target.start(timeout_s=60)
    try:
        yield resolved, target
    finally:
        target.stop()


def _states(resolved: ResolvedSystem) -> dict[str, str]:
    return dict(detector_items(resolved)[1])



def test_system_check_holds_on_the_running_load_balancer(
        lb, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    resolved, target = lb
    assert target.status().healthy
    assert main(["system", "check", str(LB), "--base-port", str(resolved.base_port)]) == 0
    out = capsys.readouterr().out
    assert "✔ detector status" in out and "components a, b, c, states UP" in out
    assert "✔ invariant same_item_everywhere [backend/c]: ['apple', 3]" in out


def test_a_hang_is_seen_by_haproxy_masked_from_clients_and_ends_at_its_ttl(lb, until) -> None:
    resolved, target = lb
    b = resolved.member("backend", "b")
    switch = inject_process_fault(target, b, "stop", ttl_s=3.0)
    assert switch is not None
    hung = psutil.Process(target.member_process(b).pid)
    until(lambda: hung.status() == psutil.STATUS_STOPPED, 2, "the backend stops (SIGSTOP)")
    until(lambda: _states(resolved)["b"] == "DOWN", 5, "HAProxy marks the hung backend DOWN")
    import httpx
    answers = [httpx.get(f"{resolved.groups['lb'].url}/item.json", timeout=3).status_code
               for _ in range(20)]
    assert answers == [200] * 20  # the front door masks it
    until(lambda: _states(resolved)["b"] == "UP", 10, "the TTL's SIGCONT brings it back UP")
    fired = switch.fired()
    assert fired is not None and fired.reason == "ttl" and fired.ok


def test_a_killed_backend_is_restarted_by_the_supervisor(lb, until) -> None:
    resolved, target = lb
    a = resolved.member("backend", "a")
    before = target.member_process(a).pid
    assert inject_process_fault(target, a, "kill", ttl_s=10) is None
    until(lambda: _states(resolved)["a"] == "DOWN", 5, "HAProxy marks the killed backend DOWN")
    target.wait_member_healthy(a, timeout_s=15)
    assert target.member_process(a).pid != before
    until(lambda: _states(resolved)["a"] == "UP", 10, "the restarted backend is UP again")


def test_a_hang_ends_when_the_harness_is_killed(lb, tmp_path: Path, until) -> None:
    resolved, target = lb
    c = resolved.member("backend", "c")
    script = f"""
import sys, time
from gameday.config import get_settings
from gameday.systems.loader import load_system
from gameday.systems.local import SystemLocalTarget
from gameday.systems.providers import inject_process_fault
from gameday.systems.resolve import resolve
resolved = resolve(load_system({str(LB)!r}), base_port={resolved.base_port})
target = SystemLocalTarget(resolved, get_settings(base_port={resolved.base_port},
                           state_dir={str(target.settings.state_dir)!r}), source={str(LB)!r})
inject_process_fault(target, resolved.member("backend", "c"), "stop", ttl_s=120)
print("injected", flush=True)
time.sleep(600)
"""
    harness = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert harness.stdout is not None and harness.stdout.readline().strip() == "injected"
        pid = target.member_process(c).pid
        until(lambda: psutil.Process(pid).status() == psutil.STATUS_STOPPED, 2,
              "the backend stops (SIGSTOP)")
        harness.send_signal(signal.SIGKILL)
        harness.wait(10)
        took = until(lambda: psutil.Process(pid).status() != psutil.STATUS_STOPPED, 10,
                      "the dead-man's switch continues the hung backend after kill -9")
        assert took < 10  # long before the 120 s TTL
        until(lambda: _states(resolved)["c"] == "UP", 10, "HAProxy sees it UP again")
    finally:
        if harness.poll() is None:
            harness.kill()


def test_gameday_abort_with_the_runbook_ends_a_hang_on_that_system(
        lb, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], until) -> None:
    resolved, target = lb
    c = resolved.member("backend", "c")
    switch = inject_process_fault(target, c, "stop", ttl_s=120)
    assert switch is not None
    pid = target.member_process(c).pid
    until(lambda: psutil.Process(pid).status() == psutil.STATUS_STOPPED, 2, "SIGSTOP")
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(target.settings.state_dir))
    monkeypatch.setenv("GAMEDAY_REPORTS_DIR", str(target.settings.state_dir / "reports"))
    assert main(["abort", "--runbook", str(REPO / "runbooks" / "lb.yaml"),
                 "--base-port", str(resolved.base_port)]) == 0
    out = capsys.readouterr().out
    assert "SIGCONT to backend/c" in out and "system 'lb'" in out
    assert psutil.Process(pid).status() != psutil.STATUS_STOPPED  # long before its TTL
    until(lambda: _states(resolved)["c"] == "UP", 10, "HAProxy sees it UP again")


def test_system_down_leaves_no_process(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch,
                                      free_base_port: Callable[[], int]) -> None:
    base = free_base_port()
    env_state = tmp_path / "state"
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(env_state))
    assert main(["system", "up", str(LB), "--base-port", str(base)]) == 0
    out = capsys.readouterr().out
    assert f"gameday system down {LB} --base-port {base}" in out
    target = SystemLocalTarget(resolve(load_system(LB), base_port=base),
                               get_settings(base_port=base, state_dir=env_state), source=LB)
    leaders = [s.pid for s in target.status().services if s.pid]
    assert len(leaders) == 4
    pids = leaders + [c.pid for p in leaders for c in psutil.Process(p).children(recursive=True)]
    assert len(pids) >= 7  # nginx's workers too
    assert main(["system", "down", str(LB), "--base-port", str(base)]) == 0
    assert not [p for p in pids if psutil.pid_exists(p)
                and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert main(["system", "status", str(LB), "--base-port", str(base)]) == 1


def test_ttd_and_ttr_from_haproxys_own_detector(lb, until) -> None:
    import pandas as pd

    from gameday import metrics
    from gameday.systems.detector import DetectorPoller

    resolved, target = lb
    b = resolved.member("backend", "b")
    poller = DetectorPoller(resolved).start()
    try:
        time.sleep(0.5)
        injected = time.time()
        switch = inject_process_fault(target, b, "stop", ttl_s=2.5)
        assert switch is not None
        until(lambda: any(t.status == "ON" for t in poller.transitions), 15,
               "HAProxy's view goes OFF and back ON")
    finally:
        found = poller.stop()
    assert [(t.instance_id, t.status) for t in found] == [("backend/b", "OFF"),
                                                          ("backend/b", "ON")]
    assert found[0].reason == "DOWN" and found[1].reason == "UP"
    frame = pd.DataFrame([t.__dict__ for t in found])
    ttd = metrics.ttd(frame, "backend/b", injected)
    assert ttd is not None and 0 < ttd < found[1].at_s - injected
    print(f"HAProxy TTD for a hung backend: {ttd:.2f} s; back UP "
          f"{found[1].at_s - injected - 2.5:.2f} s after the TTL's SIGCONT")
