"""``kill -9`` of a GameDay mid-fault: nothing it started lives on, and the next command
finds the dead run, marks it interrupted, sends the order cancels it owed and its report
renders, saying what is missing."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from gameday.owed import OWED_FILE, outstanding, owed_entries
from inventory_system import consistency

pytestmark = pytest.mark.slow


def _faults(stack) -> dict[str, str | None]:
    out = {}
    for i, url in enumerate(stack.urls.inventory, start=1):
        body = httpx.get(f"{url}/inject-failure", timeout=2).json()
        out[str(i)] = body.get("failure_type") if body.get("failure_injected") else None
    return out


def _env(stack, tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "GAMEDAY_BASE_PORT": str(stack.base_port),
           "GAMEDAY_CHAOS_TOKEN": stack.chaos_token,
           "GAMEDAY_STATE_DIR": str(stack.settings.state_dir),
           "GAMEDAY_REPORTS_DIR": str(tmp_path / "reports"),
           "PREFECT_HOME": str(tmp_path / "prefect-home")}
    env.pop("PREFECT_API_URL", None)
    return env


def _gameday(args: list[str], env: dict[str, str], timeout: float = 180,
             ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gameday", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_kill_9_mid_fault_leaves_nothing_and_the_next_command_finishes_the_run(
    local_stack, tmp_path, write_runbook
):
    env = _env(local_stack, tmp_path)
    runbook = write_runbook(tmp_path / "killed.yaml", [
        {"name": "baseline", "duration_s": 2},
        {"name": "latency", "fault": {"type": "latency", "target": "inventory/2",
                                      "params": {"latency_ms": 300}},
         "duration_s": 40},
        {"name": "recovery", "duration_s": 2},
    ], load={"mix": {"read": 5, "write": 5},
             "follow_up_after_s": {"write": 30}},  # orders wait long for their cancel
        safety={"fault_ttl_s": 60})
    log = tmp_path / "killed.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gameday", "run", str(runbook)],
                                env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while _faults(local_stack)["2"] != "latency":
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        [run_dir] = [p.parent for p in (tmp_path / "reports").glob("*/journal.json")]
        while len(outstanding(run_dir / OWED_FILE)) < 3:  # orders made, cancels owed
            assert time.monotonic() < deadline, "no order was created"
            time.sleep(0.2)
        started = psutil.Process(proc.pid).children(recursive=True)
        assert any("prefect.server.api.server:create_app" in " ".join(c.cmdline())
                   for c in started), "gameday run starts its Prefect API server as a child"
        os.kill(proc.pid, signal.SIGKILL)  # the harness only: its children must follow
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    owed = outstanding(run_dir / OWED_FILE)
    # each owed follow-up is an order's cancel: POST <orders>/orders/<id>/cancel
    cancels = [o.request.url for o in owed_entries(run_dir / OWED_FILE) if o.request]
    assert len(cancels) == len(owed) and all(u.endswith("/cancel") for u in cancels), cancels
    owed_orders = [u.rsplit("/", 2)[1] for u in cancels]
    journal = json.loads((run_dir / "journal.json").read_text())
    assert journal["status"] == "running" and journal["end"] is None

    aborted = _gameday(["abort"], env)  # the next gameday command on that target
    assert aborted.returncode == 0, aborted.stdout + aborted.stderr
    assert f"run {journal['run_id']} had died mid-GameDay (in phase latency)" in aborted.stdout
    assert f"{len(owed)} owed follow-up request(s) sent" in aborted.stdout

    alive = [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, [(p.pid, p.cmdline()) for p in alive]
    assert _faults(local_stack) == {"1": None, "2": None, "3": None}

    journal = json.loads((run_dir / "journal.json").read_text())
    assert journal["status"] == "interrupted" and journal["deviated"] is True
    stop = journal["interruption"]
    assert stop["found_by"] == "gameday abort" and stop["phase"] == "latency"
    assert f"pid {proc.pid}" in stop["reason"]
    assert stop["follow_ups_sent"] == len(owed) and stop["follow_ups_failed"] == []
    assert journal["end"] is not None and journal["duration"] > 0
    assert not (run_dir / OWED_FILE).exists()
    for order_id in owed_orders:
        order = httpx.get(f"{local_stack.urls.orders}/orders/{order_id}", timeout=2).json()
        assert order["status"] == "CANCELLED", order
    # stock equals the ledger (the system file's invariant): nothing held by the dead
    # run's orders
    ok, mismatches = consistency(local_stack, timeout_s=30)
    assert ok, mismatches

    report = _gameday(["report", "--reports-dir", str(tmp_path / "reports"),
                       journal["run_id"]], env)
    assert report.returncode == 0, report.stdout + report.stderr
    page = (run_dir / "report.html").read_text()
    for said in ("Interrupted", "This run’s record is incomplete", "gameday abort",
                 "phase latency: interrupted while it ran", "phase recovery: not run",
                 "no verdict"):
        assert said.replace("’", "'") in page.replace("&#x27;", "'").replace("\\'", "'"), said


def test_the_next_gameday_finds_a_dead_run_and_sends_what_it_owed(local_stack, tmp_path):
    """The lock step of the next run (`GameDay.acquire`) is what finds it."""
    from gameday.fingerprint import utc_time
    from gameday.journal import read_journal, write_journal
    from gameday.lifecycle import GameDay
    from gameday.run_record import ActivityRun, JournalRecord, RunProcess

    reports = tmp_path / "reports"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orders = [httpx.post(f"{local_stack.urls.orders}/orders", timeout=5,
                         json={"product_id": "PROD-002", "quantity": 1}).json()["order_id"]
              for _ in range(2)]
    run_dir = reports / "20260101-000000-dead-abcdef"
    run_dir.mkdir(parents=True)
    # as a system's load writes them: each order's cancel, the follow-up it owed
    (run_dir / OWED_FILE).write_text("".join(json.dumps({"owe": f"crash/{k}>1", "request": {
        "url": f"{local_stack.urls.orders}/orders/{o}/cancel", "expect": [200, 400]}}) + "\n"
        for k, o in enumerate(orders)))
    write_journal(run_dir, JournalRecord(
        run_id=run_dir.name, start=utc_time(time.time() - 60),
        target_key=f"local:{local_stack.base_port}", runbook={"phases": [{"name": "crash"}]},
        process=RunProcess(pid=dead.pid, host=socket.gethostname()),
        run=[ActivityRun(activity={"name": "inject crash", "phase": "crash"},
                         start=utc_time(time.time() - 30), end=utc_time(time.time() - 29),
                         duration=1, status="succeeded")]))
    runbook = tmp_path / "next.yaml"
    runbook.write_text("name: next\nsystem: systems/inventory.yaml\nload: {rate: 1}\n"
                       "phases: [{name: baseline, duration_s: 1}]\n")
    settings = local_stack.settings.model_copy(update={"reports_dir": reports})
    gd = GameDay.prepare(runbook, settings=settings, started_by="gameday run (next)")
    with gd.locked():
        journal = read_journal(run_dir / "journal.json")
    assert journal.status == "interrupted" and journal.interruption is not None
    assert journal.interruption.found_by == "gameday run (next)"
    assert journal.interruption.phase == "crash" and journal.interruption.follow_ups_sent == 2
    assert journal.end is not None and journal.end.timestamp() == pytest.approx(
        time.time() - 29, abs=5)
    for order_id in orders:
        order = httpx.get(f"{local_stack.urls.orders}/orders/{order_id}", timeout=2).json()
        assert order["status"] == "CANCELLED"
