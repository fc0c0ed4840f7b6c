"""The test stack (``local_stack``) seen through its system file, systems/inventory.yaml:
what end-to-end tests check of it between GameDays, by the harness's generic path (the
file's steady-state probes, its detector, its invariants) rather than by helpers that
know the inventory stack.

- :func:`inventory_system`: the file resolved at the stack's base port;
- :func:`wait_steady`: every steady-state probe holds (else the test fails saying which);
- :func:`consistency`: the file's invariants (every replica equals the ledger), waited for;
- :func:`states`: each replica's state per the file's detector (the monitor's transitions);
- :func:`wait_on`: until the detector shows a replica ON again.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from gameday.systems.detector import read_transitions
from gameday.systems.invariants import invariant_findings
from gameday.systems.loader import load_system
from gameday.systems.probe import problems, wait_steady_state
from gameday.systems.resolve import ResolvedSystem, resolve

INVENTORY_FILE = Path(__file__).resolve().parents[1] / "systems" / "inventory.yaml"


def inventory_system(stack: Any) -> ResolvedSystem:
    """systems/inventory.yaml resolved on the local target at ``stack``'s base port."""
    return resolve(load_system(INVENTORY_FILE), target="local", base_port=stack.base_port)


def wait_steady(stack: Any, timeout_s: float = 60) -> None:
    """Until every steady-state probe of the file holds; AssertionError after timeout_s."""
    ok, found = wait_steady_state(inventory_system(stack), timeout_s)
    assert ok, f"not in its steady state within {timeout_s} s: {problems(found)}"


def consistency(stack: Any, timeout_s: float = 30) -> tuple[bool, list[str]]:
    """Whether every invariant of the file holds, waited for up to ``timeout_s``, and what
    failed in the last round."""
    resolved = inventory_system(stack)
    deadline = time.monotonic() + timeout_s
    while True:
        found = invariant_findings(resolved)
        if all(f.ok for f in found) or time.monotonic() >= deadline:
            return all(f.ok for f in found), problems(found)
        time.sleep(0.25)


def states(stack: Any, since_s: float | None = None) -> dict[str, str]:
    """``{"inventory/1": "ON", …}``: each replica's last state per the file's detector
    (transitions since ``since_s``, default the last hour; a replica without one is ON)."""
    resolved = inventory_system(stack)
    since = time.time() - 3600 if since_s is None else since_s
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since))
    out = {m.label: "ON" for m in resolved.all_members()
           if resolved.system.components[m.group].faultable}
    for t in read_transitions(resolved, since_iso=iso):
        out[t.instance_id] = t.status
    return out


def wait_on(stack: Any, label: str, timeout_s: float = 30) -> None:
    """Until the detector shows ``label`` (``inventory/2``) ON; AssertionError after."""
    deadline = time.monotonic() + timeout_s
    while states(stack).get(label) != "ON":
        assert time.monotonic() < deadline, f"{label} not ON within {timeout_s} s"
        time.sleep(0.2)
