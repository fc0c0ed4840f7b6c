"""Where a runbook runs: its system file resolved, its target, its driver.

:meth:`RunbookSystem.of` is what :meth:`gameday.lifecycle.GameDay.prepare` asks: the
runbook's system file loaded and resolved for the run's target at its base port:
``--base-port`` when given, else ``GAMEDAY_BASE_PORT``, else the file's own
``base_port``. The target is the runbook's ``target`` or ``--target``:

- ``local``: :class:`~gameday.systems.local.SystemLocalTarget` runs the components'
  ``local`` blocks (its lock: ``local:<base port>``);
- ``compose``: :class:`~gameday.systems.compose.SystemComposeTarget` runs the system's
  ``compose_file``, each member a ``compose.service`` published on its ``port`` (its lock:
  ``compose:<project>``).

With ``checkout`` (a comparison's side, ``stack_source``) the system file is that
checkout's version of it, at the same place in its work tree
(:func:`~gameday.runbook_system.place_in_checkout`); its ``local`` blocks then run that
checkout's code. Only the local target runs a system from another checkout.

What the runbook asks is checked again for the target the run really has (a ``process``
fault needs local, a ``container`` fault compose and a member with a ``compose`` block):
RunbookError before anything is touched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gameday.errors import GameDayError, RunbookError, SystemFileError
from gameday.run_record import SystemInfo
from gameday.runbook import Runbook
from gameday.runbook_system import place_in_checkout, system_path, system_problems

if TYPE_CHECKING:
    from collections.abc import Callable

    from gameday.config import Settings
    from gameday.drivers.system import SystemFileDriver
    from gameday.systems.compose import SystemComposeTarget
    from gameday.systems.local import SystemLocalTarget
    from gameday.systems.resolve import ResolvedSystem
    from gameday.targets.base import Target

__all__ = ["RunbookSystem"]


@dataclass(frozen=True)
class RunbookSystem:
    """A runbook's system file, resolved for the run."""

    path: Path
    resolved: ResolvedSystem
    #: The checkout the file was taken from when not this one (``stack_source``).
    checkout: Path | None = None

    @property
    def name(self) -> str:
        return self.resolved.system.name

    def groups(self) -> dict[str, list[str]]:
        """Every group's members (what a sweep's trials rotate a fault through)."""
        return self.resolved.system.groups()

    @classmethod
    def of(cls, runbook: Runbook, runbook_path: Path, overrides: dict[str, Any], *,
           checkout: Path | None = None) -> RunbookSystem:
        """The runbook's system; sets ``overrides["base_port"]`` to
        the port it resolved at. ``checkout``: take the system file from that checkout
        (module docstring). Raises RunbookError for what cannot run, GameDayError for a
        checkout without the file."""
        from gameday.systems.loader import load_system
        from gameday.systems.render import TemplateProblem
        from gameday.systems.resolve import resolve

        target = overrides.get("target") or runbook.target
        if target not in ("local", "compose"):
            raise RunbookError(f"{runbook_path}: target: {target!r} is not a target; a runbook "
                               "with a system runs on 'local' or 'compose'")
        path = system_path(runbook.system, runbook_path.parent).resolve()
        if checkout is not None:
            path = cls._in_checkout(path, checkout, target)
        env_port = os.environ.get("GAMEDAY_BASE_PORT", "")
        port = overrides.get("base_port") or (int(env_port) if env_port.isdigit() else None)
        try:
            system = load_system(path)
            resolved = resolve(system, target=target, base_port=port)
        except (SystemFileError, TemplateProblem) as exc:
            raise RunbookError(f"{runbook_path}: system: {exc}") from None
        problems = system_problems(runbook.model_copy(update={"target": target}), system)
        if problems:
            raise RunbookError("\n".join(f"{runbook_path}: {p}" for p in problems))
        overrides["base_port"] = resolved.base_port
        return cls(path, resolved, checkout)

    @staticmethod
    def _in_checkout(path: Path, checkout: Path, target: str) -> Path:
        if target != "local":
            raise GameDayError(f"stack_source: a system runs from another checkout on the "
                               f"local target only (this run: target {target!r})")
        _, rel = place_in_checkout(path)
        there = Path(checkout).expanduser().resolve() / rel
        if not there.is_file():
            raise GameDayError(f"stack_source {checkout}: no {rel} there; give a checkout "
                               "holding the system file at the same place as this one")
        return there

    def target(self, settings: Settings, *, owner_pid: int | None = None,
               progress: Callable[[str], None] | None = None
               ) -> SystemLocalTarget | SystemComposeTarget:
        """The target running the system: local (``owner_pid``: it dies with that process,
        for a system the run started) or compose (its project, which ``--start-stack``
        takes down at the end of the run, or its dead-man's switch when the harness
        dies: :meth:`~gameday.lifecycle.GameDay.stack`)."""
        if self.resolved.target == "compose":
            from gameday.systems.compose import SystemComposeTarget

            return SystemComposeTarget(self.resolved, settings, source=self.path)
        from gameday.systems.local import SystemLocalTarget

        return SystemLocalTarget(self.resolved, settings, source=self.path,
                                 owner_pid=owner_pid, stack_source=self.checkout,
                                 progress=progress)

    def driver(self, target: Target, settings: Settings) -> SystemFileDriver:
        from gameday.drivers.system import SystemFileDriver

        if getattr(target, "resolved", None) is not self.resolved:
            raise GameDayError(f"system {self.name!r} runs on its own {self.resolved.target} "
                               f"target (RunbookSystem.target), not on {target.name!r}")
        return SystemFileDriver(self.resolved, target,  # type: ignore[arg-type]
                                settings, source=str(self.path))

    def info(self) -> SystemInfo:
        return SystemInfo(name=self.name, file=str(self.path),
                          detector=self.resolved.system.detector.kind)
