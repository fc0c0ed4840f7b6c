"""A runbook naming a system file, on the compose target, its ``container`` faults driven
from the runbook: runbooks/inventory-containers.yaml (systems/inventory.yaml) on the real
compose stack (``compose_stack``: the images of ``make images``, a project of its own,
free ports). The monitor — the system's own detector — must see each fault, the run must
roll it back, and after ``kill -9`` of the harness the dead-man's switch must.

tests/compose/test_container_faults.py drives the same faults through the compose target
directly; here they go through the GameDay: runbook → system driver → provider.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from stack_helpers import wait_all_on, wait_until

from gameday import deadman, engine
from gameday.lifecycle import GameDay
from gameday.paths import REPO_ROOT, RUNBOOKS_DIR

pytestmark = [pytest.mark.docker, pytest.mark.slow]

RUNBOOK = RUNBOOKS_DIR / "inventory-containers.yaml"


def _state(stack: Any, service: str) -> dict[str, Any]:
    container = stack.target.containers()[service]
    return container.attrs["State"] | {"RestartCount": container.attrs["RestartCount"]}


@pytest.fixture
def stack(compose_stack: Any) -> Any:
    """The compose stack with every replica ON; any switch left armed fired afterwards."""
    with httpx.Client(timeout=5.0) as http:
        wait_all_on(http, compose_stack, timeout_s=60)
        try:
            yield compose_stack
        finally:
            deadman.fire_armed(compose_stack.settings.state_dir)
            wait_all_on(http, compose_stack, timeout_s=90)


def _activity(rows: list[dict[str, Any]], phase: str, prefix: str) -> dict[str, Any]:
    return next(a for a in rows if a["activity"]["phase"] == phase
                and a["activity"]["name"].startswith(prefix))


def test_a_runbook_pauses_and_kills_containers_and_the_monitor_sees_both(
        stack: Any, tmp_path: Path) -> None:
    settings = stack.settings.model_copy(update={"reports_dir": tmp_path / "reports"})
    gd = GameDay.prepare(RUNBOOK, settings=settings,
                         progress=lambda line: print(line, flush=True))
    assert gd.key == f"compose:{settings.compose_project}"  # the stack's own lock
    killed_before = _state(stack, "inventory-3")["RestartCount"]
    started = time.monotonic()
    with gd.locked():
        run = gd.open()
        engine.preflight(run)
        for phase in gd.runbook.phases:
            engine.run_phase(run, phase)
            if phase.name == "pause":  # rolled back: unpaused by the harness, not the TTL
                assert _state(stack, "inventory-2")["Paused"] is False
        outcome = gd.finish("completed", report=False, announce=False)
    wall_s = time.monotonic() - started
    journal = json.loads((run.run_dir / "journal.json").read_text())
    phases = {p["name"]: p for p in journal["phases"]}
    figures = {n: {k: phases[n]["metrics"][k] for k in ("ttd_s", "ttr_s", "availability",
                                                          "latency_p95_ms")}
               for n in ("pause", "container_kill")}
    print(f"inventory-containers on compose in {wall_s:.0f} s (load average "
          f"{os.getloadavg()}): {json.dumps(figures)}; failing "
          f"{outcome.failing_checks}")

    assert (journal["target"], journal["system"]["name"]) == ("compose", "inventory")
    assert journal["status"] == "completed"
    for name, member, service in (("pause", "inventory/2", "inventory-2"),
                                  ("container_kill", "inventory/3", "inventory-3")):
        phase = phases[name]
        assert phase["fault"]["component"] == member
        injected = _activity(journal["run"], name, "inject ")
        assert injected["status"] == "succeeded", injected
        response = injected["output"]["response"]
        assert (response["provider"], response["member"]) == ("container", member)
        # detected by the monitor's own transitions: TTD > 0, within the runbook's SLO
        assert phase["metrics"]["ttd_s"] is not None and phase["metrics"]["ttd_s"] > 0, phase
        assert phase["metrics"]["ttr_s"] is not None, phase["metrics"]  # back ON, seen
        rolled = _activity(journal["rollbacks"], name, "roll back ")
        assert rolled["status"] == "succeeded", rolled
        assert f"{service}" in rolled["output"]["ended"], rolled  # its switch's undo ran
    assert response["action"] == "kill"
    # Docker's restart policy brought the killed replica back, not the harness's start
    assert _state(stack, "inventory-3")["RestartCount"] > killed_before
    assert all(not s["Paused"] and s["Running"]
               for s in (_state(stack, f"inventory-{i}") for i in "123"))
    assert deadman.armed_specs(settings.state_dir) == []  # every switch disarmed
    assert journal["consistency"]["ok"] is True, journal["consistency"]  # replicas = ledger
    assert phases["pause"]["metrics"]["wrong_answers"] == 0
    # Availability, masking, detection and recovery are judged; the p95 ratio is a
    # timing figure a busy 2-core machine moves (as in test_compose_gameday.py).
    assert set(outcome.failing_checks) <= {"latency_p95_ms"}, outcome.failing_checks


_HARNESS = textwrap.dedent("""
    import sys
    from gameday import engine
    from gameday.lifecycle import GameDay

    gd = GameDay.prepare(sys.argv[1], progress=lambda line: print(line, flush=True))
    with gd.locked():
        run = gd.open()
        engine.preflight(run)
        for phase in gd.runbook.phases:
            engine.run_phase(run, phase)
""")


def test_kill_9_of_a_gameday_holding_a_container_pause_unpauses_it(
        stack: Any, tmp_path: Path) -> None:
    """The harness is a GameDay from a runbook (system file, compose target), killed while
    its pause phase holds replica 1's container paused: the dead-man's switch the system
    driver armed unpauses it at once (its TTL is ten minutes away), and the next GameDay
    to take the lock marks the dead run interrupted."""
    settings = stack.settings
    runbook = tmp_path / "hang.yaml"
    runbook.write_text(yaml.safe_dump({
        "name": "hang", "system": str(REPO_ROOT / "systems" / "inventory.yaml"),
        "target": "compose", "load": {"rate": 5, "timeout_s": 1.0},
        "safety": {"fault_ttl_s": 600},
        "phases": [{"name": "baseline", "duration_s": 1},
                   {"name": "pause", "duration_s": 300,
                    "fault": {"type": "pause", "target": "inventory/1"}}]}))
    reports = tmp_path / "reports"
    env = {**os.environ, "GAMEDAY_COMPOSE_PROJECT": settings.compose_project,
           "GAMEDAY_COMPOSE_FILE": settings.compose_file,
           "GAMEDAY_BASE_PORT": str(settings.base_port),
           "GAMEDAY_STATE_DIR": str(settings.state_dir),
           "GAMEDAY_REPORTS_DIR": str(reports)}
    for name in ("GAMEDAY_SLACK_BOT_TOKEN", "GAMEDAY_SLACK_WEBHOOK_URL"):
        env.pop(name, None)
    if settings.chaos_token is not None:
        env["GAMEDAY_CHAOS_TOKEN"] = settings.chaos_token.get_secret_value()
    harness = subprocess.Popen([sys.executable, "-c", _HARNESS, str(runbook)], env=env,
                               cwd=tmp_path)
    try:
        wait_until(lambda: _state(stack, "inventory-1")["Paused"], timeout_s=90,
                   what="the GameDay to pause replica 1's container")
        [armed] = [s for s in deadman.armed_specs(settings.state_dir)
                   if s.rollback.call == "gameday.targets.containers:undo"]
        assert armed.harness_pid == harness.pid
        assert armed.rollback.kwargs["service"] == "inventory-1"
        harness.send_signal(signal.SIGKILL)
        killed = time.monotonic()
    finally:
        harness.kill()
        harness.wait(timeout=10)
    wait_until(lambda: not _state(stack, "inventory-1")["Paused"], timeout_s=30,
               what="the dead-man's switch to unpause replica 1")
    print(f"unpaused {time.monotonic() - killed:.1f} s after kill -9 (TTL 600 s; load "
          f"average {os.getloadavg()})")
    result = settings.state_dir / "deadman" / f"{armed.id}.result.json"
    firing = deadman.Firing.model_validate_json(result.read_text())
    assert (firing.reason, firing.ok) == ("harness-died", True)

    gd = GameDay.prepare(runbook, settings=settings.model_copy(
        update={"reports_dir": reports}), progress=lambda line: print(line, flush=True))
    with gd.locked():  # taking the lock finishes the dead run
        pass
    [journal_path] = reports.glob("*/journal.json")
    journal = json.loads(journal_path.read_text())
    assert journal["status"] == "interrupted", journal["status"]
    assert journal["target"] == "compose" and journal["system"]["name"] == "inventory"
