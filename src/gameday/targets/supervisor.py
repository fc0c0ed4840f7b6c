"""The supervisor: a detached process that owns every local process of one system.

``python -m gameday.targets.supervisor --stack-dir DIR`` reads ``DIR/spec.json`` (written
by :class:`gameday.targets.supervised.SupervisedTarget`). When the spec has a builtin
Postgres it starts it first, waits until it accepts connections and creates the database;
a builtin broker next, awaited on its port; then every other process in spec order. It
outlives the command that started it (its own session).

Restart policy, like a container's ``restart: unless-stopped``: a process that exits by
itself (a crash fault, a SIGKILL from a ``process`` fault) is started again after
``restart_delay_s`` (0.5 s), doubling up to 8 s while it keeps dying within 2 s of its
start. A process put on *hold* through a control file stays down until told to start.

When the spec names an owner process (a test session, a GameDay), everything stops once
that process is gone. Control: the driver drops ``DIR/control/<any>.json`` files
``{"op": "start"|"hold", "service": name}``; they are read every 100 ms. SIGTERM/SIGINT
stop everything: SIGTERM to every service's process group, SIGKILL after a timeout,
``pg_ctl stop -m fast`` for Postgres; then the supervisor exits. ``DIR/state.json`` says
what runs now.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from gameday.targets import postgres
from gameday.targets.localplan import (
    CHAOS_TOKEN_ENV,
    HOST,
    STACK_TAG_ENV,
    read_json,
    write_json,
)

__all__ = ["Supervisor", "main"]

log = logging.getLogger("gameday.supervisor")

_TICK_S = 0.1
_FAST_EXIT_S = 2.0
_MAX_DELAY_S = 8.0


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


class _Child:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.name: str = spec["name"]
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = -1  # the first start is not a restart
        self.last_exit: int | None = None
        self.started_at: float | None = None
        self.next_start: float | None = None
        self.held = False
        self.fast_exits = 0

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Supervisor:
    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        spec = read_json(self.dir / "spec.json")
        if spec is None:
            raise SystemExit(f"no readable spec.json in {self.dir}")
        self.spec = spec
        self.children = {s["name"]: _Child(s) for s in spec["services"]}
        self.logs = self.dir / "logs"
        self.control = self.dir / "control"
        self.phase = "starting"
        self.error: str | None = None
        self.stopping = False
        self._dirty = True
        self._written = 0.0

    # --- state -----------------------------------------------------------------------
    def write_state(self) -> None:
        services = {}
        for child in self.children.values():
            pid = child.proc.pid if child.running() and child.proc else None
            services[child.name] = {
                "pid": pid,
                "pgid": pid,
                "running": pid is not None,
                "kind": child.spec["kind"],
                "port": child.spec["port"],
                "url": child.spec["url"],
                "health_url": child.spec.get("health_url"),
                "restarts": max(child.restarts, 0),
                "last_exit": child.last_exit,
                "held": child.held,
                "started_at": child.started_at,
                "log": str(self.logs / f"{child.name}.log"),
            }
        write_json(self.dir / "state.json", {
            "version": 1,
            "supervisor_pid": os.getpid(),
            "phase": self.phase,
            "error": self.error,
            "fingerprint": self.spec["fingerprint"],
            "updated_at": _now_iso(),
            "services": services,
        })
        self._dirty = False
        self._written = time.monotonic()

    # --- processes -------------------------------------------------------------------
    def spawn(self, child: _Child) -> None:
        spec = child.spec
        env = {k: v for k, v in os.environ.items() if k != CHAOS_TOKEN_ENV}
        env.update(spec["env"])
        for name, source in spec.get("secret_env", {}).items():
            if source in os.environ:
                env[name] = os.environ[source]
        env[STACK_TAG_ENV] = str(self.dir)
        with open(self.logs / f"{child.name}.log", "ab") as out:
            out.write(f"--- gameday supervisor: starting {child.name} at {_now_iso()}\n".encode())
            out.flush()
            child.proc = subprocess.Popen(
                spec["argv"], cwd=spec["cwd"], env=env, stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                **postgres.run_as(spec.get("user")),  # type: ignore[call-overload]
            )
        child.restarts += 1
        child.started_at = time.time()
        child.next_start = None
        self._dirty = True
        log.info("started %s pid %s", child.name, child.proc.pid)

    def _reap(self, child: _Child, now: float) -> None:
        assert child.proc is not None
        code = child.proc.returncode
        lived = now - (child.started_at or now)
        child.proc = None
        child.last_exit = code
        child.fast_exits = child.fast_exits + 1 if lived < _FAST_EXIT_S else 0
        delay = min(self.spec["restart_delay_s"] * 2 ** max(child.fast_exits - 1, 0), _MAX_DELAY_S)
        stays_down = child.held or child.spec.get("restart") is False
        child.next_start = None if stays_down else time.monotonic() + delay
        self._dirty = True
        with open(self.logs / f"{child.name}.log", "ab") as out:
            out.write(f"--- gameday supervisor: {child.name} exited with {code}\n".encode())
        log.info("%s exited with %s after %.1f s; restart in %.1f s%s", child.name, code, lived,
                 delay, " (held)" if child.held else "")

    def _read_control(self) -> None:
        if not self.control.is_dir():
            return
        for path in sorted(self.control.glob("*.json")):
            order = read_json(path)
            with contextlib.suppress(OSError):
                path.unlink()
            child = self.children.get((order or {}).get("service", ""))
            if child is None:
                log.warning("ignored control file %s: %s", path.name, order)
                continue
            if order and order.get("op") == "hold":
                child.held = True
                child.next_start = None
            elif order and order.get("op") == "start":
                child.held = False
                child.fast_exits = 0
                if not child.running():
                    child.next_start = time.monotonic()
            self._dirty = True

    def tick(self) -> None:
        self._read_control()
        now = time.monotonic()
        for child in self.children.values():
            if child.proc is not None and child.proc.poll() is not None:
                self._reap(child, time.time())
            elif (child.proc is None and not child.held and child.next_start is not None
                  and now >= child.next_start):
                self.spawn(child)
        if self._dirty or time.monotonic() - self._written > 2.0:
            self.write_state()  # now and then too: state.json is never stale for long

    def _wait_port(self, child: _Child, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.stopping:
            if not child.running():
                raise RuntimeError(f"{child.name} exited during start-up; see its log")
            with contextlib.suppress(OSError), socket.create_connection(
                (HOST, child.spec["port"]), timeout=0.5
            ):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{child.name} did not open port {child.spec['port']}")
            time.sleep(0.05)

    def _of_kind(self, kind: str) -> _Child | None:
        """The spec's one process of ``kind`` (postgres, broker), if it has one."""
        return next((c for c in self.children.values() if c.spec["kind"] == kind), None)

    def start_all(self) -> None:
        """Postgres first (data folder, database) and the broker next when the spec has
        them, then every other process in spec order; a process
        with ``wait_port`` is awaited before the next one starts."""
        pg = self._of_kind("postgres")
        if pg is not None:
            pgdata = self.dir / "pgdata"
            postgres.prepare_data_dir(pgdata, fresh=not self.spec["keep_data"])
            self.spawn(pg)
            self._wait_port(pg, 30)
            postgres.create_database(HOST, pg.spec["port"], self.spec["database"])
        broker = self._of_kind("broker")
        if broker is not None:
            self.spawn(broker)
            self._wait_port(broker, 15)
        for child in self.children.values():
            if child.proc is None and not self.stopping:
                self.spawn(child)
                if child.spec.get("wait_port") and child.spec.get("port"):
                    self._wait_port(child, float(child.spec["wait_port"]))
        self.write_state()

    def stop_all(self, timeout_s: float = 8.0) -> None:
        """Services first, then the broker, then Postgres (``pg_ctl stop -m fast``)."""
        kinds = ("postgres", "broker")
        self._terminate([c for c in self.children.values() if c.spec["kind"] not in kinds],
                        timeout_s)
        self._terminate([c for c in self.children.values() if c.spec["kind"] == "broker"],
                        timeout_s)
        pg = self._of_kind("postgres")
        if pg is None:
            return
        if pg.running() and not postgres.stop(self.dir / "pgdata", timeout_s=timeout_s):
            log.warning("pg_ctl stop failed; killing postgres")
        self._terminate([pg], 2.0)

    def _terminate(self, children: list[_Child], timeout_s: float) -> None:
        # descendants first noted: postgres' children leave the postmaster's group
        descendants: list[psutil.Process] = []
        for child in children:
            child.held = True
            if child.proc is not None:
                with contextlib.suppress(psutil.Error):
                    descendants += psutil.Process(child.proc.pid).children(recursive=True)
                _signal_group(child.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for child in children:
            if child.proc is None:
                continue
            try:
                child.proc.wait(max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                log.warning("%s ignored SIGTERM; SIGKILL", child.name)
                _signal_group(child.proc.pid, signal.SIGKILL)
                child.proc.wait(5)
            # whatever the leader left in its group (e.g. postgres backends) goes too
            _signal_group(child.proc.pid, signal.SIGKILL)
            child.last_exit = child.proc.returncode
            child.proc = None
        for proc in descendants:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(descendants, timeout=2)
        self.write_state()

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.control.mkdir(parents=True, exist_ok=True)
        self.write_state()
        code = 0
        try:
            self.start_all()
            if not self.stopping:
                self.phase = "running"
                self.write_state()
            next_owner_check = 0.0
            while not self.stopping:
                self.tick()
                if time.monotonic() > next_owner_check:
                    next_owner_check = time.monotonic() + 1.0
                    if not self._owner_alive():
                        log.info("the owner process is gone: stopping the stack")
                        break
                time.sleep(_TICK_S)
        except Exception as exc:  # noqa: BLE001 - reported through state.json and the log
            log.exception("the stack failed")
            self.error = f"{type(exc).__name__}: {exc}"
            self.phase = "failed"
            code = 1
        finally:
            failed = self.phase == "failed"
            self.phase = "stopping"
            self.write_state()
            self.stop_all()
            self.phase = "failed" if failed else "stopped"
            self.write_state()
            log.info("supervisor exits")
        return code

    def _owner_alive(self) -> bool:
        owner = self.spec.get("owner")
        if not owner:
            return True
        try:
            proc = psutil.Process(owner["pid"])
            return (abs(proc.create_time() - owner["create_time"]) < 0.01
                    and proc.status() != psutil.STATUS_ZOMBIE)
        except psutil.Error:
            return False

    def _on_signal(self, signum: int, _frame: object) -> None:
        log.info("signal %s: stopping the stack", signum)
        self.stopping = True


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gameday.targets.supervisor")
    parser.add_argument("--stack-dir", required=True, type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr,
        format="%(asctime)s %(levelname)s supervisor: %(message)s",
    )
    return Supervisor(args.stack_dir).run()


if __name__ == "__main__":
    sys.exit(main())
