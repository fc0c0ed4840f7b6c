"""Nothing the harness starts outlives it: a compose project a GameDay started with
``--start-stack`` is taken down by a dead-man's switch when the harness is killed with
``kill -9`` (src/gameday/lifecycle.py ``GameDay.stack``, ``ComposeTarget.take_down``).
A one-container system on the scratch busybox image keeps the test quick; the switch and
the take-down are the same for the inventory stack's project."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from gameday import deadman

pytestmark = [pytest.mark.docker, pytest.mark.slow]

_HARNESS = textwrap.dedent("""
    import sys, time
    from gameday.lifecycle import GameDay

    gd = GameDay.prepare(sys.argv[1], progress=lambda line: print(line, flush=True))
    with gd.locked(), gd.stack(True):
        print("STACK UP", flush=True)
        time.sleep(600)
""")


def _files(tmp_path: Path, image: str, port: int) -> Path:
    (tmp_path / "compose.yml").write_text(yaml.safe_dump({"services": {"web": {
        "image": image, "command": ["httpd", "-f", "-p", "80", "-h", "/www"],
        "ports": ["127.0.0.1:${GAMEDAY_WEB_PORT:-8080}:80"]}}}))
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump({
        "name": "tiny", "compose_file": ["compose.yml"], "base_port": port,
        "components": {"web": {"port": "{{ base_port }}", "compose": {"service": "web"}}},
        "load": {"requests": {"get": {"url": "{{ web.url }}/health"}}}}))
    runbook = tmp_path / "rb.yaml"
    runbook.write_text(yaml.safe_dump({
        "name": "tiny", "system": "tiny.yaml", "target": "compose", "load": {"rate": 1},
        "phases": [{"name": "baseline", "duration_s": 1}]}))
    return runbook


def _project(client: Any, project: str) -> list[str]:
    label = {"label": f"com.docker.compose.project={project}"}
    return ([c.name for c in client.containers.list(all=True, filters=label)]
            + [n.name for n in client.networks.list(filters=label)])


def test_kill_9_of_a_gameday_takes_down_the_compose_project_it_started(
        docker_helpers: Any, tmp_path: Path, free_base_port: Any) -> None:
    client = docker_helpers.docker_engine()
    image = docker_helpers.busybox_image(client)
    prefix = f"gdkill-{uuid.uuid4().hex[:6]}"
    project = f"{prefix}-tiny"  # <GAMEDAY_COMPOSE_PROJECT>-<system name>
    state = tmp_path / "state"
    env = {**os.environ, "GAMEDAY_COMPOSE_PROJECT": prefix, "GAMEDAY_STATE_DIR": str(state),
           "GAMEDAY_REPORTS_DIR": str(tmp_path / "reports"), "GAMEDAY_CHAOS_TOKEN": "secret-x"}
    for name in ("GAMEDAY_BASE_PORT", "GAMEDAY_COMPOSE_FILE", "GAMEDAY_TARGET"):
        env.pop(name, None)
    runbook = _files(tmp_path, image, free_base_port())
    harness = subprocess.Popen([sys.executable, "-c", _HARNESS, str(runbook)], env=env,
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    lines: list[str] = []
    try:
        assert harness.stdout is not None
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = harness.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip())
            if line.startswith("STACK UP"):
                break
        assert lines and lines[-1] == "STACK UP", "\n".join(lines[-30:])
        assert _project(client, project), "the GameDay started no container"
        [held] = [s for s in deadman.armed_specs(state) if s.kind == "stack"]
        assert held.harness_pid == harness.pid
        assert held.rollback.kwargs["project"] == project
        spec_text = (state / "deadman" / f"{held.id}.json").read_text()
        assert "secret-x" not in spec_text  # the chaos token is not written to disk
        harness.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        harness.wait(timeout=10)
        while _project(client, project) and time.monotonic() - killed < 120:
            time.sleep(0.5)
        left = _project(client, project)
        took = time.monotonic() - killed
    finally:
        harness.kill()
        harness.wait(timeout=10)
        subprocess.run(["docker", "compose", "-p", project, "down", "-v", "-t", "1"],
                       capture_output=True, check=False, timeout=300)
    print(f"compose project gone {took:.1f} s after kill -9 (load {os.getloadavg()})")
    assert left == [], f"still there {took:.0f} s after kill -9: {left}"
    result = state / "deadman" / f"{held.id}.result.json"
    firing = deadman.Firing.model_validate_json(result.read_text())
    assert (firing.reason, firing.ok) == ("harness-died", True), firing
