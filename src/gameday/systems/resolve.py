"""A system file made concrete for one run: every member's port, URL and health URL.

:func:`resolve` renders the component templates for a target, a host and a base port. The
result is what templates elsewhere see: each group by name, a list of its members, where
``backend[1].url`` is the second member's URL and a group of one can be used as its
member (``lb.url``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from gameday.systems.model import System
from gameday.systems.render import TemplateProblem, render, render_int

__all__ = ["Member", "Group", "ResolvedSystem", "resolve"]


@dataclass(frozen=True)
class Member:
    """One member of a component group, as the harness reaches it."""

    group: str
    name: str
    index: int
    port: int | None
    url: str
    health_url: str | None

    @property
    def label(self) -> str:
        """``backend/b``: how runbooks, journals and reports name it."""
        return f"{self.group}/{self.name}"


class Group(list[Member]):
    """A group's members; a group of one reads as its member (``lb.url``)."""

    def __init__(self, name: str, members: list[Member]) -> None:
        super().__init__(members)
        self.name = name

    @property
    def members(self) -> list[str]:
        return [m.name for m in self]

    def _only(self, attribute: str) -> Any:
        if len(self) != 1:
            raise TemplateProblem(f"group {self.name!r} has {len(self)} members: use "
                                  f"{self.name}[i].{attribute} or {self.name}.members")
        return getattr(self[0], attribute)

    @property
    def url(self) -> str:
        return str(self._only("url"))

    @property
    def port(self) -> int | None:
        return self._only("port")  # type: ignore[no-any-return]

    @property
    def health_url(self) -> str | None:
        return self._only("health_url")  # type: ignore[no-any-return]


@dataclass(frozen=True)
class ResolvedSystem:
    """A system for one run: its file's model and its members, resolved."""

    system: System
    target: str
    host: str
    base_port: int
    groups: dict[str, Group] = field(default_factory=dict)

    def context(self, **extra: Any) -> dict[str, Any]:
        """What templates see: the run's names, each group, and ``extra``."""
        return {"host": self.host, "base_port": self.base_port, "target": self.target,
                **self.groups, **extra}

    def member(self, group: str, name: str) -> Member:
        for m in self.groups[group]:
            if m.name == name:
                return m
        raise KeyError(f"{group} has no member {name!r}; members: "
                       f"{', '.join(self.groups[group].members)}")

    def all_members(self) -> list[Member]:
        return [m for g in self.groups.values() for m in g]


def _absolute(url: str, where: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise TemplateProblem(f"{where}: must give an http:// or https:// URL, gave {url!r}")
    return url


def resolve(system: System, *, target: str = "local", host: str | None = None,
            base_port: int | None = None) -> ResolvedSystem:
    """Every member's port and URLs for ``target``. Raises TemplateProblem naming the field
    whose template failed."""
    host = host or system.host
    base_port = base_port if base_port is not None else system.base_port
    resolved = ResolvedSystem(system, target, host, base_port)
    base = resolved.context()
    for gname, spec in system.components.items():
        members = []
        for index, name in enumerate(system.members(gname)):
            ctx = {**base, "member": name, "index": index}
            where = f"components.{gname}"
            try:
                port = render_int(spec.port, ctx) if spec.port is not None else None
                ctx["port"] = port
                url = render(spec.url or "http://{{ host }}:{{ port }}", ctx).rstrip("/")
            except TemplateProblem as exc:
                raise TemplateProblem(f"{where}: {exc}") from None
            url = _absolute(url, f"{where}.url")
            health = None
            if spec.health:
                text = render(spec.health, {**ctx, "url": url})
                health = _absolute(urljoin(url + "/", text.lstrip("/")) if "://" not in text
                                   else text, f"{where}.health")
            members.append(Member(gname, name, index, port, url, health))
        resolved.groups[gname] = Group(gname, members)
    return resolved
