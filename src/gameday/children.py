"""Child processes that never outlive the harness.

:func:`spawn` starts a child that dies with the process that started it, however that
process ends (``kill -9`` included): on Linux the child asks the kernel for a signal when
its parent dies (``prctl(PR_SET_PDEATHSIG)``), set between fork and exec. As a second
line (another OS, or a child that ignores the signal), every spawned child is written
down in ``<state_dir>/children/`` and :func:`reap` — run by the next ``gameday`` command
— ends any whose parent is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import psutil

__all__ = ["spawn", "reap", "registry_dir"]

_PR_SET_PDEATHSIG = 1


def registry_dir(state_dir: str | Path) -> Path:
    return Path(state_dir) / "children"


def _die_with(parent: int, sig: int) -> Any:
    """A ``preexec_fn``: ask for ``sig`` when the parent dies; exit if it already has."""

    def preexec() -> None:
        if sys.platform.startswith("linux"):
            with contextlib.suppress(OSError, AttributeError):
                ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    return preexec


def spawn(cmd: Sequence[str], *, state_dir: str | Path, env: dict[str, str] | None = None,
          log: Path | None = None, cwd: str | Path | None = None,
          new_session: bool = False, death_signal: int = signal.SIGTERM,
          inherit_output: bool = False) -> subprocess.Popen[bytes]:
    """Start ``cmd`` as a child that dies with this process (module docstring).

    Output goes to ``log`` (appended), to this process's own output with
    ``inherit_output``, or nowhere. Must be called from the main thread: the parent-death
    signal fires when the *thread* that forked ends.
    """
    out: IO[bytes] | int | None = None if inherit_output else subprocess.DEVNULL
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        out = open(log, "ab")  # noqa: SIM115 - closed below, the child keeps its copy
    try:
        proc = subprocess.Popen(
            list(cmd), env=env, cwd=cwd, stdout=out,
            stderr=None if out is None else subprocess.STDOUT,
            stdin=None if out is None else subprocess.DEVNULL, start_new_session=new_session,
            preexec_fn=_die_with(os.getpid(), death_signal))  # noqa: PLW1509 - see docstring
    finally:
        if out is not None and not isinstance(out, int):
            out.close()
    _remember(state_dir, proc)
    return proc


def _remember(state_dir: str | Path, proc: subprocess.Popen[bytes]) -> None:
    folder = registry_dir(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        created = psutil.Process(proc.pid).create_time()
    except psutil.Error:
        return
    (folder / f"{proc.pid}.json").write_text(json.dumps(
        {"pid": proc.pid, "parent": os.getpid(), "create_time": created,
         "cmd": [str(c) for c in proc.args][:6]}), encoding="utf-8")  # type: ignore[union-attr]


def reap(state_dir: str | Path, *, timeout_s: float = 5.0) -> list[int]:
    """End every recorded child whose parent is gone; forget the ones that ended.
    Returns the pids it had to end (there should be none: they die with their parent)."""
    ended: list[int] = []
    folder = registry_dir(state_dir)
    for entry in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            rec = json.loads(entry.read_text(encoding="utf-8"))
            proc = psutil.Process(int(rec["pid"]))
            same = abs(proc.create_time() - float(rec["create_time"])) < 0.01
        except (OSError, ValueError, KeyError, psutil.Error):
            entry.unlink(missing_ok=True)  # gone (or a record we cannot read)
            continue
        if not same:  # the pid was reused by someone else's process
            entry.unlink(missing_ok=True)
            continue
        if psutil.pid_exists(int(rec["parent"])) and proc.ppid() == int(rec["parent"]):
            continue  # its parent still runs: it is in use
        victims = [proc, *proc.children(recursive=True)]
        for victim in victims:
            with contextlib.suppress(psutil.Error):
                victim.terminate()
        _, alive = psutil.wait_procs(victims, timeout=timeout_s)
        for victim in alive:
            with contextlib.suppress(psutil.Error):
                victim.kill()
        ended.append(proc.pid)
        entry.unlink(missing_ok=True)
    return ended
