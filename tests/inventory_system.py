"""The test stack (``local_stack``) seen through its system file, systems/inventory.yaml:
what end-to-end tests check of it between GameDays, by the harness's generic path (the
file's steady-state probes, its detector, its invariants) rather than by helpers that
know the inventory stack.

- :func:`inventory_system`: the file resolved at the stack's base port;
- :func:`wait_steady`: every steady-state probe holds (else the test fails saying which);
- :func:`consistency`: the file's invariants (every replica equals the ledger), waited for;
- :func:`states`: each replica's state per the file's detector (the monitor's transitions);
- :func:`wait_on`: until the detector shows a replica ON again;
- :class:`StackUrls` / :func:`stack_urls`: where the stack's services answer, from the file;
- :func:`inventory_target`: the harness's generic target running the file (local or compose).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gameday.systems.detector import read_transitions
from gameday.systems.invariants import invariant_findings
from gameday.systems.loader import load_system
from gameday.systems.probe import problems, wait_steady_state
from gameday.systems.resolve import Member, ResolvedSystem, resolve

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


@dataclass(frozen=True)
class StackUrls:
    """Where the stack's HTTP services answer. ``inventory[0]`` is replica "1"."""

    inventory: tuple[str, ...]
    monitor: str
    voter: str
    orders: str

    def replica(self, instance_id: str | int) -> str:
        """Base URL of replica ``instance_id`` ("1".."3")."""
        return self.inventory[int(instance_id) - 1]


def resolved_at(base_port: int, target: str = "local") -> ResolvedSystem:
    """systems/inventory.yaml resolved for ``target`` at ``base_port``."""
    return resolve(load_system(INVENTORY_FILE), target=target, base_port=base_port)


def stack_urls(resolved: ResolvedSystem) -> StackUrls:
    groups = resolved.groups
    return StackUrls(inventory=tuple(m.url for m in groups["inventory"]),
                     monitor=groups["monitor"].url, voter=groups["voter"].url,
                     orders=groups["orders"].url)


def replica_member(resolved: ResolvedSystem, instance_id: str | int) -> Member:
    """Replica ``instance_id`` of the file (its member of group ``inventory``)."""
    return resolved.member("inventory", str(instance_id))


def stack_ports(base_port: int) -> dict[str, int]:
    """Every process's port at ``base_port`` (``inventory-1`` … ``kafka``, ``postgres``)."""
    from gameday.systems.local import process_name

    return {process_name(m): m.port for m in resolved_at(base_port).all_members()
            if m.port is not None}


def inventory_target(settings: Any, *, target: str = "local", **options: Any) -> Any:
    """The harness's generic target running systems/inventory.yaml at the settings' base
    port: a SystemLocalTarget (``options``: owner_pid, keep_data, …) or, with ``target=
    "compose"``, a SystemComposeTarget (``options``: docker_timeout_s, …)."""
    resolved = resolved_at(settings.base_port, target)
    if target == "compose":
        from gameday.systems.compose import SystemComposeTarget

        return SystemComposeTarget(resolved, settings, source=INVENTORY_FILE, **options)
    from gameday.systems.local import SystemLocalTarget

    return SystemLocalTarget(resolved, settings, source=INVENTORY_FILE, **options)
