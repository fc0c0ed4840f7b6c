"""Trials spread over a process work pool: two workers, each with its own local stack,
run the trials of one GameDay at once as sub-flow runs; the parent gathers them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from prefect_pool import REPO, process_pool, two_base_ports

_PARENT = """
import sys
from flows.gameday import gameday_flow
state = gameday_flow(runbook=sys.argv[1], spread_over=sys.argv[2], report=True,
                     return_state=True)
print("STATE", state.type.value)
"""


def _short_trials(tmp_path: Path) -> Path:
    """The smoke runbook, two trials, phases cut short; a p95 floor load noise cannot
    break."""
    data = yaml.safe_load((REPO / "runbooks" / "smoke.yaml").read_text())
    data["trials"] = 2
    data["slo"]["latency_p95_min_ms"] = 250
    for phase in data["phases"]:
        phase["duration_s"] = 3
    path = tmp_path / "smoke-2-trials.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _parent(pool, args: list[str], reports: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _PARENT, *args], cwd=REPO,
                          env={**pool.env, "GAMEDAY_REPORTS_DIR": str(reports)},
                          capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_two_workers_run_the_trials_at_once_on_their_own_stacks_and_the_parent_gathers(
        tmp_path, free_base_port) -> None:
    ports = two_base_ports(free_base_port)
    reports, runbook = tmp_path / "reports", _short_trials(tmp_path)
    with process_pool(tmp_path) as pool:
        # no worker yet: a clear refusal, nothing started
        refused = _parent(pool, [str(runbook), "gameday/smoke"], reports)
        assert "has no worker online" in refused.stdout + refused.stderr, refused.stderr[-3000:]
        missing = _parent(pool, [str(runbook), "gameday/nope"], reports)
        assert "no deployment 'gameday/nope'" in missing.stdout + missing.stderr
        assert not list(reports.glob("*/journal.json"))
        for i, port in enumerate(ports):  # one worker per stack, one GameDay at a time
            pool.worker(f"worker-{i}.log", limit=1, GAMEDAY_BASE_PORT=str(port),
                        GAMEDAY_STATE_DIR=str(tmp_path / "state"),
                        GAMEDAY_CHAOS_TOKEN="spread-test-token")
        done = _parent(pool, [str(runbook), "gameday/smoke"], reports)
        assert "STATE" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:] + pool.logs()

    [journal_path] = reports.glob("*/journal.json")  # the gathered run; children below it
    journal = json.loads(journal_path.read_text())
    children = journal["children"]
    assert [c["repetition"] for c in children] == [1, 2]
    assert {c["target_key"] for c in children} == {f"local:{p}" for p in ports}
    assert all(c["state"] in ("COMPLETED", "FAILED") and c["run_dir"] for c in children)
    one, two = children
    assert one["start"] < two["end"] and two["start"] < one["end"]  # at the same time
    for child in children:  # each a flow run of the deployment, its own journal below
        own = json.loads((Path(child["run_dir"]) / "journal.json").read_text())
        assert own["process"]["flow_run_id"] == child["flow_run_id"]
        assert Path(child["run_dir"]).is_relative_to(journal_path.parent / "trials")
    assert [p["name"] for p in journal["phases"]] == [
        "baseline", "crash-t1", "incorrect_response-t1", "crash-t2", "incorrect_response-t2",
        "recovery"]
    evidence = {e["fault_type"]: e for e in journal["evidence"]}
    assert set(evidence) == {"crash", "incorrect_response"}
    for ev in evidence.values():
        assert ev["trials"] == 2 and ev["phases"][0].endswith("-t1")
        rate = next(c for c in ev["checks"] if c["name"] == "detection_rate")
        assert rate["interval"]["n"] == 2 and rate["verdict"] in ("inconclusive", "fail")
    assert journal["verdict"]["outcome"] in ("fail", "inconclusive")
    page = (journal_path.parent / "report.html").read_text()
    assert "Repeated trials: detection and timing with their intervals" in page
    # each phase's figures hold up against the raw data of the stack that recorded them
    assert "recomputed None" not in page and "raw data of the trial" not in page
    assert "trials ran as separate GameDays, each on its own stack" in page
