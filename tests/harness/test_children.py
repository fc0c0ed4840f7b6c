"""Children of the harness die with it, even after ``kill -9``; orphans are reaped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from gameday.children import reap, registry_dir

SRC = Path(__file__).resolve().parents[2] / "src"


def _parent_with_child(state_dir: Path, death_signal: int) -> tuple[subprocess.Popen, int]:
    """A process that spawns a long-sleeping child with gameday.children.spawn."""
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(SRC)!r})
        from gameday.children import spawn
        child = spawn([sys.executable, "-c", "import time; time.sleep(120)"],
                      state_dir={str(state_dir)!r}, death_signal={death_signal})
        print(child.pid, flush=True)
        time.sleep(120)
    """)
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    return parent, int(parent.stdout.readline())


def _gone(pid: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_a_child_dies_when_its_parent_is_killed_with_sigkill(tmp_path: Path) -> None:
    parent, child = _parent_with_child(tmp_path, signal.SIGTERM)
    assert psutil.pid_exists(child)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(timeout=10)
    assert _gone(child, 5), "the child outlived its parent"


def test_the_next_command_reaps_a_child_that_outlived_its_parent(tmp_path: Path) -> None:
    parent, child = _parent_with_child(tmp_path, 0)  # 0: a child that would not die
    try:
        [entry] = registry_dir(tmp_path).glob("*.json")
        assert json.loads(entry.read_text())["pid"] == child
        assert reap(tmp_path) == []  # its parent runs: it is in use
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        assert not _gone(child, 0.5)  # an orphan now
        assert reap(tmp_path) == [child]
        assert _gone(child, 5) and not list(registry_dir(tmp_path).glob("*.json"))
    finally:
        if psutil.pid_exists(child):
            os.kill(child, signal.SIGKILL)


@pytest.mark.slow
def test_prefect_start_up_errors_are_one_sentence(tmp_path: Path) -> None:
    runbook = tmp_path / "rb.yaml"
    runbook.write_text("name: t\nsystem: systems/inventory.yaml\nload: {rate: 1}\n"
                       "phases: [{name: baseline, duration_s: 1}]\n")
    base = {**os.environ, "GAMEDAY_STATE_DIR": str(tmp_path / "state"),
            "GAMEDAY_BASE_PORT": "7010", "PREFECT_HOME": str(tmp_path / "prefect-home")}
    base.pop("PREFECT_API_URL", None)
    cases = {
        "the Prefect API server exited with code": {
            "PREFECT_API_DATABASE_CONNECTION_URL": "sqlite+aiosqlite:////etc/passwd/x.db"},
        "Prefect could not run the flow: RuntimeError: Failed to reach API at": {
            "PREFECT_API_URL": "http://127.0.0.1:9/api"},
    }
    for expected, env in cases.items():
        done = subprocess.run([sys.executable, "-m", "gameday", "run", str(runbook),
                               "--no-report"], env={**base, **env}, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 1
        lines = [ln for ln in (done.stdout + done.stderr).splitlines() if ln.strip()]
        assert lines[-1].startswith(f"gameday: error: {expected}"), lines[-5:]
        assert "Traceback" not in done.stdout + done.stderr
