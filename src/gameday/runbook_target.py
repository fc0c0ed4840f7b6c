"""Where a runbook with a ``system`` runs: its system file resolved, its target, its driver.

:meth:`RunbookSystem.of` is what :meth:`gameday.lifecycle.GameDay.prepare` asks: None
for a runbook without ``system`` (the inventory stack), else the system file loaded and
resolved at its base port: ``--base-port`` when given, else ``GAMEDAY_BASE_PORT``, else
the file's own ``base_port`` (so the target's lock, ``local:<base port>``, is the
system's). A system runs on the local target (its components' ``local`` blocks) so far.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gameday.errors import GameDayError, RunbookError, SystemFileError
from gameday.run_record import SystemInfo
from gameday.runbook import Runbook
from gameday.runbook_system import system_path

if TYPE_CHECKING:
    from gameday.config import Settings
    from gameday.drivers.system import SystemFileDriver
    from gameday.systems.local import SystemLocalTarget
    from gameday.systems.resolve import ResolvedSystem
    from gameday.targets.base import Target

__all__ = ["RunbookSystem"]


@dataclass(frozen=True)
class RunbookSystem:
    """A runbook's system file, resolved for the run."""

    path: Path
    resolved: ResolvedSystem

    @property
    def name(self) -> str:
        return self.resolved.system.name

    @classmethod
    def of(cls, runbook: Runbook, runbook_path: Path, overrides: dict[str, Any]
           ) -> RunbookSystem | None:
        """The runbook's system (None without one); sets ``overrides["base_port"]`` to
        the port it resolved at. Raises RunbookError for what cannot run."""
        if runbook.system is None:
            return None
        from gameday.systems.loader import load_system
        from gameday.systems.render import TemplateProblem
        from gameday.systems.resolve import resolve

        if overrides.get("target", runbook.target) != "local":
            raise RunbookError(f"{runbook_path}: target: a runbook with a system runs on the "
                               "local target so far (its components' `local` blocks)")
        path = system_path(runbook.system, runbook_path.parent).resolve()
        env_port = os.environ.get("GAMEDAY_BASE_PORT", "")
        port = overrides.get("base_port") or (int(env_port) if env_port.isdigit() else None)
        try:
            resolved = resolve(load_system(path), target="local", base_port=port)
        except (SystemFileError, TemplateProblem) as exc:
            raise RunbookError(f"{runbook_path}: system: {exc}") from None
        overrides["base_port"] = resolved.base_port
        return cls(path, resolved)

    def target(self, settings: Settings, *, owner_pid: int | None = None
               ) -> SystemLocalTarget:
        """The local target running the system (``owner_pid``: it dies with that
        process, for a system the run started)."""
        from gameday.systems.local import SystemLocalTarget

        return SystemLocalTarget(self.resolved, settings, source=self.path,
                                 owner_pid=owner_pid)

    def driver(self, target: Target, settings: Settings) -> SystemFileDriver:
        from gameday.drivers.system import SystemFileDriver
        from gameday.systems.local import SystemLocalTarget

        if not isinstance(target, SystemLocalTarget):
            raise GameDayError(f"system {self.name!r} runs on its own local target")
        return SystemFileDriver(self.resolved, target, settings, source=str(self.path))

    def info(self) -> SystemInfo:
        return SystemInfo(name=self.name, file=str(self.path),
                          detector=self.resolved.system.detector.kind)
