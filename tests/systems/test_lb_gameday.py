"""A full GameDay on the second system from the CLI: `gameday run runbooks/lb.yaml
--start-stack` starts HAProxy and three nginx from systems/lb.yaml, kills one backend and
hangs another, reads TTD/TTR from HAProxy's own health checks, measures availability
through its front door, checks the system's invariant, writes the report, and leaves
nothing running."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import psutil

from lb_software import LB_TESTS

pytestmark = LB_TESTS

REPO = Path(__file__).resolve().parents[2]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _visible_text(page: Path) -> str:
    sys.path.insert(0, str(REPO / "tests" / "report"))
    try:
        from test_report_readable import visible_text
    finally:
        sys.path.pop(0)
    return visible_text(page)


def test_the_lb_gameday_runs_from_the_cli_and_reports_haproxys_own_detection(
        tmp_path: Path, free_base_port: Callable[[], int]) -> None:
    base = free_base_port()
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home"),
           "GAMEDAY_REPORTS_DIR": str(tmp_path / "reports"),
           "GAMEDAY_STATE_DIR": str(tmp_path / "state")}
    for name in ("PREFECT_API_URL", "GAMEDAY_BASE_PORT", "GAMEDAY_SLACK_BOT_TOKEN",
                 "GAMEDAY_SLACK_WEBHOOK_URL", "GAMEDAY_REPORT_URL"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-m", "gameday", "run", "runbooks/lb.yaml", "--start-stack",
         "--base-port", str(base)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    log = done.stdout + done.stderr
    assert done.returncode in (0, 1), log[-3000:]  # 1: an SLO missed, still a full run
    [journal_path] = (tmp_path / "reports").glob("*/journal.json")
    journal = json.loads(journal_path.read_text())
    run_dir = journal_path.parent

    assert journal["status"] in ("completed", "failed") and not journal.get("error"), log[-3000:]
    assert journal["system"] == {"name": "lb", "file": str(REPO / "systems" / "lb.yaml"),
                                 "detector": "status"}
    assert journal["target_key"] == f"local:{base}"
    phases = {p["name"]: p for p in journal["phases"]}
    assert list(phases) == ["baseline", "kill", "hang", "recovery"]
    assert phases["kill"]["fault"] == {"type": "kill", "component": "backend/b", "params": {},
                                       "ttl_s": 30.0}
    for name in ("kill", "hang"):
        m = phases[name]["metrics"]
        # HAProxy's own detector saw each fault, and the backend back in rotation
        assert m["ttd_s"] is not None and 0 < m["ttd_s"] < 8, (name, m)
        assert m["ttr_s"] is not None and m["ttr_s"] >= 0, (name, m)
        assert m["outage_s"] is not None and m["outage_s"] >= m["ttd_s"], (name, m)
    for p in phases.values():
        m = p["metrics"]
        assert m["requests"] >= 0.9 * 50 * p["duration_s"], p["name"]
        assert m["quorum_rate"] is None and m["wrong_answers"] is None  # no voter, no oracle
        assert not any(c["name"] in ("quorum_rate", "wrong_answers") for c in p["checks"])
    # HAProxy retries a refused connection on another backend: a kill never reaches clients
    assert phases["kill"]["metrics"]["availability"] >= 0.99, phases["kill"]["metrics"]
    trans = pd.read_csv(run_dir / "transitions.csv")
    for member in ("backend/b", "backend/c"):
        seen = trans[trans["instance_id"] == member]["status"].tolist()
        assert seen[:2] == ["OFF", "ON"], (member, seen)
    assert "lb" not in set(trans["instance_id"])  # not faultable: not judged
    assert journal["consistency"]["ok"] is True  # every backend serves what the front door does
    assert journal["steady_states"]["after"]["ok"] is True
    # the front door, watched all through (systems/lb.yaml: during), held in every phase
    during = journal["steady_states"]["during"]
    assert [d["phase"] for d in during] == list(phases), during
    assert all(d["ok"] and d["probes"] == ["front_door"] and d["polls"] > 0 for d in during)
    assert not journal["verdict"]["failing_checks"] or "cross-check" not in " ".join(
        journal["verdict"]["failing_checks"])

    text = _visible_text(run_dir / "report.html")
    assert "kill on backend/b" in text and "hang on backend/c" in text
    assert "not applicable" in text and "system lb" in text.replace("\n", " ")

    # nothing the run started outlives it: every port free, no haproxy/nginx of its state
    assert not any(_listening(port) for port in range(base, base + 4))
    state = str(tmp_path / "state")
    left = [p.info for p in psutil.process_iter(["pid", "name", "cmdline"])
            if any(state in part for part in (p.info["cmdline"] or []))]
    assert not left, left
