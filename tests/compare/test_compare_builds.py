"""``gameday compare`` end to end: two real local stacks from two checkouts, real Prefect,
the command as a user runs it. A build whose monitor checks its replicas half as often
must be flagged as a TTD regression; a build against itself must not."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
RUNBOOK = REPO / "runbooks" / "compare.yaml"
#: The monitor's check interval as the stack reads it (stack/common/settings.py).
INTERVAL = '_float("MONITOR_INTERVAL_S", 0.2)'


def _slower_monitor(root: Path) -> Path:
    """A checkout of this stack whose monitor's default check interval is doubled: a real
    change to the code, as a branch would make it. It holds the system file too: the
    runbook names it, and each side runs its own checkout's version of it."""
    shutil.copytree(REPO / "stack", root / "stack", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "systems", root / "systems")
    settings = root / "stack" / "common" / "settings.py"
    text = settings.read_text()
    assert text.count(INTERVAL) == 1, "the stack reads its monitor interval elsewhere now"
    settings.write_text(text.replace(INTERVAL, '_float("MONITOR_INTERVAL_S", 0.4)'))
    return root


def _compare(tmp_path: Path, a: str, b: str, free_base_port
             ) -> tuple[subprocess.CompletedProcess[str], dict]:
    env = {**os.environ, "GAMEDAY_STATE_DIR": str(tmp_path / "state"),
           "GAMEDAY_REPORTS_DIR": str(tmp_path / "reports"),
           "GAMEDAY_CHAOS_TOKEN": "compare-token", "PREFECT_HOME": str(tmp_path / "prefect"),
           "PREFECT_LOGGING_LEVEL": "WARNING"}
    for name in ("PREFECT_API_URL", "GAMEDAY_SLACK_BOT_TOKEN", "GAMEDAY_SLACK_WEBHOOK_URL",
                 "MONITOR_INTERVAL_S"):  # the last: each build's own default decides
        env.pop(name, None)
    (tmp_path / "state").mkdir()
    ports = f"{free_base_port()},{free_base_port()}"
    while abs(int(ports.split(",")[0]) - int(ports.split(",")[1])) < 8:
        ports = f"{free_base_port()},{free_base_port()}"
    done = subprocess.run([sys.executable, "-m", "gameday", "compare", str(RUNBOOK), "--a", a,
                           "--b", b, "--trials", "2", "--base-ports", ports],
                          env=env, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    [folder] = (tmp_path / "reports").glob("compare-*")
    data = json.loads((folder / "compare.json").read_text())
    assert (folder / "index.html").is_file()
    assert "compare: run 1/4: A" in done.stderr and "compare: run 4/4: A" in done.stderr
    assert [r["side"] for r in data["runs"]] == ["a", "b", "b", "a"]
    assert all(r["run_dir"] and Path(r["run_dir"]).parent == folder / "runs"
               for r in data["runs"])
    for run in data["runs"]:  # each run's journal names the checkout its stack ran from
        journal = json.loads((Path(run["run_dir"]) / "journal.json").read_text())
        assert journal["environment"]["stack_source"] == data[run["side"]]["path"]
        assert journal["system"]["file"] == str(Path(data[run["side"]]["path"]) / "systems"
                                                / "inventory.yaml"), journal.get("system")
    for base in ports.split(","):  # both stacks are gone: every port of each is free
        for port in range(int(base), int(base) + 8):
            with socket.socket() as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("127.0.0.1", port))
    return done, data


def test_a_monitor_checking_half_as_often_is_a_ttd_regression(tmp_path, free_base_port):
    slower = _slower_monitor(tmp_path / "b-build")
    done, data = _compare(tmp_path, str(REPO), str(slower), free_base_port)
    assert done.returncode == 1, done.stdout + done.stderr[-3000:]
    ttd = [c for c in data["cells"] if c["metric"] == "ttd_s"]
    assert {c["phase"] for c in ttd} == {"crash", "latency"}
    flagged = [c for c in ttd if c["verdict"] == "regression"]
    assert flagged, json.dumps(ttd, indent=1)
    for c in flagged:
        assert (c["n_a"], c["n_b"]) == (6, 6)  # 2 runs a side × 3 trials
        assert c["effect"] > 0 and c["low"] > 0 and c["p_adjusted"] <= 0.05
    assert "REGRESSION: crash time to detect" in done.stdout or \
        "REGRESSION: latency time to detect" in done.stdout
    assert "is worse than A" in done.stdout
    assert not [c for c in data["cells"] if c["verdict"] == "improvement"
                and c["metric"] == "ttd_s"]


def test_a_build_against_itself_is_not_a_regression(tmp_path, free_base_port):
    done, data = _compare(tmp_path, "HEAD", "HEAD", free_base_port)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert not [c for c in data["cells"] if c["verdict"] == "regression"]
    assert data["a"]["sha"] == data["b"]["sha"] and data["a"]["ref"] == "HEAD"
    assert "no regression with evidence" in done.stdout
    worktrees = subprocess.run(["git", "-C", str(REPO), "worktree", "list"],
                               capture_output=True, text=True).stdout
    assert str(tmp_path) not in worktrees  # the temporary checkouts are gone
