"""Process and socket probes of the local target, and the sweep that leaves nothing behind."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from typing import Any

import httpx
import psutil

from gameday.targets.localplan import HOST, STACK_TAG_ENV, write_json

__all__ = ["alive", "tagged", "tcp_open", "http_health", "sweep"]

_HEALTH_TIMEOUT = httpx.Timeout(1.0, connect=0.5)


def alive(pid: int, cmdline_contains: str | None = None) -> bool:
    """True when ``pid`` runs (a zombie does not count), optionally with that command line."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        if cmdline_contains is not None:
            return any(cmdline_contains in part for part in proc.cmdline())
        return True
    except psutil.Error:
        return False


def tagged(pid: int, tag: str) -> bool:
    """True when ``pid`` belongs to the stack whose directory is ``tag`` (pids get reused)."""
    try:
        return psutil.Process(pid).environ().get(STACK_TAG_ENV) == tag
    except psutil.Error:
        return False


def tcp_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_health(base_url: str, *, health_url: str | None = None) -> tuple[bool, str]:
    """(healthy, why not): ``GET /health`` under ``base_url`` (or ``health_url`` itself)
    answered 2xx within a second (the stack's services answer 200)."""
    target = health_url or f"{base_url}/health"
    shown = "GET " + (health_url or "/health")
    try:
        response = httpx.get(target, timeout=_HEALTH_TIMEOUT)
    except httpx.HTTPError as exc:
        return False, f"{shown}: {type(exc).__name__}"
    if 200 <= response.status_code < 300:
        return True, ""
    return False, f"{shown}: HTTP {response.status_code}"


def sweep(directory: Path, state: dict[str, Any]) -> None:
    """SIGKILL every process of the stack in ``directory``, with all its descendants.

    Every process the stack starts carries ``GAMEDAY_STACK_DIR=<directory>`` in its
    environment, so this finds them even when the supervisor died and its state file is
    stale. Postgres' own children overwrite their environment (process titles) and leave
    the postmaster's process group, so the whole tree is collected before anything dies.
    """
    tag = str(directory)
    me = os.getpid()
    roots: dict[int, psutil.Process] = {}
    for pid in [state.get("supervisor_pid")] + [
            s.get("pid") for s in state.get("services", {}).values()]:
        if isinstance(pid, int) and pid != me and tagged(pid, tag):
            with contextlib.suppress(psutil.Error):
                roots[pid] = psutil.Process(pid)
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.pid != me and proc.environ().get(STACK_TAG_ENV) == tag:
                roots[proc.pid] = proc
    victims = dict(roots)
    for proc in roots.values():
        with contextlib.suppress(psutil.Error):
            victims.update({c.pid: c for c in proc.children(recursive=True) if c.pid != me})
    for proc in victims.values():
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(list(victims.values()), timeout=5)
    with contextlib.suppress(OSError):
        (directory / "pgdata" / "postmaster.pid").unlink()
    if state:
        with contextlib.suppress(OSError):
            write_json(directory / "state.json", dict(state, phase="stopped"))
