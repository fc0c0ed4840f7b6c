"""One GameDay per target: a second one, refused, must not touch the first.

The defect: the lock was taken inside the Prefect flow, and the refused flow's failure
hook cleared every fault — the running GameDay's included — which then PASSED with TTR
0 s and nothing in its journal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def _fault_of(stack, replica: str) -> str | None:
    body = httpx.get(f"{stack.urls.replica(replica)}/inject-failure", timeout=2).json()
    return body.get("failure_type") if body.get("failure_injected") else None


def _cli(args: list[str], env: dict[str, str], log: Path | None = None,
         ) -> subprocess.Popen[bytes]:
    out = open(log, "wb") if log else subprocess.PIPE  # noqa: SIM115 - closed by the test
    return subprocess.Popen([sys.executable, "-m", "gameday", *args], env=env, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)


def test_a_refused_gameday_leaves_the_running_ones_fault_and_figures_alone(
    prefect_harness, local_stack, tmp_path, write_runbook, monkeypatch
):
    reports = tmp_path / "reports"
    env = {**os.environ, "GAMEDAY_BASE_PORT": str(local_stack.base_port),
           "GAMEDAY_CHAOS_TOKEN": local_stack.chaos_token,
           "GAMEDAY_STATE_DIR": str(local_stack.settings.state_dir),
           "GAMEDAY_REPORTS_DIR": str(reports),
           "PREFECT_HOME": str(tmp_path / "prefect-home")}
    env.pop("PREFECT_API_URL", None)
    for name, value in env.items():
        if name.startswith("GAMEDAY_"):
            monkeypatch.setenv(name, value)
    runbook = write_runbook(tmp_path / "first.yaml", [
        {"name": "baseline", "duration_s": 2},
        {"name": "latency", "fault": {"type": "latency", "target": "inventory/3",
                                      "params": {"latency_ms": 300}},
         "duration_s": 20},
        {"name": "recovery", "duration_s": 2},
    ])
    first = _cli(["run", str(runbook), "--no-report"], env, tmp_path / "first.log")
    try:
        deadline = time.monotonic() + 150
        while _fault_of(local_stack, "3") != "latency":
            assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the first GameDay never injected"
            time.sleep(0.2)
        injected = time.monotonic()

        # a second `gameday run` on the same target: refused before Prefect starts
        second = _cli(["run", str(runbook), "--no-report"], env)
        out, _ = second.communicate(timeout=60)
        assert second.returncode == 1
        text = out.decode()
        assert f"a GameDay is already running against local:{local_stack.base_port}" in text
        assert f"pid {first.pid}" in text and "Traceback" not in text
        assert _fault_of(local_stack, "3") == "latency"

        # the flow as a deployment runs it (the flow is the entry point): refused, and
        # its failure hook knows this run never held the lock
        from flows.gameday import gameday_flow

        state = gameday_flow(runbook=str(runbook), report=False, return_state=True)
        assert state.is_failed() and "already running" in str(state.message)
        assert _fault_of(local_stack, "3") == "latency"
        assert time.monotonic() - injected < 18, "the refusals took too long to be mid-fault"
        assert first.wait(timeout=150) in (0, 1), (tmp_path / "first.log").read_text()[-3000:]
    finally:
        if first.poll() is None:
            os.killpg(first.pid, 9)

    [run_dir] = [p.parent for p in reports.glob("*/journal.json")]  # the refused wrote none
    journal = json.loads((run_dir / "journal.json").read_text())
    assert journal["status"] in ("completed", "failed")
    latency = next(p for p in journal["phases"] if p["name"] == "latency")
    m = latency["metrics"]
    assert m["ttd_s"] is not None and m["ttd_s"] < 5
    # the fault stayed until its own rollback: the replica came back after it, not before
    assert m["ttr_s"] is not None and m["ttr_s"] > 0
    assert latency["recovered_at"] > latency["rolled_back_at"]
    rolled = pd.Timestamp(latency["rolled_back_at"]).timestamp()
    inject = pd.Timestamp(latency["injected_at"]).timestamp()
    assert rolled - inject >= 19.5  # the phase ran its 20 s with the fault in force
    transitions = pd.read_csv(run_dir / "transitions.csv", dtype={"instance_id": str})
    detected = pd.Timestamp(latency["detected_at"]).timestamp()
    early_on = transitions[(transitions["instance_id"] == "3") & (transitions["status"] == "ON")
                           & (transitions["at_s"] > detected) & (transitions["at_s"] < rolled)]
    assert early_on.empty, early_on
    names = [e["activity"]["name"] for e in journal["rollbacks"]]
    assert names[0].startswith("roll back latency")  # no one rolled it back before
