"""A system file's containers on the compose target: its compose file, its members' services.

:class:`SystemComposeTarget` is :class:`~gameday.targets.compose.ComposeTarget` (Compose
for ``up``/``down``, the Docker SDK for everything else, container faults on dead-man's
switches) pointed at a resolved system:

- **files**: the system's ``compose_file`` (relative to the system file). When
  ``GAMEDAY_COMPOSE_FILE`` begins with those same files it names the same stack with
  override files after them (``docker-compose.yml:docker-compose.local.yml`` runs the
  inventory system on the images of ``make images``): then its files are used;
- **project**: for that same stack ``GAMEDAY_COMPOSE_PROJECT`` (``systems/inventory.yaml``
  on compose, `gameday stack up --target compose`, is that project and shares its lock);
  for any other system ``<GAMEDAY_COMPOSE_PROJECT>-<system name>``, so that ``up
  --remove-orphans`` of one system never removes another's containers;
- **ports**: every member with a ``compose`` block and a ``port`` is passed to Compose as
  ``GAMEDAY_<SERVICE>_PORT`` (its service's name, upper case, ``-`` as ``_``): the compose
  file publishes it there (``"${GAMEDAY_WEB_1_PORT:-8080}:80"``), on
  ``GAMEDAY_BIND_ADDRESS``;
- **members**: :meth:`SystemComposeTarget.service` is the member's ``compose.service``,
  rendered; :meth:`SystemComposeTarget.wait_member_healthy` waits until its container runs
  unpaused and its health URL answers; :meth:`SystemComposeTarget.kill_member` and
  :meth:`SystemComposeTarget.restart_member` crash it (or hold it down) and bring it back.

Errors: :class:`~gameday.errors.TargetError` for a system without ``compose_file`` or a
member without ``compose`` block, and as :class:`ComposeTarget` raises them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gameday.config import Settings
from gameday.errors import TargetError
from gameday.systems.probe import template_context
from gameday.systems.render import TemplateProblem, render
from gameday.systems.resolve import Member, ResolvedSystem
from gameday.targets.compose import ComposeTarget
from gameday.targets.composecli import compose_files
from gameday.targets.localprocs import http_health

__all__ = ["SystemComposeTarget", "member_service"]


def member_service(resolved: ResolvedSystem, member: Member,
                   context: dict[str, Any] | None = None) -> str:
    """The compose service of ``member`` (its group's ``compose.service``, rendered with
    ``context``, by default the member's template context). TargetError without one."""
    spec = resolved.system.components[member.group].compose
    if spec is None:
        raise TargetError(f"{member.label} has no compose service (components."
                          f"{member.group}.compose): it does not run on the compose target")
    if context is None:
        context = template_context(resolved, component=member, member=member.name,
                                   index=member.index)
    try:
        return render(spec.service, context)
    except TemplateProblem as exc:
        raise TargetError(f"components.{member.group}.compose.service: {exc}") from None


class SystemComposeTarget(ComposeTarget):
    """The containers of a resolved system, as a Docker Compose project (module docstring)."""

    def __init__(self, resolved: ResolvedSystem, settings: Settings, *,
                 source: Path | None = None, docker_timeout_s: float = 10.0,
                 progress: Callable[[str], None] | None = None) -> None:
        super().__init__(settings, docker_timeout_s=docker_timeout_s, progress=progress)
        system = resolved.system
        if not system.compose_file:
            raise TargetError(f"system {system.name!r} has no compose_file: it cannot run "
                              "on the compose target (give compose_file: [your compose "
                              "file] and a compose: {service} block per component)")
        self.resolved = resolved
        self.source = source
        base = source.parent if source is not None else Path.cwd()
        own = [(base / name).resolve() for name in system.compose_file]
        given = compose_files(settings.compose_file)
        if given[:len(own)] == own:  # the same stack, with the settings' overrides after
            self.compose_files = given
        else:
            self.compose_files = own
            suffix = re.sub(r"[^a-z0-9_-]", "-", system.name.lower())
            self.project = f"{settings.compose_project}-{suffix}"
        files = " ".join(f"-f {f}" for f in self.compose_files)
        self.how_to_start = (f"`gameday system up {source or 'SYSTEM_FILE'} --target compose`, "
                             f"`docker compose -p {self.project} {files} up -d --wait`, or "
                             "`gameday run` of a runbook naming this system with --start-stack")

    def members(self) -> list[Member]:
        """Members that run as a service of the compose file (their group has ``compose``)."""
        return [m for m in self.resolved.all_members()
                if self.resolved.system.components[m.group].compose is not None]

    def service(self, member: Member) -> str:
        return member_service(self.resolved, member)

    @property
    def ports(self) -> dict[str, int]:
        """The host port of every member's service: the member's ``port``."""
        return {self.service(m): m.port for m in self.members() if m.port is not None}

    def _status_rows(self) -> list[tuple[str, str | None]]:
        return [(self.service(m), m.url) for m in self.members()]

    def wait_member_healthy(self, member: Member, timeout_s: float = 30.0) -> None:
        """Until ``member``'s container runs (not paused) and its health URL answers 2xx.
        A killed container comes back by the compose file's restart policy; one that has
        none stays down and this times out (TargetError)."""
        def healthy(container: Any) -> bool:
            state = container.attrs.get("State") or {}
            return (bool(state.get("Running")) and not state.get("Paused")
                    and (member.health_url is None
                         or http_health(member.url, health_url=member.health_url)[0]))

        self._wait(self._container(self.service(member)), healthy, timeout_s,
                   f"{member.label} to run and answer its health check")

    def kill_member(self, member: Member, *, hold: bool = False) -> None:
        """SIGKILL ``member``'s container: its restart policy brings it back, or with
        ``hold`` it stays down until :meth:`restart_member` (ComposeTarget.kill_service)."""
        self.kill_service(self.service(member), hold=hold)

    def restart_member(self, member: Member, *, timeout_s: float = 30.0) -> None:
        """Start ``member``'s container unless it runs and wait until it answers its
        health URL on its host port (Docker's own health check runs only every few
        seconds)."""
        self.start_service(self.service(member))
        self.wait_member_healthy(member, timeout_s=timeout_s)
