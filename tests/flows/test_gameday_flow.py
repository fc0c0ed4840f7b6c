"""The GameDay flow end to end: real Prefect (test harness), real local stack."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def _faults_in_force(local_stack) -> dict[str, object]:
    out = {}
    for i, url in enumerate(local_stack.urls.inventory, start=1):
        body = httpx.get(f"{url}/inject-failure", timeout=2).json()
        out[str(i)] = body.get("failure_type") if body.get("failure_injected") else None
    return out


def _run_dirs(reports: Path) -> list[Path]:
    return sorted(p.parent for p in reports.glob("*/journal.json"))


def test_six_phase_gameday_records_detection_masking_and_recovery(
    prefect_harness, local_stack, flow_env, tmp_path, write_runbook, six_phases
):
    from flows.gameday import gameday_flow

    phases = six_phases
    phases[3] = {**phases[3], "fault": {**phases[3]["fault"], "params": {"probability": 0.8}}}
    runbook = write_runbook(tmp_path / "six.yaml", phases)
    state = gameday_flow(runbook=str(runbook), report=False, return_state=True)

    [run_dir] = _run_dirs(flow_env)
    journal = json.loads((run_dir / "journal.json").read_text())
    assert journal["version"] == 3 and journal["status"] != "running"
    assert [p["name"] for p in journal["phases"]] == [p["name"] for p in six_phases]
    for phase in journal["phases"]:
        m = phase["metrics"]
        assert m["requests"] > 0, phase["name"]
        assert 0.0 <= m["availability"] <= 1.0
        assert m["latency_p50_ms"] <= m["latency_p95_ms"] <= m["latency_p99_ms"]
        load = phase["load"]  # whether the load generator kept its schedule in this phase
        assert load["scheduled_rate"] == pytest.approx(20.0, rel=0.01) and load["shards"] == 1
        assert load["kept_up"] == (load["reason"] is None), phase["name"]
        if phase["fault"]:
            assert m["ttd_s"] is not None and m["ttd_s"] > 0, phase["name"]
            # TTR 0 is honest when the replica was back ON before the rollback (a crashed
            # replica restarted by the supervisor); the outage still shows how long it was out
            assert m["ttr_s"] is not None and m["ttr_s"] >= 0, phase["name"]
            assert m["outage_s"] is not None and m["outage_s"] > 0, phase["name"]
            assert phase["injected_at"] < phase["detected_at"], phase["name"]
            assert phase["injected_at"] < phase["rolled_back_at"], phase["name"]
            assert phase["detected_at"] < phase["recovered_at"], phase["name"]
            assert phase["recovered_at"] <= phase["observed_until"], phase["name"]
            # a fault journals only its own parameters, and the TTL that was sent
            own = {"crash": set(), "latency": {"latency_ms"}, "intermittent": {"probability"},
                   "incorrect_response": {"product_id"}}[phase["fault"]["type"]]
            assert set(phase["fault"]["params"]) == own and phase["fault"]["ttl_s"] == 30
            for check in phase["checks"]:  # numeric targets
                assert check["target"]["op"] in ("<=", ">=") and isinstance(
                    check["target"]["value"], int | float)
    # The voter outvotes the replica that lies: no wrong answer reaches a client.
    assert journal["phases"][4]["metrics"]["wrong_answers"] == 0
    assert journal["consistency"]["ok"], journal["consistency"]
    assert journal["status"] in ("completed", "failed")
    assert state.is_completed() == journal["verdict"]["passed"]
    # live and recomputed figures agree by construction: no cross-check failure
    assert not [f for f in journal["verdict"]["failing_checks"] if "cross-check" in f]
    assert not (run_dir / "follow-ups-owed.jsonl").exists()  # every cancel was sent
    # Raw data beside the journal: every request, every monitor transition.
    requests = pd.read_csv(run_dir / "requests.csv")
    assert set(requests["phase"]) == {p["name"] for p in six_phases}
    assert len(requests) == sum(p["metrics"]["requests"] for p in journal["phases"])
    transitions = pd.read_csv(run_dir / "transitions.csv")
    assert {"OFF", "ON"} <= set(transitions["status"])
    assert _faults_in_force(local_stack) == {"1": None, "2": None, "3": None}
    # Chaos Toolkit shape: every activity has its timing and status, and the keys its
    # tools read; the experiment is one chaoslib accepts.
    for entry in journal["run"] + journal["rollbacks"]:
        assert {"activity", "start", "end", "duration", "status"} <= set(entry)
    from chaoslib.experiment import ensure_experiment_is_valid

    assert journal["chaoslib-version"] and journal["node"] and journal["platform"]
    ensure_experiment_is_valid(journal["experiment"])
    # CI reads the checks as tests: one per check, failing exactly where the journal does
    from junitparser import JUnitXml

    cases = {(c.classname.rsplit(".", 1)[1], c.name): c.is_passed
             for suite in JUnitXml.fromfile(str(run_dir / "junit.xml")) for c in suite}
    for phase in journal["phases"]:
        for check in phase["checks"]:
            assert cases[(phase["name"], check["name"])] == check["passed"]


def test_transient_injection_failure_is_retried(
    prefect_harness, local_stack, flow_env, tmp_path, write_runbook
):
    """The replica is down when the injection is first sent; the task's retry succeeds once
    the supervisor has restarted it."""
    from flows.gameday import inject
    from prefect import flow

    from gameday import engine
    from gameday.config import get_settings
    from gameday.runbook import load_runbook
    from gameday.runbook_target import RunbookSystem

    runbook = write_runbook(
        tmp_path / "retry.yaml",
        [
            {
                "name": "latency",
                "fault": {"type": "latency", "target": "inventory/1",
                          "params": {"latency_ms": 200}, "ttl_s": 10},
                "duration_s": 1,
            }
        ],
    )
    rb = load_runbook(runbook)
    settings = get_settings()
    system = RunbookSystem.of(rb, runbook, {"base_port": settings.base_port})
    assert system is not None
    target = system.target(settings)  # the system file's view of the running test stack

    @flow
    def inject_after_kill() -> tuple[float, int]:
        run = engine.open_run(settings, rb, runbook, target,
                              driver=system.driver(target, settings))
        local_stack.kill_replica("1")
        sent = inject(run, rb.phases[0])
        attempts = [e for e in run.journal.record.run if e.activity.name.startswith("inject")]
        return sent, len(attempts)

    try:
        sent, attempts = inject_after_kill()
        assert attempts >= 2  # the first attempt failed, a retry succeeded
        assert _faults_in_force(local_stack)["1"] == "latency"
    finally:
        local_stack.restart_replica("1")
        httpx.post(
            f"{local_stack.urls.replica('1')}/inject-failure",
            json={"type": "clear"},
            headers=local_stack.chaos_headers,
            timeout=2,
        )


def test_unreachable_availability_floor_aborts_and_rolls_back(
    prefect_harness, local_stack, flow_env, tmp_path, write_runbook
):
    from flows.gameday import gameday_flow

    # A 1 ms client deadline: no request can succeed, so availability falls below the floor.
    runbook = write_runbook(
        tmp_path / "abort.yaml",
        [
            {"name": "baseline", "duration_s": 2},
            {
                "name": "latency",
                "fault": {"type": "latency", "target": "inventory/2",
                          "params": {"latency_ms": 300}},
                "duration_s": 20,
            },
        ],
        load={"timeout_s": 0.001},
        safety={"abort_availability_floor": 0.99, "abort_window_s": 1, "abort_min_samples": 5},
    )
    started = time.monotonic()
    state = gameday_flow(runbook=str(runbook), report=False, return_state=True)
    assert state.is_failed()
    [run_dir] = _run_dirs(flow_env)
    journal = json.loads((run_dir / "journal.json").read_text())
    assert journal["status"] == "aborted"
    assert journal["abort"]["phase"] in ("baseline", "latency")
    assert "availability" in journal["abort"]["reason"]
    assert time.monotonic() - started < 20 + 15  # did not sit through the 20 s phase
    assert any(e["activity"]["name"] == "roll back everything" for e in journal["rollbacks"])
    junit = (run_dir / "junit.xml").read_text()
    assert 'name="completed"' in junit and "run aborted: " in junit
    assert _faults_in_force(local_stack) == {"1": None, "2": None, "3": None}


def test_killed_gameday_leaves_the_stack_clean_after_the_fault_ttl(
    local_stack, flow_env, tmp_path, write_runbook
):
    runbook = write_runbook(
        tmp_path / "kill.yaml",
        [
            {
                "name": "latency",
                "fault": {"type": "latency", "target": "inventory/3",
                          "params": {"latency_ms": 300}, "ttl_s": 7},
                "duration_s": 2,
            }
        ],
        safety={"rollback_margin_s": 4},
    )
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_API_URL": ""}
    env.pop("PREFECT_API_URL")
    log = tmp_path / "gameday-run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gameday", "run", str(runbook), "--no-report"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 150
        while _faults_in_force(local_stack)["3"] != "latency":
            assert proc.poll() is None, f"the GameDay ended before injecting:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"never injected:\n{log.read_text()[-3000:]}"
            time.sleep(0.2)
        injected = time.monotonic()
        os.killpg(proc.pid, signal.SIGKILL)  # no finally, no hook: only the TTL is left
        proc.wait(timeout=10)
        assert _faults_in_force(local_stack)["3"] == "latency"
        time.sleep(max(0.0, injected + 7.5 - time.monotonic()))
        assert _faults_in_force(local_stack) == {"1": None, "2": None, "3": None}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_start_stack_uses_a_stack_that_already_runs_and_leaves_it_running(
    prefect_harness, local_stack, flow_env, tmp_path, write_runbook
):
    from flows.gameday import gameday_flow

    runbook = write_runbook(tmp_path / "reuse.yaml", [{"name": "baseline", "duration_s": 1}])
    pids = {s.name: s.pid for s in local_stack.target.status().services}
    state = gameday_flow(runbook=str(runbook), start_stack=True, report=False,
                         return_state=True)
    assert state.is_completed(), state.message
    after = local_stack.target.status()
    assert after.healthy, after
    assert {s.name: s.pid for s in after.services} == pids  # the same processes, not restarted


def test_dry_run_changes_nothing(local_stack, flow_env, tmp_path, write_runbook, six_phases):
    runbook = write_runbook(tmp_path / "dry.yaml", six_phases)
    before = httpx.get(f"{local_stack.urls.monitor}/transitions", timeout=2).json()["transitions"]
    out = subprocess.run(
        [sys.executable, "-m", "gameday", "run", str(runbook), "--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "crash" in out.stdout and "incorrect_response" in out.stdout
    assert "nothing was started" in out.stdout
    assert not flow_env.exists() or not _run_dirs(flow_env)
    assert _faults_in_force(local_stack) == {"1": None, "2": None, "3": None}
    after = httpx.get(f"{local_stack.urls.monitor}/transitions", timeout=2).json()["transitions"]
    assert after == before
