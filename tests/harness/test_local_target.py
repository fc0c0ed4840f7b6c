"""The local target: the stack of systems/inventory.yaml as supervised real processes on
127.0.0.1, through the generic launcher (SystemLocalTarget on SupervisedTarget)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import psutil
import pytest

from gameday.config import get_settings
from gameday.errors import StackNotRunning, TargetError
from gameday.systems.local import SystemLocalTarget
from gameday.targets.localplan import STACK_TAG_ENV
from inventory_system import inventory_target, replica_member, stack_ports

if TYPE_CHECKING:
    from conftest import LocalStack

TEST_CHAOS_TOKEN = "test-token"

SERVICES = {"inventory-1", "inventory-2", "inventory-3", "monitor", "voter", "orders",
            "kafka", "postgres"}


def wait_until(predicate: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def replica_pid(target: SystemLocalTarget, instance_id: str) -> int | None:
    entry = {s.name: s for s in target.status().services}[f"inventory-{instance_id}"]
    return entry.pid if entry.healthy else None


def stack_processes(target: SystemLocalTarget) -> set[int]:
    """Every live pid of a stack: from state.json, their children, and the env tag."""
    state = json.loads((target.dir / "state.json").read_text())
    pids = {state["supervisor_pid"]} | {
        s["pid"] for s in state["services"].values() if s["pid"]}
    for pid in list(pids):
        with contextlib.suppress(psutil.NoSuchProcess):
            pids |= {c.pid for c in psutil.Process(pid).children(recursive=True)}
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(STACK_TAG_ENV) == str(target.dir):
                pids.add(proc.pid)
        except psutil.Error:
            pass
    return {pid for pid in pids if not gone(pid)}


@pytest.fixture
def spare_target(tmp_path: Path, free_base_port: Callable[[], int]
                 ) -> Iterator[SystemLocalTarget]:
    """A second stack on its own base port and state dir; always stopped afterwards."""
    settings = get_settings(base_port=free_base_port(), chaos_token=TEST_CHAOS_TOKEN,
                            state_dir=tmp_path / "state")
    target = inventory_target(settings)
    try:
        yield target
    finally:
        target.stop()


# --- the plan (no processes) -------------------------------------------------------------
def _spec(tmp_path: Path, base_port: int = 21000, **settings: object) -> dict:
    target = inventory_target(get_settings(base_port=base_port, state_dir=tmp_path,
                                           **settings))
    return target._build_spec()


def test_ports_follow_the_base_port_and_keep_the_defaults_at_5001() -> None:
    assert stack_ports(5001) == {"inventory-1": 5001, "inventory-2": 5002,
                                 "inventory-3": 5003, "monitor": 5004, "voter": 5005,
                                 "orders": 5006, "kafka": 9092, "postgres": 5432}
    other = stack_ports(21000)
    assert (other["kafka"], other["postgres"], other["orders"]) == (21006, 21007, 21005)


def test_spec_wires_the_services_without_writing_the_chaos_token(tmp_path: Path) -> None:
    spec = _spec(tmp_path, chaos_token="s3cret")
    by_name = {s["name"]: s for s in spec["services"]}
    assert set(by_name) == SERVICES
    assert "s3cret" not in json.dumps(spec)
    assert spec["keep_data"] is False and spec["database"] == "experimento"
    inv2 = by_name["inventory-2"]
    assert inv2["argv"][-2:] == ["-m", "stack.inventory"]
    assert inv2["env"]["INSTANCE_ID"] == "2"
    assert inv2["env"]["SERVICE_PORT"] == "21001"
    assert inv2["env"]["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:21006"
    assert inv2["env"]["DATABASE_URL"] == "postgresql://postgres@127.0.0.1:21007/experimento"
    assert inv2["secret_env"] == {"CHAOS_TOKEN": "GAMEDAY_CHAOS_TOKEN"}
    # the monitor guards POST /reports with it, the voter sends it with its reports
    assert all("CHAOS_TOKEN" in by_name[n]["secret_env"] for n in ("monitor", "voter"))
    assert by_name["orders"]["secret_env"] == {}
    voter = by_name["voter"]["env"]
    assert voter["INVENTORY_URLS"] == ",".join(
        f"http://127.0.0.1:{p}" for p in (21000, 21001, 21002))
    assert voter["MONITOR_URL"] == "http://127.0.0.1:21003"
    assert by_name["kafka"]["argv"][1:3] == ["broker", "--listener-url"]


def test_the_token_reaches_the_supervisor_from_the_settings_not_from_a_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAMEDAY_CHAOS_TOKEN", "from-the-environment")
    given = inventory_target(get_settings(base_port=21000, state_dir=tmp_path,
                                          chaos_token="s3cret"))
    assert given.supervisor_environment()["GAMEDAY_CHAOS_TOKEN"] == "s3cret"
    unset = inventory_target(get_settings(base_port=21000, state_dir=tmp_path,
                                          chaos_token=None))
    assert "GAMEDAY_CHAOS_TOKEN" not in unset.supervisor_environment()
    # another token is another stack: the fingerprint has the secrets' hash, not them
    assert given._fingerprint()["secrets_sha256"] != unset._fingerprint()["secrets_sha256"]
    assert "s3cret" not in json.dumps(given._fingerprint())


def test_kafka_broker_binary_can_be_overridden(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAMEDAY_KAFKA_BROKER_BIN", "/opt/other/broker")
    kafka = next(s for s in _spec(tmp_path)["services"] if s["name"] == "kafka")
    assert kafka["argv"][0] == "/opt/other/broker"


def test_a_stack_that_never_ran_is_reported_down_and_cannot_be_controlled(
    tmp_path: Path, free_base_port: Callable[[], int]
) -> None:
    target = inventory_target(get_settings(base_port=free_base_port(), state_dir=tmp_path))
    status = target.status()
    assert not status.healthy
    assert {s.name for s in status.services} == SERVICES
    with pytest.raises(StackNotRunning, match="system 'inventory' is not running"):
        target.kill_member(replica_member(target.resolved, "1"))
    with pytest.raises(StackNotRunning, match="system 'inventory' is not running"):
        target.restart_member(replica_member(target.resolved, "1"))
    target.stop()  # stopping nothing is fine


def test_start_refuses_a_port_already_in_use_and_names_it(
    tmp_path: Path, free_base_port: Callable[[], int]
) -> None:
    base = free_base_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", base + 4))
        busy.listen()
        target = inventory_target(get_settings(base_port=base, state_dir=tmp_path))
        with pytest.raises(TargetError, match=rf"port {base + 4} .*voter.* already in use"):
            target.start(timeout_s=5)


# --- the session stack -------------------------------------------------------------------
def test_every_service_is_up_and_healthy(local_stack: LocalStack) -> None:
    status = local_stack.target.status()
    assert status.healthy, status
    assert {s.name for s in status.services} == SERVICES
    assert all(s.running and s.pid for s in status.services)
    base = local_stack.base_port
    assert local_stack.urls.replica("3") == f"http://127.0.0.1:{base + 2}"
    for url in (*local_stack.urls.inventory, local_stack.urls.monitor, local_stack.urls.voter,
                local_stack.urls.orders):
        assert httpx.get(f"{url}/health", timeout=2).status_code == 200
    with pytest.raises(TargetError, match="has no process 'inventory-7'; it has: inventory-1, "):
        local_stack.target.kill_process("inventory-7")


def test_start_again_with_the_same_settings_keeps_the_running_stack(
    local_stack: LocalStack,
) -> None:
    before = {s.name: s.pid for s in local_stack.target.status().services}
    again = inventory_target(local_stack.settings).start(timeout_s=30)
    assert again.healthy
    assert {s.name: s.pid for s in again.services} == before


def test_start_with_other_settings_refuses_to_touch_the_running_stack(
    local_stack: LocalStack,
) -> None:
    other = local_stack.settings.model_copy(update={"chaos_token": None})
    with pytest.raises(TargetError, match=r"\(secrets differ\).*gameday system down"):
        inventory_target(other).start(timeout_s=5)
    assert local_stack.target.status().healthy
    # another checkout's stack on the same port is another stack: refused, named
    with pytest.raises(TargetError, match=r"\(stack_source differ\).*gameday system down"):
        inventory_target(local_stack.settings, stack_source=Path("/elsewhere")).start(timeout_s=5)
    assert local_stack.target.status().healthy


def test_the_replicas_get_the_chaos_token(clean_faults: LocalStack) -> None:
    url = f"{clean_faults.urls.replica('1')}/inject-failure"
    assert httpx.post(url, json={"type": "clear"}, timeout=2).status_code == 401
    ok = httpx.post(url, json={"type": "clear"}, headers=clean_faults.chaos_headers, timeout=2)
    assert ok.status_code == 200


@pytest.mark.slow
def test_a_killed_replica_is_restarted_by_the_supervisor(local_stack: LocalStack) -> None:
    target = local_stack.target
    old = replica_pid(target, "2")
    assert old
    local_stack.kill_replica("2")
    assert gone(old)
    wait_until(lambda: replica_pid(target, "2") not in (None, old), 30,
               "replica 2 to be restarted and healthy")


@pytest.mark.slow
def test_a_replica_killed_on_hold_stays_down_until_restarted(local_stack: LocalStack) -> None:
    target = local_stack.target
    old = replica_pid(target, "3")
    local_stack.kill_replica("3", hold=True)
    time.sleep(1.5)  # three restart delays
    entry = {s.name: s for s in target.status().services}["inventory-3"]
    assert not entry.running and "held" in entry.detail
    local_stack.restart_replica("3", timeout_s=30)
    assert replica_pid(target, "3") not in (None, old)


@pytest.mark.slow
def test_a_crash_fault_ends_the_replica_and_the_supervisor_restarts_it(
    clean_faults: LocalStack,
) -> None:
    target = clean_faults.target
    old = replica_pid(target, "1")
    assert old
    answer = httpx.post(f"{clean_faults.urls.replica('1')}/inject-failure",
                        json={"type": "crash"}, headers=clean_faults.chaos_headers, timeout=2)
    assert answer.status_code == 200
    wait_until(lambda: gone(old), 5, "the crashed replica to exit")
    wait_until(lambda: replica_pid(target, "1") not in (None, old), 30,
               "replica 1 to be restarted and healthy")
    clean_faults.restart_replica("1")  # already running: returns at once


# --- more stacks -------------------------------------------------------------------------
@pytest.mark.slow
def test_a_second_stack_runs_beside_the_first_and_down_leaves_nothing(
    local_stack: LocalStack, spare_target: SystemLocalTarget
) -> None:
    assert spare_target.start(timeout_s=90).healthy
    assert local_stack.target.status().healthy
    spare_target.kill_member(replica_member(spare_target.resolved, "1"))
    spare_target.restart_member(replica_member(spare_target.resolved, "1"), timeout_s=30)
    processes = stack_processes(spare_target)
    assert len(processes) >= 9  # supervisor, postgres (+ its backends), kafka, 6 services
    spare_target.stop()
    assert not [pid for pid in processes if not gone(pid)]
    assert not stack_processes(spare_target)
    assert not spare_target.status().healthy
    assert local_stack.target.status().healthy


@pytest.mark.slow
def test_down_cleans_up_after_a_dead_supervisor(spare_target: SystemLocalTarget) -> None:
    spare_target.start(timeout_s=90)
    processes = stack_processes(spare_target)
    supervisor = json.loads((spare_target.dir / "state.json").read_text())["supervisor_pid"]
    os.kill(supervisor, signal.SIGKILL)
    wait_until(lambda: gone(supervisor), 5, "the supervisor to die")
    assert not spare_target.status().healthy  # nobody supervises it any more
    spare_target.stop()
    assert not [pid for pid in processes if not gone(pid)]
    assert not stack_processes(spare_target)


def _postgres_port(target: SystemLocalTarget) -> int:
    return stack_ports(target.resolved.base_port)["postgres"]


def _has_marker_table(target: SystemLocalTarget) -> bool:
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=_postgres_port(target), user="postgres",
                         dbname="experimento", connect_timeout=3) as conn:
        row = conn.execute("SELECT to_regclass('public.gameday_marker')").fetchone()
    return row is not None and row[0] is not None


@pytest.mark.slow
def test_each_start_has_fresh_data_unless_asked_to_keep_it(
        spare_target: SystemLocalTarget) -> None:
    import psycopg

    spare_target.start(timeout_s=90)
    with psycopg.connect(host="127.0.0.1", port=_postgres_port(spare_target), user="postgres",
                         dbname="experimento", connect_timeout=3, autocommit=True) as conn:
        conn.execute("CREATE TABLE gameday_marker (id int)")
    spare_target.stop()
    kept = inventory_target(spare_target.settings, keep_data=True)
    kept.start(timeout_s=90)
    assert _has_marker_table(kept)
    kept.stop()
    spare_target.start(timeout_s=90)
    assert not _has_marker_table(spare_target)


# --- the command line --------------------------------------------------------------------
def test_cli_status_exits_non_zero_when_no_stack_runs(
    tmp_path: Path, free_base_port: Callable[[], int], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from gameday.cli import main

    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path))
    port = str(free_base_port())
    assert main(["stack", "status", "--base-port", port]) == 1
    assert "NOT healthy" in capsys.readouterr().out
    assert main(["stack", "status", "--base-port", port, "--json"]) == 1
    status = json.loads(capsys.readouterr().out)
    assert (status["target"], status["healthy"]) == ("local", False)
    assert {s["name"] for s in status["services"]} == SERVICES
    assert all(s["detail"] == "not started" for s in status["services"])


def test_cli_keep_data_and_logs_are_for_the_local_target(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from gameday.cli import main

    assert main(["stack", "up", "--target", "compose", "--keep-data"]) == 1
    assert "--keep-data applies to the local target" in capsys.readouterr().err
    assert main(["stack", "down", "--target", "compose", "--all"]) == 1
    assert "--all stops local instances" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_up_status_down(
    tmp_path: Path, free_base_port: Callable[[], int], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from gameday.cli import main

    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path))
    port = str(free_base_port())
    try:
        assert main(["stack", "up", "--base-port", port]) == 0
        out = capsys.readouterr().out
        assert "voter is healthy" in out
        assert f"http://127.0.0.1:{int(port) + 4}" in out
        assert (f"system 'inventory' is up and in its steady state; stop it with "
                f"`gameday stack down --base-port {port}`") in out
        assert main(["stack", "status", "--base-port", port]) == 0
        capsys.readouterr()
        assert main(["stack", "logs", "--base-port", port, "supervisor", "-n", "50"]) == 0
        assert "started voter" in capsys.readouterr().out
        assert main(["stack", "logs", "--base-port", port, "nothing"]) == 1
        assert "`gameday stack logs` lists the log files" in capsys.readouterr().err
    finally:
        assert main(["stack", "down", "--all"]) == 0  # the only stack in this state folder
    assert main(["stack", "status", "--base-port", port]) == 1
    assert f"system 'inventory' at base port {port} is stopped" in capsys.readouterr().out


@pytest.mark.slow
def test_a_stack_stops_itself_when_its_owner_process_is_gone(
    tmp_path: Path, free_base_port: Callable[[], int]
) -> None:
    import subprocess

    owner = subprocess.Popen(["sleep", "120"])
    settings = get_settings(base_port=free_base_port(), state_dir=tmp_path / "state")
    target = inventory_target(settings, owner_pid=owner.pid)
    try:
        target.start(timeout_s=90)
        processes = stack_processes(target)
        owner.kill()
        owner.wait()
        wait_until(lambda: all(gone(pid) for pid in processes), 20,
                   "the stack to stop after its owner died")
    finally:
        owner.kill()
        target.stop()
