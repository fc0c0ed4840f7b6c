"""A system file's processes on the local target, under the harness's supervisor.

:class:`SystemLocalTarget` is a :class:`~gameday.targets.supervised.SupervisedTarget` whose
spec is built from a resolved system file: every member of a group with a ``local`` block
is one supervised process (argv, environment, working directory and files rendered from
its templates; or the supervisor's builtin Postgres or broker), restarted when it exits,
stopped with everything it started. Its folder is
``<state_dir>/system-<name>-<base port>/``: ``spec.json``, ``state.json``, ``logs/`` and one
folder per member (``{{ run_dir }}``, where its ``files`` are written).

Members are named ``<group>-<member>`` (``backend-a``), or after the group when it has one
member named after itself (``lb``).

A running instance with the same file, base port, Python, checkout and secrets is reused
by :meth:`~SystemLocalTarget.start`; one with others is refused, naming what differs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
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
from gameday.systems.model import LocalRun
from gameday.systems.probe import template_context
from gameday.systems.render import TemplateProblem, render
from gameday.systems.resolve import Member, ResolvedSystem
from gameday.targets.localplan import RESTART_DELAY_S, builtin_service
from gameday.targets.localprocs import alive, http_health, tcp_open
from gameday.targets.supervised import SupervisedTarget

__all__ = ["SystemLocalTarget", "process_name", "system_dir"]


def process_name(member: Member) -> str:
    """The supervisor's name of a member's process."""
    return member.group if member.name == member.group else f"{member.group}-{member.name}"


def system_dir(state_dir: Path, name: str, base_port: int) -> Path:
    """The folder of system ``name`` running at ``base_port`` on the local target."""
    return Path(state_dir).resolve() / f"system-{name}-{base_port}"


class SystemLocalTarget(SupervisedTarget):
    """Run, watch and stop the local processes of a resolved system."""

    def __init__(self, resolved: ResolvedSystem, settings: Settings, *,
                 source: Path | None = None, owner_pid: int | None = None,
                 progress: Callable[[str], None] | None = None,
                 stack_source: Path | None = None, keep_data: bool = False) -> None:
        """``source``: the system file; ``stack_source``: the checkout it was taken from
        when not this one (a comparison's side), recorded in the journal; ``keep_data``: a
        builtin Postgres keeps the data of its last start."""
        name = resolved.system.name
        where = f" {source}" if source is not None else ""
        super().__init__(settings, system_dir(settings.state_dir, name, resolved.base_port),
                         label=f"system {name!r}",
                         how_to_stop=f"gameday system down{where} --base-port "
                                     f"{resolved.base_port}",
                         keep_data=keep_data, owner_pid=owner_pid, progress=progress)
        self.resolved = resolved
        self.source = source
        self.stack_source = stack_source

    @staticmethod
    def base_ports(state_dir: Path, name: str) -> list[int]:
        """The base port of every instance of system ``name`` with a folder in
        ``state_dir`` (running or not)."""
        prefix = f"system-{name}-"
        return sorted(int(p.name.removeprefix(prefix))
                      for p in Path(state_dir).glob(f"{prefix}*")
                      if p.is_dir() and p.name.removeprefix(prefix).isdigit())

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
        secrets = sorted({source for m in self._members()
                          for source in self._local(m).secret_env.values()})
        if secrets:  # their values, hashed: another token is another instance
            env = self.supervisor_environment()
            values = json.dumps({name: env.get(name) for name in secrets}, sort_keys=True)
            out["secrets_sha256"] = hashlib.sha256(values.encode()).hexdigest()
        return out

    def _local(self, member: Member) -> LocalRun:
        run = self.resolved.system.components[member.group].local
        assert run is not None  # _members() holds only members with a local block
        return run

    def _ports_by_service(self) -> dict[str, int]:
        return {process_name(m): m.port for m in self._members() if m.port is not None}

    def _service_order(self) -> list[str]:
        return [process_name(m) for m in self._members()]

    def _build_spec(self) -> dict[str, Any]:
        base_dir = self.source.parent.resolve() if self.source else Path.cwd()
        services = []
        database = None
        for member in self._members():
            run = self._local(member)
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
                "keep_data": self.keep_data, "restart_delay_s": RESTART_DELAY_S,
                "services": services}
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
    def serves_without_us(self) -> bool:
        """Every member this launcher would run answers (its health URL 2xx, or its port
        when it has none) while the launcher runs none: started by hand or by another
        tool."""
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

    def kill_member(self, member: Member, *, hold: bool = False) -> None:
        """SIGKILL ``member``'s process now: the supervisor restarts it (its restart
        policy), or with ``hold`` keeps it down until :meth:`restart_member`."""
        self.kill_process(process_name(member), hold=hold)

    def restart_member(self, member: Member, *, timeout_s: float = 30.0) -> None:
        """Start ``member``'s process unless it runs (a held one too) and wait until it is
        healthy."""
        self.start_process(process_name(member), timeout_s=timeout_s)
