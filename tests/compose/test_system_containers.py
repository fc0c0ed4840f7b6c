"""A runbook naming a system file, on the compose target, its ``container`` faults driven
from the runbook: runbooks/inventory-containers.yaml (systems/inventory.yaml) through
Docker, on the images of ``make images``. The monitor — the system's own detector — must
see each fault, the run must roll it back, and after ``kill -9`` of the harness the
dead-man's switch must.

The first test starts and stops the system's own compose project, as ``--start-stack``
does (it runs before the session's ``compose_stack``); the second runs on
``compose_stack``. tests/compose/test_container_faults.py drives the same faults through
the compose target directly; here they go through the GameDay: runbook → system driver →
provider.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
import yaml
from stack_helpers import wait_all_on, wait_until

from gameday import deadman, engine
from gameday.config import get_settings
from gameday.lifecycle import GameDay
from gameday.paths import REPO_ROOT, RUNBOOKS_DIR

pytestmark = [pytest.mark.docker, pytest.mark.slow]

RUNBOOK = RUNBOOKS_DIR / "inventory-containers.yaml"


def _state(target: Any, service: str) -> dict[str, Any]:
    container = target.containers()[service]
    return container.attrs["State"] | {"RestartCount": container.attrs["RestartCount"]}


@pytest.fixture
def stack(compose_stack: Any) -> Iterator[Any]:
    """The compose stack with every replica ON; any switch left armed fired afterwards."""
    with httpx.Client(timeout=5.0) as http:
        wait_all_on(http, compose_stack, timeout_s=60)
        try:
            yield compose_stack
        finally:
            deadman.fire_armed(compose_stack.settings.state_dir)
            wait_all_on(http, compose_stack, timeout_s=90)


def _aliases(target: Any, service: str) -> list[str]:
    """The aliases of ``service``'s container on the project's ``replicas`` network."""
    container = target.containers()[service]
    container.reload()
    networks = container.attrs["NetworkSettings"]["Networks"]
    return next((n.get("Aliases") or [] for name, n in networks.items()
                 if name.endswith("_replicas")), [])


def _activity(rows: list[dict[str, Any]], phase: str, prefix: str) -> dict[str, Any]:
    return next(a for a in rows if a["activity"]["phase"] == phase
                and a["activity"]["name"].startswith(prefix))


def test_a_runbook_starts_the_system_pauses_and_kills_containers_and_stops_it(
        stack_images: None, docker_helpers: Any, free_base_port: Callable[[], int],
        tmp_path: Path) -> None:
    """runbooks/inventory-containers.yaml as `gameday run ... --start-stack` runs it: the
    system's compose project started (owned by the run), replica 2 paused, replica 1 cut
    off from the monitor and the voter, replica 3 killed, each seen by the monitor and
    rolled back, the project taken down after."""
    project = f"gdtest-sys-{uuid.uuid4().hex[:6]}"
    settings = get_settings(target="compose", base_port=free_base_port(),
                            compose_project=project, chaos_token="system-containers",
                            compose_file=docker_helpers.LOCAL_COMPOSE_FILES,
                            state_dir=tmp_path / "state", reports_dir=tmp_path / "reports")
    lines: list[str] = []

    def progress(line: str) -> None:
        lines.append(line)
        print(line, flush=True)

    gd = GameDay.prepare(RUNBOOK, settings=settings, progress=progress)
    assert gd.key == f"compose:{project}"  # GAMEDAY_COMPOSE_FILE's stack: its project
    started = time.monotonic()
    restarts: dict[str, int] = {}
    try:
        with gd.locked(), gd.stack(True):
            up_s = time.monotonic() - started
            run = gd.open()
            engine.preflight(run)
            for phase in gd.runbook.phases:
                if phase.name == "container_kill":
                    restarts["before"] = _state(gd.target, "inventory-3")["RestartCount"]
                engine.run_phase(run, phase)
                if phase.name == "pause":  # rolled back by the harness, not at the TTL
                    assert _state(gd.target, "inventory-2")["Paused"] is False
                if phase.name == "partition":  # reconnected, with its alias
                    assert "inventory-1.replicas" in _aliases(gd.target, "inventory-1")
            restarts["after"] = _state(gd.target, "inventory-3")["RestartCount"]
            outcome = gd.finish("completed", report=False, announce=False)
            running = {s.name: s.running for s in gd.target.status().services}
    finally:
        left = _left_behind(project)
        if any(left.values()):  # never leave a broken run's stack running
            subprocess.run(["docker", "compose", "-p", project, "down", "-v", "-t", "2"],
                           capture_output=True, check=False, timeout=300)
    wall_s = time.monotonic() - started
    journal = json.loads((run.run_dir / "journal.json").read_text())
    phases = {p["name"]: p for p in journal["phases"]}
    figures = {n: {k: phases[n]["metrics"][k] for k in ("ttd_s", "ttr_s", "availability",
                                                          "latency_p95_ms")}
               for n in ("pause", "partition", "container_kill")}
    print(f"inventory-containers on compose: {wall_s:.0f} s with the stack's up "
          f"({up_s:.0f} s) and down (load average {os.getloadavg()}): "
          f"{json.dumps(figures)}; failing {outcome.failing_checks}")

    assert "gameday: starting the compose stack…" in lines
    assert "gameday: stopping the compose stack…" in lines
    assert left == {"containers": [], "networks": []}  # down -v: nothing of it is left
    assert set(running) == {"postgres", "kafka", "inventory-1", "inventory-2", "inventory-3",
                            "monitor", "voter", "orders"} and all(running.values())
    assert (journal["target"], journal["system"]["name"]) == ("compose", "inventory")
    assert journal["status"] == "completed"
    for name, member, service in (("pause", "inventory/2", "inventory-2"),
                                  ("partition", "inventory/1", "inventory-1"),
                                  ("container_kill", "inventory/3", "inventory-3")):
        phase = phases[name]
        assert phase["fault"]["component"] == member
        injected = _activity(journal["run"], name, "inject ")
        assert injected["status"] == "succeeded", injected
        response = injected["output"]["response"]
        assert (response["provider"], response["member"]) == ("container", member)
        # detected by the monitor's own transitions (TTD > 0), and seen back ON (TTR)
        assert phase["metrics"]["ttd_s"] is not None and phase["metrics"]["ttd_s"] > 0, phase
        assert phase["metrics"]["ttr_s"] is not None, phase["metrics"]
        rolled = _activity(journal["rollbacks"], name, "roll back ")
        assert rolled["status"] == "succeeded", rolled
        assert service in rolled["output"]["ended"], rolled  # its switch's undo ran
    assert response["action"] == "kill"
    # Docker's restart policy brought the killed replica back, not the harness's start
    assert restarts["after"] > restarts["before"], restarts
    assert deadman.armed_specs(settings.state_dir) == []  # every switch disarmed
    assert journal["consistency"]["ok"] is True, journal["consistency"]  # replicas = ledger
    assert phases["pause"]["metrics"]["wrong_answers"] == 0
    assert phases["partition"]["metrics"]["wrong_answers"] == 0
    # Availability, masking, detection and recovery are judged; the p95 ratio is a
    # timing figure a busy 2-core machine moves (as in test_compose_gameday.py).
    assert set(outcome.failing_checks) <= {"latency_p95_ms"}, outcome.failing_checks


def _left_behind(project: str) -> dict[str, list[str]]:
    client = docker.from_env(timeout=30)
    label = {"label": f"com.docker.compose.project={project}"}
    return {"containers": [c.name for c in client.containers.list(all=True, filters=label)],
            "networks": [n.name for n in client.networks.list(filters=label)]}


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
        wait_until(lambda: _state(stack.target, "inventory-1")["Paused"], timeout_s=90,
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
    wait_until(lambda: not _state(stack.target, "inventory-1")["Paused"], timeout_s=30,
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
