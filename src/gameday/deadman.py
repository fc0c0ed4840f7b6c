"""A dead-man's switch: the rollback of a fault that runs even when the harness cannot.

Some faults have no time-to-live of their own: a paused container, a disconnected network,
a stopped (SIGSTOP) process. Before injecting one, the harness *arms* a switch
(:func:`arm`): a detached watchdog process, in a session of its own (so neither Ctrl-C nor
a kill of the harness's process group reaches it), that holds the rollback as data
(:class:`Rollback`: the ``module:function`` path of a callable and its JSON arguments), the
harness's pid and start time, and a deadline (now + TTL). The watchdog runs the rollback
as soon as one of these happens, then exits:

- the deadline passes (the harness lives but did not roll back in time): reason ``ttl``;
- the harness dies, ``kill -9`` included (its pid is gone, a zombie, or another process
  now): reason ``harness-died``;
- the watchdog itself receives SIGTERM, SIGINT or SIGHUP while armed: reason ``signal``
  (in doubt, roll back).

After its own rollback the harness *disarms* the switch (:meth:`Switch.rollback` does
both; :meth:`Switch.disarm` alone): the spec file goes away and the watchdog exits without
acting. A rollback must therefore be idempotent (undoing what is already undone is
success): a switch that fires while the harness rolls back runs it twice. A failing
rollback is retried by the watchdog for ``retry_for_s`` (default 5 minutes). The watchdog
itself is :mod:`gameday.watchdog`.

A switch of kind ``stack`` holds the take-down of a stack the harness started (a compose
project under ``--start-stack``): it fires when the harness dies, not at ``gameday
abort``, which undoes faults and leaves a live run's stack to that run.

Files under ``<state_dir>/deadman/``: ``<id>.json``, the spec, while armed;
``<id>.result.json``, what the watchdog did when it fired (:class:`Firing`);
``watchdog.log``, every watchdog's log lines.

Errors: :class:`~gameday.errors.FaultError` when the rollback's callable cannot be found or
the watchdog does not start (then no fault may be injected).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import selectors
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Literal

import psutil
from pydantic import BaseModel, ConfigDict, Field

from gameday.errors import FaultError

__all__ = [
    "ARMED",
    "FireReason",
    "Firing",
    "Rollback",
    "Switch",
    "SwitchSpec",
    "arm",
    "armed_specs",
    "fire_armed",
    "result_path",
    "run_rollback",
    "signal_process",
    "write_atomically",
]

#: How often the watchdog looks at its spec, the harness and the clock.
POLL_S = 0.1
#: Results older than this are removed when a new switch is armed.
KEEP_RESULTS_S = 7 * 24 * 3600
#: What the watchdog prints once it watches (the harness waits for it before injecting).
ARMED = "armed"

FireReason = Literal["ttl", "harness-died", "signal"]


class Rollback(BaseModel):
    """A rollback as data: ``call`` (``package.module:function``) with keyword ``kwargs``."""

    model_config = ConfigDict(extra="forbid")

    call: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    kwargs: dict[str, Any] = Field(default_factory=dict)
    #: What a person reading a log or ``gameday abort``'s output needs to know.
    description: str = ""


class SwitchSpec(BaseModel):
    """What the watchdog holds: the rollback, whom it watches and until when."""

    model_config = ConfigDict(extra="forbid")

    id: str
    rollback: Rollback
    harness_pid: int
    harness_started_at: float
    armed_at: float
    expires_at: float
    retry_for_s: float = 300.0
    #: ``fault``: a fault's rollback; ``stack``: the take-down of a stack the harness
    #: started (module docstring).
    kind: Literal["fault", "stack"] = "fault"


class Firing(BaseModel):
    """What the watchdog did when it fired (``<id>.result.json``)."""

    id: str
    reason: FireReason
    fired_at: float
    finished_at: float
    ok: bool
    attempts: int
    output: str | None = None
    error: str | None = None


def _resolve(call: str) -> Any:
    module_name, _, name = call.partition(":")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise FaultError(f"rollback {call!r} cannot be found: {exc}") from exc


def run_rollback(rollback: Rollback) -> Any:
    """Run ``rollback`` in this process and return what its callable returned."""
    return _resolve(rollback.call)(**rollback.kwargs)


def signal_process(pid: int, started_at: float, signal_name: str = "SIGCONT",
                   group: bool = False) -> str:
    """Send ``signal_name`` to ``pid`` (to its whole process group when ``group``: the
    process was stopped with its workers) if it is still the process that started at
    ``started_at`` (psutil's ``create_time``). A rollback for process faults (SIGSTOP →
    SIGCONT); a process that is gone needs nothing. Returns what happened."""
    sig = signal.Signals[signal_name]
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - started_at) > 0.05:
            return f"pid {pid} is another process now: nothing to do"
        if group:
            os.killpg(os.getpgid(pid), sig)
        else:
            proc.send_signal(sig)
    except (psutil.NoSuchProcess, ProcessLookupError):
        return f"pid {pid} is gone: nothing to do"
    return f"sent {signal_name} to {'the process group of ' if group else ''}pid {pid}"


def _directory(state_dir: Path) -> Path:
    path = Path(state_dir) / "deadman"
    path.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - KEEP_RESULTS_S
    for result in path.glob("*.result.json"):
        with contextlib.suppress(OSError):
            if result.stat().st_mtime < cutoff:
                result.unlink()
    return path


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that no reader ever sees half of it (mode 0600)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


class Switch:
    """An armed switch, as the harness holds it."""

    def __init__(self, spec: SwitchSpec, path: Path, watchdog: subprocess.Popen[bytes]) -> None:
        self.spec = spec
        self.path = path
        self.watchdog = watchdog

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def armed(self) -> bool:
        """True while the watchdog still holds the rollback (neither fired nor disarmed)."""
        return self.path.exists() and self.watchdog.poll() is None

    def rollback(self) -> Any:
        """Run the rollback here, then disarm. If it raises, the switch stays armed."""
        result = run_rollback(self.spec.rollback)
        self.disarm()
        return result

    def disarm(self, timeout_s: float = 5.0) -> None:
        """Take the rollback back from the watchdog, which exits without acting."""
        self.path.unlink(missing_ok=True)
        try:
            self.watchdog.wait(timeout=timeout_s)  # it polls every POLL_S; this reaps it
        except subprocess.TimeoutExpired:
            self.watchdog.kill()
            self.watchdog.wait(timeout=timeout_s)

    def fired(self) -> Firing | None:
        """What the watchdog did, once it fired (None while armed or when disarmed)."""
        result = result_path(self.path)
        try:
            return Firing.model_validate_json(result.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None


def result_path(spec_path: Path) -> Path:
    """Where the watchdog of ``spec_path`` writes its :class:`Firing`."""
    return spec_path.with_name(spec_path.name.removesuffix(".json") + ".result.json")


def arm(
    rollback: Rollback,
    *,
    ttl_s: float,
    state_dir: Path,
    harness_pid: int | None = None,
    retry_for_s: float = 300.0,
    startup_timeout_s: float = 20.0,
    kind: Literal["fault", "stack"] = "fault",
) -> Switch:
    """Start a watchdog holding ``rollback``; returns once it watches.

    ``harness_pid`` (default: this process) is the process whose death fires the switch.
    Raises :class:`FaultError` if the rollback's callable cannot be imported here or the
    watchdog does not confirm within ``startup_timeout_s``: inject nothing then.
    """
    if ttl_s <= 0:
        raise FaultError(f"a dead-man's switch needs a positive TTL, got {ttl_s!r}")
    _resolve(rollback.call)  # a typo fails here, not in the watchdog when it is too late
    pid = os.getpid() if harness_pid is None else harness_pid
    try:
        started = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess as exc:
        raise FaultError(f"cannot watch harness pid {pid}: no such process") from exc
    now = time.time()
    spec = SwitchSpec(id=f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}",
                      rollback=rollback, harness_pid=pid, harness_started_at=started,
                      armed_at=now, expires_at=now + ttl_s, retry_for_s=retry_for_s,
                      kind=kind)
    directory = _directory(state_dir)
    path = directory / f"{spec.id}.json"
    write_atomically(path, spec.model_dump_json(indent=2))
    # The watchdog imports this package the way this process did, installed or not.
    package_root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (package_root, os.environ.get("PYTHONPATH")) if p)}
    with (directory / "watchdog.log").open("ab") as log:
        watchdog = subprocess.Popen(
            [sys.executable, "-m", "gameday.watchdog", str(path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, env=env,
            start_new_session=True, close_fds=True,
        )
    if _handshake(watchdog, startup_timeout_s) != ARMED:
        path.unlink(missing_ok=True)
        with contextlib.suppress(ProcessLookupError):
            watchdog.kill()
        watchdog.wait(timeout=5)
        raise FaultError(f"the dead-man's switch for {rollback.description or rollback.call} "
                         f"did not start within {startup_timeout_s:.0f} s "
                         f"(see {directory / 'watchdog.log'}); nothing was injected")
    # The watchdog counts the TTL from its handshake; say so to readers of the spec.
    spec = spec.model_copy(update={"expires_at": time.time() + ttl_s})
    if path.exists():  # (not when a tiny TTL already fired)
        write_atomically(path, spec.model_dump_json(indent=2))
    return Switch(spec, path, watchdog)


def _handshake(proc: subprocess.Popen[bytes], timeout_s: float) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        ready = sel.select(timeout=timeout_s)
    line = proc.stdout.readline().decode(errors="replace").strip() if ready else ""
    proc.stdout.close()
    return line


def armed_specs(state_dir: Path) -> list[SwitchSpec]:
    """Every switch still armed under ``state_dir`` (oldest first)."""
    directory = Path(state_dir) / "deadman"
    specs = []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        if path.name.endswith(".result.json"):
            continue
        with contextlib.suppress(OSError, ValueError):
            specs.append(SwitchSpec.model_validate_json(path.read_text(encoding="utf-8")))
    return specs


def fire_armed(state_dir: Path) -> list[tuple[SwitchSpec, str]]:
    """Run every armed fault switch's rollback here and disarm it (``gameday abort``);
    a ``stack`` switch is left to its watchdog (module docstring).

    Returns (spec, outcome) pairs; a failing rollback stays armed and says why.
    """
    outcomes = []
    for spec in armed_specs(state_dir):
        if spec.kind != "fault":
            continue
        try:
            result = run_rollback(spec.rollback)
        except Exception as exc:  # noqa: BLE001 - reported; the watchdog keeps trying
            outcomes.append((spec, f"failed, still armed: {type(exc).__name__}: {exc}"))
            continue
        (Path(state_dir) / "deadman" / f"{spec.id}.json").unlink(missing_ok=True)
        outcomes.append((spec, f"rolled back: {result}"))
    return outcomes
