"""``gameday compare --spread-over``: each GameDay of a comparison a sub-flow run of the
``gameday`` deployment on a process work pool, each worker starting the side's own
checkout's stack on its own base port. Refusals first (no deployment, no worker), then
two workers, two builds (this checkout, and a copy of its stack/ elsewhere on disk)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from prefect_pool import REPO, process_pool, two_base_ports


def _short_runbook(tmp_path: Path) -> Path:
    """runbooks/compare.yaml with one trial a run (a comparison's runs are its trials)."""
    data = yaml.safe_load((REPO / "runbooks" / "compare.yaml").read_text())
    data.pop("trials", None)
    path = tmp_path / "compare-short.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _compare(pool, tmp_path: Path, runbook: Path, deployment: str, b: Path
             ) -> subprocess.CompletedProcess[str]:
    env = {**pool.env, "GAMEDAY_STATE_DIR": str(tmp_path / "cli-state"),
           "GAMEDAY_REPORTS_DIR": str(tmp_path / "reports"), "PREFECT_LOGGING_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "gameday", "compare", str(runbook), "--a", str(REPO),
         "--b", str(b), "--trials", "1", "--spread-over", deployment],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_compare_spreads_its_runs_over_workers_each_on_its_sides_stack(
        tmp_path, free_base_port) -> None:
    ports = two_base_ports(free_base_port)
    other = tmp_path / "other-build"  # another checkout of the stack, elsewhere on disk
    shutil.copytree(REPO / "stack", other / "stack",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "systems", other / "systems")  # compare.yaml names its system
    runbook = _short_runbook(tmp_path)
    (tmp_path / "cli-state").mkdir()
    with process_pool(tmp_path) as pool:
        missing = _compare(pool, tmp_path, runbook, "gameday/nope", other)
        assert missing.returncode != 0
        assert "no deployment 'gameday/nope'" in missing.stderr + missing.stdout, \
            missing.stderr[-3000:]
        idle = _compare(pool, tmp_path, runbook, "gameday/smoke", other)
        assert idle.returncode != 0
        assert "has no worker online" in idle.stderr + idle.stdout, idle.stderr[-3000:]
        assert not list((tmp_path / "reports").glob("compare-*"))  # refused before anything
        for i, port in enumerate(ports):  # one worker per stack, one GameDay at a time
            pool.worker(f"worker-{i}.log", limit=1, GAMEDAY_BASE_PORT=str(port),
                        GAMEDAY_STATE_DIR=str(tmp_path / "state"),
                        GAMEDAY_CHAOS_TOKEN="compare-spread-token")
        done = _compare(pool, tmp_path, runbook, "gameday/smoke", other)
        logs = done.stdout[-3000:] + done.stderr[-3000:] + pool.logs()
    assert done.returncode in (0, 1), logs  # 0: no regression; 1: one with evidence
    [folder] = (tmp_path / "reports").glob("compare-*")
    data = json.loads((folder / "compare.json").read_text())
    assert data["spread_over"] == "gameday/smoke"
    assert data["a"]["base_port"] is None and data["b"]["path"] == str(other.resolve())
    runs = data["runs"]
    assert [r["side"] for r in runs] == ["a", "b"], logs
    assert {r["target_key"] for r in runs} <= {f"local:{p}" for p in ports}, runs
    for run in runs:
        assert run["status"] in ("completed", "failed"), (run, logs)
        run_dir = Path(run["run_dir"])
        assert run_dir.is_relative_to(folder / "runs")
        journal = json.loads((run_dir / "journal.json").read_text())
        assert journal["process"]["flow_run_id"] == run["flow_run_id"]  # a sub-flow run
        side = data[run["side"]]
        # the worker ran the side's own checkout's stack, not its own
        assert journal["environment"]["stack_source"] == side["path"], journal["environment"]
    assert data["cells"], "nothing was compared"
    page = (folder / "index.html").read_text()
    assert "each worker&#x27;s" in page or "each worker's" in page
    for base in ports:  # every worker stopped the stack its run started
        for port in range(base, base + 8):
            with socket.socket() as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("127.0.0.1", port))


def test_compare_spread_over_without_a_prefect_api_says_what_it_needs(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(GAMEDAY_STATE_DIR=str(tmp_path), GAMEDAY_REPORTS_DIR=str(tmp_path / "r"))
    done = subprocess.run(
        [sys.executable, "-m", "gameday", "compare", str(REPO / "runbooks" / "compare.yaml"),
         "--a", str(REPO), "--b", str(REPO), "--spread-over", "gameday/smoke"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "--spread-over needs PREFECT_API_URL" in done.stderr + done.stdout, done.stderr
    assert not (tmp_path / "r").exists()
