"""systems/inventory.yaml starts the project's stack from its own `local` blocks, through
the generic launcher (Postgres and the broker as the launcher's builtins, every service
as `python -m stack.<service>`): `gameday system up`, `check` (every probe, the
detector, the oracle and the invariant hold) and `down`, leaving nothing behind; and a
runbook naming the file runs a GameDay on the stack it starts itself."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
import yaml

from gameday import engine
from gameday.lifecycle import GameDay
from gameday.systems.loader import load_system
from gameday.systems.resolve import resolve
from pair_system import isolate_gameday_env

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SYSTEM = REPO / "systems" / "inventory.yaml"


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _ports(base: int) -> list[int]:
    resolved = resolve(load_system(SYSTEM), target="local", base_port=base)
    return [m.port for m in resolved.all_members() if m.port is not None]


def _left(state: Path) -> list[dict]:
    """Processes of that state folder: Postgres (its data folder in its argv), the broker
    (its working directory); the services are found by their ports."""
    return [p.info for p in psutil.process_iter(["pid", "name", "cmdline", "cwd"])
            if any(str(state) in part for part in (p.info["cmdline"] or []))
            or str(p.info["cwd"] or "").startswith(str(state))]


def _gameday(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gameday", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_system_up_check_down_runs_the_stack_from_its_file_alone(
        tmp_path: Path, free_base_port: Callable[[], int]) -> None:
    base = free_base_port()
    env = {**os.environ, "GAMEDAY_STATE_DIR": str(tmp_path / "state")}
    env.pop("GAMEDAY_BASE_PORT", None)
    ports = _ports(base)
    assert sorted(ports) == list(range(base, base + 8))  # 6 services, broker, Postgres
    try:
        up = _gameday("system", "up", str(SYSTEM), "--base-port", str(base), env=env)
        assert up.returncode == 0, up.stdout + up.stderr
        for name in ("postgres", "kafka", "inventory-1", "inventory-3", "voter", "orders"):
            assert any(line.startswith(name) and "healthy" in line
                       for line in up.stdout.splitlines()), (name, up.stdout)
        check = _gameday("system", "check", str(SYSTEM), "--base-port", str(base), env=env)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "all 13 check(s) hold" in check.stdout, check.stdout
        assert "oracle truth" in check.stdout and "invariant replicas_match_ledger" in check.stdout
        assert "counters inventory: asked" in check.stdout  # the voter's /voting-stats
    finally:
        down = _gameday("system", "down", str(SYSTEM), "--base-port", str(base), env=env)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not [p for p in ports if _listening(p)]
    assert not _left(tmp_path / "state")


def test_a_runbook_naming_the_file_starts_the_stack_and_runs_a_gameday(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        free_base_port: Callable[[], int]) -> None:
    isolate_gameday_env(tmp_path, monkeypatch)
    base = free_base_port()
    runbook = tmp_path / "rb.yaml"
    runbook.write_text(yaml.safe_dump({
        "name": "inventory-from-file", "system": str(SYSTEM), "seed": 7,
        "load": {"rate": 20, "timeout_s": 1.0},
        "slo": {"latency_p95_min_ms": 500, "ttd_s": {"crash": 2.0}, "ttr_s": 10.0},
        "safety": {"fault_ttl_s": 30},
        "phases": [{"name": "baseline", "duration_s": 3},
                   {"name": "crash", "duration_s": 4,
                    "fault": {"type": "crash", "target": "inventory/2"},
                    "recovery": {"action": "restart", "timeout_s": 30}}]}))
    gd = GameDay.prepare(runbook, base_port=base, progress=lambda _: None)
    with gd.locked(), gd.stack(True):
        run = gd.open()
        engine.preflight(run)
        for phase in gd.runbook.phases:
            engine.run_phase(run, phase)
        gd.finish("completed", report=False, announce=False)
    journal = json.loads((run.run_dir / "journal.json").read_text())
    crash = {p["name"]: p for p in journal["phases"]}["crash"]
    assert crash["metrics"]["ttd_s"] is not None  # the monitor saw the crash
    assert crash["metrics"]["wrong_answers"] == 0
    assert journal["consistency"]["ok"] is True, journal["consistency"]
    assert not [p for p in _ports(base) if _listening(p)]  # it stopped what it started
    assert not _left(tmp_path / "state")
