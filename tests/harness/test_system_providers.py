"""Fault providers of a system file against the real local stack: its own fault API
(`http`) and a Chaos Toolkit activity (`chaostoolkit`, run by chaostoolkit-lib). Where the
mechanism has no TTL of its own, the dead-man's switch ends the fault at the TTL, and at
once when the harness is killed with SIGKILL."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gameday.errors import FaultError
from gameday.systems.loader import load_system, parse_system
from gameday.systems.model import ChaosToolkitFault, HttpFault
from gameday.systems.providers import inject_ctk_fault, inject_http_fault, send_request
from gameday.systems.resolve import resolve

REPO = Path(__file__).resolve().parents[2]
INVENTORY = REPO / "systems" / "inventory.yaml"


def _fault_on(stack, replica: str) -> str | None:
    body = httpx.get(f"{stack.urls.replica(replica)}/inject-failure", timeout=5).json()
    return body.get("failure_type") or body.get("type")



def _inventory(stack, **fault_changes: Any):
    data = yaml.safe_load(INVENTORY.read_text())
    for name, changes in fault_changes.items():
        data["faults"][name] = {**data["faults"][name], **changes}
    return resolve(parse_system(data, "inventory.yaml"), base_port=stack.base_port)


def test_the_stacks_fault_api_as_an_http_provider(clean_faults, monkeypatch) -> None:
    stack = clean_faults
    monkeypatch.setenv("GAMEDAY_CHAOS_TOKEN", stack.chaos_token)
    resolved = resolve(load_system(INVENTORY), base_port=stack.base_port)
    fault = resolved.system.faults["latency"]
    assert isinstance(fault, HttpFault) and fault.honours_ttl
    clear, switch = inject_http_fault(resolved, fault, resolved.member("inventory", "2"),
                                      params={"latency_ms": 300}, ttl_s=20,
                                      state_dir=stack.settings.state_dir)
    assert switch is None  # the replica clears it itself after ttl_s
    state = httpx.get(f"{stack.urls.replica('2')}/inject-failure", timeout=5).json()
    assert _fault_on(stack, "2") == "latency", state
    assert json.dumps(state).count("300") >= 1  # the runbook's parameter was sent
    send_request(**clear)
    assert _fault_on(stack, "2") is None


def test_a_refused_injection_is_a_fault_error_naming_the_request(clean_faults,
                                                                monkeypatch) -> None:
    stack = clean_faults
    monkeypatch.setenv("GAMEDAY_CHAOS_TOKEN", "not-the-token")
    resolved = resolve(load_system(INVENTORY), base_port=stack.base_port)
    with pytest.raises(FaultError, match=r"POST http://127\.0\.0\.1:\d+/inject-failure: "
                                         r"status 401"):
        inject_http_fault(resolved, resolved.system.faults["crash"],
                          resolved.member("inventory", "1"), ttl_s=5,
                          state_dir=stack.settings.state_dir)


def test_an_api_without_a_ttl_is_cleared_by_the_switch_when_the_harness_is_killed(
        clean_faults, tmp_path: Path, until) -> None:
    stack = clean_faults
    # The same API, but as one that knows no TTL: nothing in the body, honours_ttl false.
    data = yaml.safe_load(INVENTORY.read_text())
    data["faults"]["latency"]["honours_ttl"] = False
    data["faults"]["latency"]["inject"]["json"] = {"type": "latency", "latency_ms": 300}
    system_file = tmp_path / "no-ttl.yaml"
    system_file.write_text(yaml.safe_dump(data))
    script = f"""
import time
from gameday.systems.loader import load_system
from gameday.systems.providers import inject_http_fault
from gameday.systems.resolve import resolve
resolved = resolve(load_system({str(system_file)!r}), base_port={stack.base_port})
inject_http_fault(resolved, resolved.system.faults["latency"],
                  resolved.member("inventory", "3"), ttl_s=120,
                  state_dir={str(stack.settings.state_dir)!r})
print("injected", flush=True)
time.sleep(600)
"""
    harness = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                               text=True, env={**__import__("os").environ,
                                               "GAMEDAY_CHAOS_TOKEN": stack.chaos_token})
    try:
        assert harness.stdout is not None and harness.stdout.readline().strip() == "injected"
        assert _fault_on(stack, "3") == "latency"
        harness.send_signal(signal.SIGKILL)
        harness.wait(10)
        took = until(lambda: _fault_on(stack, "3") is None, 10,
                      "the switch sends the clear request after kill -9")
        assert took < 10  # long before the 120 s TTL and the replica's own 300 s default
    finally:
        if harness.poll() is None:
            harness.kill()


def _ctk_fault(stack, token: str) -> ChaosToolkitFault:
    target = "{{ component.url }}/inject-failure"
    headers = {"X-Chaos-Token": token, "Content-Type": "application/json"}
    return ChaosToolkitFault(
        provider="chaostoolkit", applies_to=["inventory"],
        action={"type": "action", "name": "slow-replica",
                "provider": {"type": "http", "url": target, "method": "POST",
                             "headers": headers,
                             "arguments": {"type": "latency", "latency_ms": 250}}},
        rollback={"type": "action", "name": "clear-replica",
                  "provider": {"type": "http", "url": target, "method": "POST",
                               "headers": headers, "arguments": {"type": "clear"}}})


def test_a_chaos_toolkit_activity_as_a_fault_with_its_rollback_at_the_ttl(
        clean_faults, until) -> None:
    stack = clean_faults
    resolved = resolve(load_system(INVENTORY), base_port=stack.base_port)
    fault = _ctk_fault(stack, stack.chaos_token)
    member = resolved.member("inventory", "1")
    output, switch = inject_ctk_fault(resolved, fault, member, ttl_s=2.0,
                                      state_dir=stack.settings.state_dir)
    assert output["status"] == 200 and _fault_on(stack, "1") == "latency"
    assert switch is not None
    until(lambda: _fault_on(stack, "1") is None, 8, "the rollback runs at the TTL")
    fired = switch.fired()
    assert fired is not None and fired.reason == "ttl" and fired.ok

    output, switch = inject_ctk_fault(resolved, fault, member, ttl_s=30,
                                      state_dir=stack.settings.state_dir)
    assert _fault_on(stack, "1") == "latency"
    switch.rollback()  # the harness ends it early: cleared, and the switch disarmed
    assert _fault_on(stack, "1") is None and not switch.armed


def test_an_invalid_chaos_toolkit_activity_injects_nothing(clean_faults) -> None:
    stack = clean_faults
    resolved = resolve(load_system(INVENTORY), base_port=stack.base_port)
    bad = ChaosToolkitFault(provider="chaostoolkit",
                            action={"type": "action", "name": "x", "provider": {"type": "?"}})
    with pytest.raises(FaultError, match="not a valid activity"):
        inject_ctk_fault(resolved, bad, resolved.member("inventory", "1"), ttl_s=5,
                         state_dir=stack.settings.state_dir)


def test_the_monitors_history_read_as_a_transitions_detector(
        clean_faults, monkeypatch, until) -> None:
    from datetime import UTC, datetime

    from gameday.systems.detector import read_transitions

    stack = clean_faults
    monkeypatch.setenv("GAMEDAY_CHAOS_TOKEN", stack.chaos_token)
    resolved = resolve(load_system(INVENTORY), base_port=stack.base_port)
    since = datetime.now(UTC).isoformat()
    clear, _ = inject_http_fault(resolved, resolved.system.faults["latency"],
                                 resolved.member("inventory", "2"), params={"latency_ms": 800},
                                 ttl_s=10, state_dir=stack.settings.state_dir)
    try:
        until(lambda: any(t.status == "OFF" for t in read_transitions(resolved, since_iso=since)),
               10, "the monitor marks the slow replica OFF")
    finally:
        send_request(**clear)
    found = read_transitions(resolved, since_iso=since)
    assert found[0].instance_id == "inventory/2" and found[0].status == "OFF"
    assert {t.instance_id for t in found} == {"inventory/2"}
