"""Processes on this machine under a detached supervisor: the generic local launcher.

A :class:`SupervisedTarget` owns one folder (``directory``). ``start()`` writes what to
run there (``spec.json``: every process with argv, env, port and health URL, built by the
subclass) and launches a detached supervisor (:mod:`gameday.targets.supervisor`) that owns
every process, then waits until each one answers its health check (its health URL, or
its port). What runs keeps running after the calling process exits; ``stop()`` ends it.
The supervisor writes ``state.json`` (pids, ports, restarts); logs go to ``logs/``.

Restart policy: a process that exits by itself is restarted by the supervisor after
``RESTART_DELAY_S``, like a container with ``restart: unless-stopped``. So
:meth:`SupervisedTarget.kill_process` is a crash it recovers from on its own;
``kill_process(name, hold=True)`` keeps the process down until :meth:`start_process`.

``owner_pid`` ties the processes' life to another process (a test session, a GameDay that
started them): the supervisor stops everything when that process is gone, so a killed
harness leaves nothing behind. ``keep_data``: a builtin Postgres keeps its data folder
from the last start (default: wiped, every start begins from the same data).

The harness's chaos token (``settings.chaos_token``) reaches the supervisor as
``GAMEDAY_CHAOS_TOKEN`` in its environment, never in a file: a process's ``secret_env``
copies it from there at each start.

Errors: :class:`~gameday.errors.TargetError` (a port in use, another instance with other
settings running, not healthy in time: with the last lines of the failing logs),
:class:`~gameday.errors.StackNotRunning` (controlling a process when nothing runs).
Nothing is printed; progress goes to an optional ``progress`` callback.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from abc import abstractmethod
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil

from gameday.config import Settings
from gameday.errors import StackNotRunning, TargetError
from gameday.targets.base import ServiceStatus, StackStatus, Target
from gameday.targets.localplan import CHAOS_TOKEN_ENV, HOST, STACK_TAG_ENV, read_json, write_json
from gameday.targets.localprocs import alive, http_health, sweep, tagged, tcp_open

__all__ = ["SupervisedTarget"]

_LOG_TAIL_LINES = 15


class SupervisedTarget(Target):
    """Processes under one supervisor, all state in ``directory``. Safe to construct many
    times for one folder: everything is read from disk."""

    name = "local"

    def __init__(
        self,
        settings: Settings,
        directory: Path,
        *,
        label: str,
        how_to_stop: str,
        keep_data: bool = False,
        owner_pid: int | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        """``label``: how messages name what runs (``system 'lb'``); ``how_to_stop``: the
        command a refused start tells the user to run first."""
        self.settings = settings
        self.dir = Path(directory).resolve()
        self.label = label
        self.how_to_stop = how_to_stop
        self.keep_data = keep_data
        self.owner_pid = owner_pid
        self.progress = progress or (lambda _msg: None)
        self._supervisor: subprocess.Popen[bytes] | None = None

    # --- what runs: the subclass ---------------------------------------------------------
    @abstractmethod
    def _build_spec(self) -> dict[str, Any]:
        """The supervisor's spec (``version``, ``fingerprint``, ``keep_data``,
        ``restart_delay_s``, ``services`` in start order, optional ``database``)."""

    @abstractmethod
    def _fingerprint(self) -> dict[str, Any]:
        """What makes two starts the same: a running one with another is refused."""

    @abstractmethod
    def _ports_by_service(self) -> dict[str, int]:
        """The port each process listens on (checked free before a start)."""

    @abstractmethod
    def _service_order(self) -> list[str]:
        """Every process's name, in the order status reports them."""

    # --- where things are ----------------------------------------------------------------
    @property
    def log_dir(self) -> Path:
        return self.dir / "logs"

    def tail(self, name: str, lines: int = _LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of process ``name``'s log (``supervisor``: its own)."""
        try:
            text = (self.log_dir / f"{name}.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _token(self) -> str | None:
        token = self.settings.chaos_token
        return token.get_secret_value() if token is not None else None

    def supervisor_environment(self) -> dict[str, str]:
        """The supervisor's environment (every process inherits it): this one's, with
        the settings' chaos token as ``GAMEDAY_CHAOS_TOKEN`` (removed when unset)."""
        env = dict(os.environ)
        env.pop(CHAOS_TOKEN_ENV, None)
        if token := self._token():
            env[CHAOS_TOKEN_ENV] = token
        env[STACK_TAG_ENV] = str(self.dir)
        src = str(Path(__file__).resolve().parents[2])  # gameday importable without install
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        return env

    # --- start -----------------------------------------------------------------------
    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """One start/stop of this folder at a time, across processes."""
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
                raise TargetError(f"{self.label} already runs in {self.dir} with other "
                                  f"settings ({differ} differ); stop it first with "
                                  f"`{self.how_to_stop}`")
            if not running:
                self._sweep()  # whatever a dead supervisor left behind
            if not same:
                self._check_ports_free()
                self._launch()
        if same:
            self.progress(f"{self.label} already runs (state in {self.dir})")
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
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for stale in ("state.json", "control"):
            path = self.dir / stale
            if path.is_dir():
                for f in path.iterdir():
                    f.unlink()
            elif path.exists():
                path.unlink()
        for f in self.log_dir.glob("*.log"):
            f.unlink()  # fresh logs for each start
        spec = self._build_spec()
        if self.owner_pid is not None:
            spec["owner"] = {"pid": self.owner_pid,
                             "create_time": psutil.Process(self.owner_pid).create_time()}
        write_json(self.dir / "spec.json", spec, mode=0o600)
        self.progress(f"starting the supervisor (state and logs in {self.dir})")
        with open(self.log_dir / "supervisor.log", "ab") as out:
            self._supervisor = subprocess.Popen(
                [sys.executable, "-m", "gameday.targets.supervisor", "--stack-dir", str(self.dir)],
                cwd=str(self.dir), env=self.supervisor_environment(),
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True,
            )
        # claim the folder at once; the supervisor replaces this within a second
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
                    f"{self.tail('supervisor')}\n{self._failing_logs(state)}"
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
                    f"\n{self.tail(s.name)}" for s in sick
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
        return "\n".join(f"--- {n} log:\n{self.tail(n)}" for n in names)

    # --- status ----------------------------------------------------------------------
    def _state(self) -> dict[str, Any] | None:
        return read_json(self.dir / "state.json")

    def _supervisor_alive(self, state: dict[str, Any]) -> bool:
        pid = state.get("supervisor_pid")
        return (isinstance(pid, int) and alive(pid, "gameday.targets.supervisor")
                and tagged(pid, str(self.dir)))

    def supervises(self) -> bool:
        """Whether this folder's supervisor runs now."""
        state = self._state()
        return state is not None and self._supervisor_alive(state)

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
        services.sort(key=lambda s: order.get(s.name, len(order)))
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

    # --- one process -----------------------------------------------------------------
    def _entry(self, name: str) -> dict[str, Any]:
        """Process ``name``'s entry in the supervisor's state; StackNotRunning when the
        supervisor does not run, TargetError for a name it does not have."""
        state = self._state()
        if state is None or not self._supervisor_alive(state):
            raise StackNotRunning(f"{self.label} is not running (no supervisor in {self.dir})")
        services = state.get("services", {})
        if name not in services:
            raise TargetError(f"{self.label} has no process {name!r}; it has: "
                              f"{', '.join(services) or 'none yet'}")
        return dict(services[name])

    def _control(self, op: str, service: str) -> None:
        (self.dir / "control").mkdir(exist_ok=True)
        write_json(self.dir / "control" / f"{time.time_ns()}-{uuid.uuid4().hex[:6]}.json",
                   {"op": op, "service": service})

    def kill_process(self, name: str, *, hold: bool = False) -> None:
        """SIGKILL process ``name``'s group now and wait until it is gone. The supervisor
        starts it again after its restart delay unless ``hold`` is true: then it stays
        down until :meth:`start_process`. Killing a process that is down does no harm."""
        entry = self._entry(name)
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

    def start_process(self, name: str, *, timeout_s: float = 30.0) -> None:
        """Start process ``name`` unless it runs (a held one too) and wait until it runs
        and answers its health check (its port when it has no health URL)."""
        self._entry(name)
        self._control("start", name)
        deadline = time.monotonic() + timeout_s
        while True:
            entry = (self._state() or {}).get("services", {}).get(name, {})
            pid = entry.get("pid")
            if isinstance(pid, int) and alive(pid):
                if entry.get("url"):
                    if http_health(entry["url"], health_url=entry.get("health_url"))[0]:
                        return
                elif tcp_open(entry["port"]):
                    return
            if time.monotonic() > deadline:
                raise TargetError(
                    f"{name} of {self.label} did not become healthy within {timeout_s:.0f} s; "
                    f"last lines of {self.log_dir / (name + '.log')}:\n{self.tail(name)}")
            time.sleep(0.1)

    # --- stop ------------------------------------------------------------------------
    def stop(self, *, timeout_s: float = 30.0) -> None:
        with self._lock():
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
        """Kill every process of this folder that is still alive: by pid, group and tag."""
        sweep(self.dir, state or self._state() or {})
