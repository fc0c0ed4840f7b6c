"""Aborting the way a team does in JupyterLab: interrupting the kernel mid-phase."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gameday.report import _kernel_name
from inventory_system import states, wait_on

pytestmark = pytest.mark.slow


def _run(kc: Any, code: str, timeout: float = 90) -> str:
    """Execute ``code``; return its stdout; fail on an error reply."""
    out: list[str] = []

    def hook(msg: dict) -> None:
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            out.append("\n".join(msg["content"]["traceback"]))

    reply = kc.execute_interactive(code, timeout=timeout, output_hook=hook)
    assert reply["content"]["status"] == "ok", "".join(out)
    return "".join(out)


def test_interrupting_the_kernel_aborts_the_phase_and_restarts_the_crashed_replica(
    local_stack, clean_faults, session_env: Path, write_runbook: Callable[..., Path]
) -> None:
    from jupyter_client.manager import start_new_kernel

    runbook = write_runbook([
        {"name": "baseline", "duration_s": 1},
        {"name": "crash", "fault": {"type": "crash", "target": "inventory/2"}, "duration_s": 20,
         "recovery": {"action": "restart", "timeout_s": 30}},
        {"name": "recovery", "duration_s": 1},
    ])
    km, kc = start_new_kernel(kernel_name=_kernel_name(),
                              extra_arguments=["--IPKernelApp.log_level=ERROR"])
    try:
        _run(kc, f"""
from gameday.session import Session
s = Session({str(runbook)!r}, roles={{"owner": "A", "coordinator": "B", "reporter": "C"}})
s.checklist(abort_criteria_agreed=True)
s.start()
s.run_phase("baseline")
""")
        msg_id = kc.execute('record = s.run_phase("crash")')
        deadline = time.monotonic() + 20  # interrupt once the monitor saw replica 2 go
        while states(local_stack).get("inventory/2") == "ON":
            assert time.monotonic() < deadline, "replica 2 never went OFF"
            time.sleep(0.2)
        interrupted = time.monotonic()
        km.interrupt_kernel()
        while True:
            reply = kc.get_shell_msg(timeout=60)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        assert reply["content"]["status"] == "ok", reply["content"]  # the session caught it
        assert time.monotonic() - interrupted < 15

        state = json.loads(_run(kc, """
import json
s.finish(report=False)
j = s.run.journal.to_dict()
print(json.dumps({"state": s.state, "status": j["status"], "abort": j["abort"],
                  "phases": [(p["name"], p["aborted"]) for p in j["phases"]],
                  "skipped": s.skipped, "rolled": [r["activity"]["name"] for r in j["rollbacks"]]}))
""").strip().splitlines()[-1])
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)

    assert state["status"] == "aborted" and state["state"] == "finished"
    assert "interrupted by the owner" in state["abort"]["reason"]
    assert state["phases"][1][0] == "crash" and "interrupted" in state["phases"][1][1]
    assert "recovery" in state["skipped"]
    assert "roll back everything" in state["rolled"]
    # the crashed replica was restarted by the rollback, not left for the fault's TTL
    wait_on(local_stack, "inventory/2", timeout_s=20)
