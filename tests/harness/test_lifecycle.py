"""The lifecycle's lock rules: cleanup only where the lock is, and only for its own run."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gameday.errors import GameDayError, TargetLocked
from gameday.fingerprint import utc_time
from gameday.journal import read_journal, write_journal
from gameday.lifecycle import GameDay, cleanup_after_flow
from gameday.run_record import JournalRecord, RunProcess
from gameday.safety import TargetLock

SRC = Path(__file__).resolve().parents[2] / "src"
PORT = 7020  # nothing listens there: a cleanup that reached the stack would say so


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("GAMEDAY_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("GAMEDAY_BASE_PORT", str(PORT))
    runbook = tmp_path / "rb.yaml"
    runbook.write_text("name: rb\nsystem: systems/inventory.yaml\nload: {rate: 1}\n"
                       "phases: [{name: baseline, duration_s: 1}]\n")
    return {"runbook": runbook, "state": tmp_path / "state", "reports": tmp_path / "reports"}


def _run_dir(env: dict[str, Path], status: str) -> Path:
    run_dir = env["reports"] / f"20260101-000000-rb-{status}"
    run_dir.mkdir(parents=True)
    write_journal(run_dir, JournalRecord(
        run_id=run_dir.name, start=utc_time(), status=status, target_key=f"local:{PORT}",
        process=RunProcess(pid=1, host=socket.gethostname(), flow_run_id="flow-a")))
    return run_dir


def test_a_refused_runs_hook_touches_nothing_while_another_process_holds_the_lock(env) -> None:
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(SRC)!r})
        from gameday.safety import TargetLock
        TargetLock({str(env['state'])!r}, "local:{PORT}").acquire().annotate(flow_run_id="a")
        print("held", flush=True)
        time.sleep(60)
    """)
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        params = {"runbook": str(env["runbook"])}
        assert cleanup_after_flow(params, "flow-b", "failed") == (
            f"another GameDay holds local:{PORT}: nothing touched")
        with pytest.raises(TargetLocked):
            GameDay.prepare(env["runbook"]).acquire()
    finally:
        holder.kill()
        holder.wait()


def test_the_holders_hook_cleans_only_its_own_run_and_only_if_it_never_concluded(
    env,
) -> None:
    params = {"runbook": str(env["runbook"])}
    gd = GameDay.prepare(env["runbook"])
    with gd.locked(flow_run_id="flow-a") as lock:
        assert cleanup_after_flow(params, "flow-b", "failed") == (
            f"local:{PORT} is held for another run here: nothing touched")
        lock.annotate(run_dir=str(_run_dir(env, "completed")))
        assert cleanup_after_flow(params, "flow-a", "failed") == ""  # it concluded
        running = _run_dir(env, "running")
        lock.annotate(run_dir=str(running))
        said = cleanup_after_flow(params, "flow-a", "crashed")
        assert said == f"run {running.name} marked interrupted; faults cleared on local:{PORT}"
        journal = read_journal(running / "journal.json")
        assert journal.status == "interrupted" and journal.interruption is not None
        assert journal.interruption.found_by == "Prefect state hook (crashed)"
        assert "error" in journal.interruption.rolled_back  # no stack here: it says so
    assert TargetLock.holder(env["state"], f"local:{PORT}") is None


def test_a_flow_adopts_the_lock_its_process_holds_and_leaves_its_release_to_the_taker(
    env,
) -> None:
    cli = GameDay.prepare(env["runbook"])
    with cli.locked() as taken:
        flow = GameDay.prepare(env["runbook"])
        with flow.locked(flow_run_id="flow-x") as adopted:
            assert adopted is taken and taken.info["flow_run_id"] == "flow-x"
        assert taken.held  # the flow did not release the CLI's lock
    assert not taken.held


def test_nothing_opens_without_the_lock(env) -> None:
    with pytest.raises(GameDayError, match="take the target's lock"):
        GameDay.prepare(env["runbook"]).open()


REPO = SRC.parent


def test_a_system_runbooks_stack_source_runs_that_checkouts_system_file(
        env, tmp_path: Path) -> None:
    """A comparison's side of a runbook with a system: the checkout's own version of the
    system file (same place in its work tree), whose local blocks run from there; the
    journal names the checkout."""
    other = tmp_path / "other"
    shutil.copytree(REPO / "systems", other / "systems")
    (other / "stack").mkdir()
    gd = GameDay.prepare(REPO / "runbooks" / "compare.yaml", stack_source=str(other))
    assert gd.system is not None
    assert gd.system.path == (other / "systems" / "inventory.yaml").resolve()
    spec = gd.target._build_spec()  # type: ignore[attr-defined]
    inventory = next(s for s in spec["services"] if s["name"] == "inventory-1")
    assert Path(inventory["cwd"]).resolve() == other.resolve()  # the checkout's stack/ code runs
    assert spec["fingerprint"]["stack_source"] == str(other.resolve())
    with gd.locked():
        run = gd.open()
    assert run.journal.record.environment.stack_source == str(other.resolve())
    here = GameDay.prepare(REPO / "runbooks" / "compare.yaml")
    assert here.system is not None and here.system.path == REPO / "systems" / "inventory.yaml"


def test_a_system_runbooks_stack_source_without_the_system_file_is_refused(
        env, tmp_path: Path) -> None:
    (tmp_path / "old" / "stack").mkdir(parents=True)  # a checkout from before the file
    with pytest.raises(GameDayError, match=r"no systems/inventory.yaml there; give a "
                                           r"checkout holding the system file"):
        GameDay.prepare(REPO / "runbooks" / "compare.yaml", stack_source=str(tmp_path / "old"))
    with pytest.raises(GameDayError, match="another checkout on the local target only"):
        GameDay.prepare(REPO / "runbooks" / "compare.yaml", stack_source=str(REPO),
                        target="compose")
