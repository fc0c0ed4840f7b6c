"""Container faults on the real compose stack: each one seen by the stack's own monitor and
rolled back, by the harness, at its TTL, or by the dead-man's switch after ``kill -9`` of
the harness.

The stack is ``compose_stack`` (tests/conftest.py: the images of ``make images``, a
project of its own, free ports). The faults hit the containers only; the stack's HTTP
fault API is not used here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from stack_helpers import monitor_state, wait_all_on, wait_consistent, wait_until

from gameday import deadman
from gameday.errors import StackNotRunning, TargetError

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as client:
        yield client


@pytest.fixture
def stack(compose_stack: Any, http: httpx.Client) -> Iterator[Any]:
    """The compose stack with every replica ON; any fault left armed is undone afterwards."""
    wait_all_on(http, compose_stack, timeout_s=60)
    try:
        yield compose_stack
    finally:
        deadman.fire_armed(compose_stack.settings.state_dir)
        wait_all_on(http, compose_stack, timeout_s=90)


def _state(stack: Any, service: str) -> dict[str, Any]:
    container = stack.target.containers()[service]
    return container.attrs["State"] | {"RestartCount": container.attrs["RestartCount"]}


def _networks(stack: Any, service: str) -> dict[str, Any]:
    networks = stack.target.containers()[service].attrs["NetworkSettings"]["Networks"]
    return {name.removeprefix(f"{stack.target.project}_"): ep for name, ep in networks.items()}


def _off(http: httpx.Client, stack: Any, replica: str) -> bool:
    return monitor_state(http, stack, replica)["status"] == "OFF"


def _on(http: httpx.Client, stack: Any, replica: str) -> bool:
    return monitor_state(http, stack, replica)["status"] == "ON"


def test_kill_is_detected_and_the_restart_policy_brings_the_replica_back(stack, http):
    before = _state(stack, "inventory-2")
    switch = stack.target.inject_container_fault("inventory-2", "kill", ttl_s=120)
    wait_until(lambda: _off(http, stack, "2"), timeout_s=15, what="replica 2 OFF after the kill")
    # Docker restarted it (the restart policy), not the harness: its restart count went up.
    wait_until(lambda: _state(stack, "inventory-2")["RestartCount"] > before["RestartCount"],
               timeout_s=30, what="Docker's restart policy to restart the replica")
    assert _state(stack, "inventory-2")["StartedAt"] != before["StartedAt"]
    wait_until(lambda: _on(http, stack, "2"), timeout_s=60, what="replica 2 ON again")
    assert switch.rollback() == f"{switch.spec.rollback.kwargs['container_name']} is running"
    assert not switch.armed


def test_pause_is_a_hang_the_monitor_detects_and_unpause_ends(stack, http):
    switch = stack.target.inject_container_fault("inventory-3", "pause", ttl_s=120)
    assert _state(stack, "inventory-3")["Paused"] is True
    wait_until(lambda: _off(http, stack, "3"), timeout_s=15, what="replica 3 OFF while paused")
    voted = http.get(f"{stack.urls.voter}/inventory/PROD-001").json()
    assert voted["quorum_achieved"] is True  # two replicas answer: the hang is masked
    assert "3" not in voted["voting_metrics"]["participating_instances"]
    assert switch.rollback().startswith("unpaused ")
    assert _state(stack, "inventory-3")["Paused"] is False
    wait_until(lambda: _on(http, stack, "3"), timeout_s=30, what="replica 3 ON after unpause")
    assert switch.rollback().endswith("was not paused")  # a second undo is harmless


def test_a_partition_from_the_voter_and_monitor_is_detected_and_healed(stack, http):
    aliases = _networks(stack, "inventory-1")["replicas"]["Aliases"]
    switch = stack.target.inject_container_fault("inventory-1", "disconnect", ttl_s=120,
                                                  network="replicas")
    assert set(_networks(stack, "inventory-1")) == {"db", "events"}
    wait_until(lambda: _off(http, stack, "1"), timeout_s=20, what="replica 1 OFF, cut off")
    # The replica itself runs on: it still answers on its published port.
    assert http.get(f"{stack.urls.replica('1')}/health").status_code == 200
    assert switch.rollback().startswith("connected ")
    healed = _networks(stack, "inventory-1")["replicas"]["Aliases"]
    assert "inventory-1.replicas" in healed and set(aliases) <= set(healed) | {healed[0]}
    wait_until(lambda: _on(http, stack, "1"), timeout_s=30, what="replica 1 ON, reachable")


def test_a_partition_from_the_broker_is_noticed_by_readers_and_healed(stack, http):
    product = "PROD-003"
    start = wait_consistent(http, stack, timeout_s=30)["3"][product]
    switch = stack.target.inject_container_fault("inventory-3", "disconnect", ttl_s=120,
                                                 network="events")
    try:
        for _ in range(3):
            assert http.post(f"{stack.urls.orders}/orders",
                             json={"product_id": product, "quantity": 1}).status_code == 201
        after = (start[0] - 3, start[1] + 3)

        def stock(replica: str) -> tuple[int, int]:
            row = http.get(f"{stack.urls.replica(replica)}/inventory/{product}").json()
            return row["available_quantity"], row["reserved_quantity"]

        wait_until(lambda: stock("1") == stock("2") == after, timeout_s=20,
                   what="replicas 1 and 2 to apply the orders")
        assert stock("3") == start  # cut from the broker, replica 3 has seen none of them

        def noticed() -> bool:
            # Readers notice: the voter reports replica 3's stale answer as an outlier,
            # and the monitor, reading every replica, confirms it.
            voted = http.get(f"{stack.urls.voter}/inventory/{product}").json()
            assert voted["data"]["available_quantity"] == after[0]  # outvoted, never served
            return _off(http, stack, "3")

        wait_until(noticed, timeout_s=20, interval_s=0.2, what="replica 3 OFF, stale")
    finally:
        switch.rollback()
    replicas = wait_consistent(http, stack, timeout_s=60)  # it catches up once healed
    assert replicas["3"][product] == after
    wait_until(lambda: _on(http, stack, "3"), timeout_s=30, what="replica 3 ON, caught up")


def test_a_container_fault_ends_at_its_ttl(stack, http):
    switch = stack.target.inject_container_fault("inventory-2", "pause", ttl_s=3)
    wait_until(lambda: _off(http, stack, "2"), timeout_s=15, what="replica 2 OFF while paused")
    wait_until(lambda: not _state(stack, "inventory-2")["Paused"], timeout_s=15,
               what="the switch to unpause at the TTL")
    firing = switch.fired()
    assert firing is not None and (firing.reason, firing.ok) == ("ttl", True)
    wait_until(lambda: _on(http, stack, "2"), timeout_s=30, what="replica 2 ON again")


_HARNESS = textwrap.dedent("""
    import sys, time
    from gameday.config import get_settings
    from gameday.targets.compose import ComposeTarget
    service, action, network = sys.argv[1], sys.argv[2], sys.argv[3] or None
    target = ComposeTarget(get_settings())
    switch = target.inject_container_fault(service, action, ttl_s=600, network=network)
    print(switch.id, flush=True)
    time.sleep(900)
""")


@pytest.mark.parametrize(
    ("action", "network", "in_effect", "undone"),
    [
        ("pause", "", lambda s: s["Paused"], lambda s: not s["Paused"]),
        ("stop", "", lambda s: not s["Running"], lambda s: s["Running"]),
        ("disconnect", "replicas", None, None),
    ],
    ids=["pause", "stop", "partition"],
)
def test_kill_9_of_the_harness_rolls_the_container_fault_back(
    stack, http, action, network, in_effect, undone
):
    settings = stack.settings
    env = {**os.environ, "GAMEDAY_COMPOSE_PROJECT": settings.compose_project,
           "GAMEDAY_COMPOSE_FILE": settings.compose_file,
           "GAMEDAY_BASE_PORT": str(settings.base_port),
           "GAMEDAY_STATE_DIR": str(settings.state_dir)}
    harness = subprocess.Popen([sys.executable, "-c", _HARNESS, "inventory-3", action, network],
                               stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert harness.stdout is not None
        switch_id = harness.stdout.readline().strip()
        assert switch_id, "the harness did not inject its fault"
        if in_effect is None:
            assert "replicas" not in _networks(stack, "inventory-3")
        else:
            assert in_effect(_state(stack, "inventory-3"))
        wait_until(lambda: _off(http, stack, "3"), timeout_s=20, what="replica 3 OFF")
        harness.send_signal(signal.SIGKILL)
    finally:
        harness.kill()
        harness.wait(timeout=10)
    if undone is None:
        wait_until(lambda: "replicas" in _networks(stack, "inventory-3"), timeout_s=20,
                   what="the switch to reconnect replica 3")
    else:
        wait_until(lambda: undone(_state(stack, "inventory-3")), timeout_s=20,
                   what=f"the switch to undo {action}")
    wait_until(lambda: _on(http, stack, "3"), timeout_s=60, what="replica 3 ON again")
    result = settings.state_dir / "deadman" / f"{switch_id}.result.json"
    firing = deadman.Firing.model_validate_json(result.read_text())
    assert (firing.reason, firing.ok) == ("harness-died", True)


def test_bad_container_fault_requests_are_refused_before_anything_happens(stack):
    target = stack.target
    with pytest.raises(TargetError, match="unknown container action 'melt'; allowed: kill, "):
        target.inject_container_fault("inventory-1", "melt", ttl_s=10)
    with pytest.raises(TargetError, match="unknown service 'inventory-9'"):
        target.inject_container_fault("inventory-9", "pause", ttl_s=10)
    with pytest.raises(TargetError, match="has no network 'internet'; it has: db, events, "):
        target.inject_container_fault("inventory-1", "disconnect", ttl_s=10, network="internet")
    with pytest.raises(TargetError, match="kafka is not attached to network"):
        target.inject_container_fault("kafka", "disconnect", ttl_s=10, network="db")
    with pytest.raises(TargetError, match="a network applies to `disconnect` only"):
        target.inject_container_fault("inventory-1", "pause", ttl_s=10, network="db")
    assert deadman.armed_specs(stack.settings.state_dir) == []
    assert all(not s["Paused"] and s["Running"]
               for s in (_state(stack, f"inventory-{i}") for i in "123"))


def test_a_fault_on_a_stack_that_is_not_running_says_so(stack):
    from gameday.targets.compose import ComposeTarget

    other = ComposeTarget(stack.settings.model_copy(update={"compose_project": "gdtest-none"}))
    with pytest.raises(StackNotRunning, match="has no container for inventory-1"):
        other.inject_container_fault("inventory-1", "pause", ttl_s=10)


def test_a_system_files_container_fault_reaches_its_compose_service(stack, http):
    """systems/inventory.yaml's `pause` (provider: container) on inventory/2: the member's
    compose service is rendered from the file, the monitor's own history (the system's
    detector) sees it, and the switch undoes it."""
    from datetime import UTC, datetime
    from pathlib import Path

    from gameday.systems.detector import read_transitions
    from gameday.systems.loader import load_system
    from gameday.systems.model import ContainerFault
    from gameday.systems.providers import inject_container_fault
    from gameday.systems.resolve import resolve

    inventory = Path(__file__).resolve().parents[2] / "systems" / "inventory.yaml"
    resolved = resolve(load_system(inventory), target="compose", base_port=stack.base_port)
    fault = resolved.system.faults["pause"]
    assert isinstance(fault, ContainerFault)
    since = datetime.now(UTC).isoformat()
    switch = inject_container_fault(resolved, fault, resolved.member("inventory", "2"),
                                    stack.target, ttl_s=120)
    try:
        assert _state(stack, "inventory-2")["Paused"] is True
        wait_until(lambda: any(t.instance_id == "inventory/2" and t.status == "OFF"
                               for t in read_transitions(resolved, since_iso=since)),
                   timeout_s=15, what="the monitor's history shows inventory/2 OFF")
    finally:
        switch.rollback()
    assert _state(stack, "inventory-2")["Paused"] is False
    wait_until(lambda: _on(http, stack, "2"), timeout_s=30, what="replica 2 ON after unpause")
