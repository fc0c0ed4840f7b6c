"""The target-driver contract: start, stop and inspect what runs the system under test."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gameday.deadman import Rollback

__all__ = ["Target", "StackStatus", "ServiceStatus"]


@dataclass(frozen=True)
class ServiceStatus:
    name: str  # a supervised process (``backend-a``) or a compose service
    running: bool
    healthy: bool
    pid: int | None = None
    url: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class StackStatus:
    target: str
    services: tuple[ServiceStatus, ...] = field(default_factory=tuple)

    @property
    def healthy(self) -> bool:
        return bool(self.services) and all(s.healthy for s in self.services)


class Target(ABC):
    """A place a system runs (``local``: supervised processes, ``compose``: a Compose
    project). Every method is safe to repeat (idempotent)."""

    name: str

    @abstractmethod
    def start(self, *, timeout_s: float = 60.0) -> StackStatus:
        """Start it (or keep it running) and wait until every process or service is healthy."""

    @abstractmethod
    def stop(self, *, timeout_s: float = 30.0) -> None:
        """Stop it and leave no process or container behind."""

    @abstractmethod
    def status(self) -> StackStatus:
        """What runs now and whether it answers its health check."""

    def serves_without_us(self) -> bool:
        """Whether the system answers although this target's own launcher does not run it
        (started by hand or by another tool): ``--start-stack`` then uses it as it is."""
        return False

    def take_down(self) -> Rollback | None:
        """How to stop what :meth:`start` starts when the harness is gone, as data for a
        dead-man's switch (``--start-stack``: nothing the harness starts outlives it);
        None when the target needs none (the local stack dies with its owner)."""
        return None
