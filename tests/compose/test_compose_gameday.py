"""A full standard GameDay through Docker, as a user runs it from a fresh clone:

    make images
    GAMEDAY_COMPOSE_FILE=docker-compose.yml:docker-compose.local.yml \\
      gameday run runbooks/standard.yaml --target compose --start-stack

The CLI starts the compose stack (`up --wait`), runs every phase, writes the journal and
the report, and takes the stack down (`down -v`): no container, network or volume of its
project is left. The figures it measured are printed (see `-rP`) and kept with the test's
properties (JUnit XML), for BENCHMARKS.md.

This test starts its own stack on its own ports; it comes first in tests/compose so that
the session's other compose stack (``compose_stack``) is not yet running beside it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def _volumes() -> set[str]:
    return {v.name for v in docker.from_env(timeout=30).volumes.list()}


def _left_behind(project: str, volumes_before: set[str]) -> dict[str, list[str]]:
    client = docker.from_env(timeout=30)
    label = {"label": f"com.docker.compose.project={project}"}
    return {
        "containers": [c.name for c in client.containers.list(all=True, filters=label)],
        "networks": [n.name for n in client.networks.list(filters=label)],
        # Anonymous volumes (Postgres's data) carry no label: any new volume counts.
        "volumes": sorted(_volumes() - volumes_before),
    }


def _figures(journal: dict[str, Any]) -> list[dict[str, Any]]:
    keys = ("ttd_s", "ttr_s", "availability", "latency_p95_ms", "wrong_answers", "requests")
    return [{"phase": p["name"], **{k: p["metrics"].get(k) for k in keys}}
            for p in journal["phases"]]


def _failed_checks(journal: dict[str, Any]) -> set[str]:
    return {c["name"] for p in journal["phases"] for c in p["checks"] if not c["passed"]}


def test_a_standard_gameday_runs_through_docker_and_leaves_nothing_behind(
    stack_images: None, tmp_path: Path, free_base_port: Callable[[], int],
    record_property: Callable[[str, object], None],
) -> None:
    project = f"gdtest-gameday-{uuid.uuid4().hex[:6]}"
    reports = tmp_path / "reports"
    env = {
        **os.environ,
        "GAMEDAY_COMPOSE_FILE": "docker-compose.yml:docker-compose.local.yml",
        "GAMEDAY_COMPOSE_PROJECT": project,
        "GAMEDAY_BASE_PORT": str(free_base_port()),
        "GAMEDAY_REPORTS_DIR": str(reports),
        "GAMEDAY_STATE_DIR": str(tmp_path / "state"),
        "GAMEDAY_CHAOS_TOKEN": "compose-gameday-token",
        "PREFECT_HOME": str(tmp_path / "prefect"),
        # A busy 2-core machine can take longer than Prefect's 20 s to serve its API.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    }
    for name in ("GAMEDAY_SLACK_BOT_TOKEN", "GAMEDAY_SLACK_WEBHOOK_URL", "PREFECT_API_URL"):
        env.pop(name, None)
    gameday = Path(sys.executable).with_name("gameday")
    volumes_before = _volumes()
    started = time.monotonic()
    try:
        run = subprocess.run(
            [str(gameday), "run", "runbooks/standard.yaml", "--target", "compose",
             "--start-stack"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False,
        )
    finally:
        left = _left_behind(project, volumes_before)
        if any(left.values()):  # never leave a broken run's stack running
            subprocess.run(["docker", "compose", "-p", project, "down", "-v", "-t", "2"],
                           capture_output=True, check=False, timeout=300)
    wall_s = time.monotonic() - started
    output = run.stdout + run.stderr
    [journal_path] = reports.glob("*/journal.json")
    journal = json.loads(journal_path.read_text())
    figures = _figures(journal)
    print(f"compose GameDay in {wall_s:.0f} s (load average {os.getloadavg()}):")
    for row in figures:
        print("  " + json.dumps(row))
    record_property("compose_gameday_wall_s", round(wall_s, 1))
    record_property("compose_gameday_figures", json.dumps(figures))

    # Every check passes but the p95-latency ratio, a timing figure that a busy 2-core
    # machine moves (the CI run of stop 18: incorrect_response 218 ms against 1.5 x a 97 ms
    # baseline, every other check passed). It is recorded above, for BENCHMARKS.md, and
    # judged by `make bench`, not here; availability, masking, detection, recovery and the
    # clean-up are.
    timing_only = _failed_checks(journal) <= {"latency_p95_ms"}
    # "failed" is a verdict (a timing check may fail, above); "aborted" or "interrupted"
    # would be a run that did not go through.
    assert journal["status"] in ("completed", "failed"), output[-4000:]
    assert timing_only, f"failing checks {journal['verdict']['failing_checks']}\n{output[-4000:]}"
    assert run.returncode == (0 if journal["verdict"]["passed"] else 1), output[-4000:]
    assert "gameday: starting the compose stack" in output
    assert ("gameday: PASSED" in output) == journal["verdict"]["passed"]
    assert journal["target"] == "compose"
    assert journal["consistency"]["ok"], journal["consistency"]
    faulted = [p for p in journal["phases"] if p["fault"]]
    assert [p["fault"]["type"] for p in faulted] == [
        "crash", "latency", "intermittent", "incorrect_response"]
    for phase in faulted:
        metrics = phase["metrics"]
        assert metrics["ttd_s"] is not None and metrics["ttd_s"] > 0, phase["name"]
        assert metrics["ttr_s"] is not None and metrics["ttr_s"] >= 0, phase["name"]
        assert metrics["wrong_answers"] == 0, phase["name"]
    report = journal_path.with_name("report.html")
    assert report.stat().st_size > 100_000  # the executed notebook with its plots
    assert journal["run_id"] in report.read_text(encoding="utf-8")
    # `docker compose down -v`: nothing of the project is left.
    assert left == {"containers": [], "networks": [], "volumes": []}
