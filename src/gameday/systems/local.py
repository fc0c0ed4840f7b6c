"""A system file's processes on the local target: the stack's supervisor, another spec.

:class:`SystemLocalTarget` is :class:`~gameday.targets.local.LocalTarget` with the spec
built from a resolved system file: every member of a group with a ``local`` block is one
supervised process (argv, environment, working directory and files rendered from its
templates), restarted when it exits, stopped with everything it started. Its folder is
``<state_dir>/system-<name>-<base port>/``: ``spec.json``, ``state.json``, ``logs/`` and one
folder per member (``{{ run_dir }}``, where its ``files`` are written).

Members are named ``<group>-<member>`` (``backend-a``), or after the group when it has one
member named after itself (``lb``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from gameday.config import Settings
from gameday.errors import StackNotRunning, TargetError
from gameday.systems.probe import template_context
from gameday.systems.render import TemplateProblem, render
from gameday.systems.resolve import Member, ResolvedSystem
from gameday.targets.base import StackUrls
from gameday.targets.local import LocalTarget
from gameday.targets.localplan import RESTART_DELAY_S, builtin_service
from gameday.targets.localprocs import alive, http_health, tcp_open

__all__ = ["SystemLocalTarget", "process_name"]


def process_name(member: Member) -> str:
    """The supervisor's name of a member's process."""
    return member.group if member.name == member.group else f"{member.group}-{member.name}"


class SystemLocalTarget(LocalTarget):
    """Run, watch and stop the local processes of a resolved system."""

    name = "local"

    def __init__(self, resolved: ResolvedSystem, settings: Settings, *,
                 source: Path | None = None, owner_pid: int | None = None,
                 progress: Callable[[str], None] | None = None,
                 stack_source: Path | None = None) -> None:
        """``source``: the system file; ``stack_source``: the checkout it was taken from
        when not this one (a comparison's side), recorded in the journal."""
        super().__init__(settings, owner_pid=owner_pid, progress=progress,
                         stack_source=stack_source)
        self.resolved = resolved
        self.source = source
        self.label = f"system {resolved.system.name!r}"
        self.dir = (Path(settings.state_dir).resolve()
                    / f"system-{resolved.system.name}-{resolved.base_port}")

    @property
    def urls(self) -> StackUrls:  # the inventory stack's addresses: not this system's
        raise TargetError(f"system {self.resolved.system.name!r} has no inventory-stack URLs")

    def _members(self) -> list[Member]:
        """Members the local target runs (their group has a ``local`` block), in file order."""
        return [m for m in self.resolved.all_members()
                if self.resolved.system.components[m.group].local is not None]

    def _fingerprint(self) -> dict[str, Any]:
        text = self.source.read_bytes() if self.source else b""
        out = {"system": self.resolved.system.name, "base_port": self.resolved.base_port,
               "file_sha256": hashlib.sha256(text).hexdigest(), "python": sys.executable}
        if self.stack_source is not None:  # the same file in another checkout runs its code
            out["stack_source"] = str(Path(self.stack_source).resolve())
        return out

    def _ports_by_service(self) -> dict[str, int]:
        return {process_name(m): m.port for m in self._members() if m.port is not None}

    def _service_order(self) -> list[str]:
        return [process_name(m) for m in self._members()]

    def _build_spec(self) -> dict[str, Any]:
        base_dir = self.source.parent.resolve() if self.source else Path.cwd()
        services = []
        database = None
        for member in self._members():
            run = self.resolved.system.components[member.group].local
            assert run is not None
            if run.builtin is not None:
                services.append(self._builtin(member, run.builtin))
                database = run.database or database
                continue
            assert run.command is not None
            run_dir = self.dir / process_name(member)
            run_dir.mkdir(parents=True, exist_ok=True)
            ctx = template_context(self.resolved, member=member.name, index=member.index,
                                   port=member.port, url=member.url, component=member,
                                   run_dir=str(run_dir))
            where = f"components.{member.group}.local"
            try:
                for rel, text in run.files.items():
                    path = run_dir / rel
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(render(text, ctx), encoding="utf-8")
                argv = [render(a, ctx) for a in run.command]
                env = {k: render(v, ctx) for k, v in run.env.items()}
                cwd = base_dir / render(run.cwd, ctx) if run.cwd else base_dir
            except TemplateProblem as exc:
                raise TargetError(f"{where} of {member.label}: {exc}") from None
            services.append({
                "name": process_name(member), "kind": "service", "argv": argv, "env": env,
                "port": member.port, "url": member.url, "health_url": member.health_url,
                "cwd": str(cwd),
                "restart": run.restart,
                # names only: the supervisor copies each value from its environment,
                # which is the harness's, when it starts the member
                "secret_env": dict(run.secret_env),
            })
        if not services:
            raise TargetError(f"system {self.resolved.system.name!r} has no component the "
                              "local target runs (no `local:` block)")
        spec = {"version": 1, "stack_dir": str(self.dir), "fingerprint": self._fingerprint(),
                "keep_data": False, "restart_delay_s": RESTART_DELAY_S, "services": services}
        if database is not None:
            spec["database"] = database
        return spec

    def _builtin(self, member: Member, builtin: str) -> dict[str, Any]:
        """The supervisor's own Postgres or broker on the member's port."""
        if member.port is None:
            raise TargetError(f"components.{member.group}: a builtin {builtin} needs a port")
        return builtin_service(process_name(member),
                               "postgres" if builtin == "postgres" else "broker",
                               member.port, self.dir)

    # --- members ---------------------------------------------------------------------
    def supervises(self) -> bool:
        """Whether this target's supervisor runs the system now (else someone else runs
        it, e.g. `gameday stack up` for the inventory stack, and only HTTP reaches it)."""
        state = self._state()
        return state is not None and self._supervisor_alive(state)

    def serves_without_us(self) -> bool:
        """Every member this launcher would run answers (its health URL 2xx, or its port
        when it has none) while the launcher runs none: e.g. the inventory stack started
        by `gameday stack up`."""
        def answers(m: Member) -> bool:
            if m.health_url:
                return http_health(m.url, health_url=m.health_url)[0]
            return m.port is not None and tcp_open(m.port)

        ours = [m for m in self.resolved.all_members()
                if self.resolved.system.components[m.group].local is not None
                and (m.health_url or m.port is not None)]
        return bool(ours) and not self.supervises() and all(map(answers, ours))

    def member_process(self, member: Member) -> psutil.Process:
        """The running process of ``member``; StackNotRunning when it has none."""
        name = process_name(member)
        state = self._state()
        if state is None or not self._supervisor_alive(state):
            raise StackNotRunning(f"system {self.resolved.system.name!r} is not running at "
                                  f"base port {self.resolved.base_port}")
        pid = (state.get("services", {}).get(name) or {}).get("pid")
        if not isinstance(pid, int) or not alive(pid):
            raise TargetError(f"{member.label} has no running process")
        return psutil.Process(pid)

    def signal_member(self, member: Member, sig: signal.Signals) -> tuple[int, float]:
        """Send ``sig`` to ``member``'s process group; returns (pid, its create time)."""
        proc = self.member_process(member)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        return proc.pid, proc.create_time()

    def wait_member_healthy(self, member: Member, timeout_s: float = 30.0) -> None:
        """Until ``member`` runs and its health URL answers 2xx."""
        deadline = time.monotonic() + timeout_s
        while True:
            with contextlib.suppress(TargetError, StackNotRunning):
                self.member_process(member)
                if http_health(member.url, health_url=member.health_url)[0]:
                    return
            if time.monotonic() > deadline:
                raise TargetError(f"{member.label} did not become healthy within "
                                  f"{timeout_s:.0f} s")
            time.sleep(0.1)
