"""The target-driver contract: start, stop, status, URLs, kill and restart a replica."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gameday.deadman import Rollback

__all__ = ["Target", "StackUrls", "StackStatus", "ServiceStatus"]


@dataclass(frozen=True)
class StackUrls:
    """Where the stack's HTTP services answer. ``inventory[0]`` is replica "1"."""

    inventory: tuple[str, ...]
    monitor: str
    voter: str
    orders: str

    def replica(self, instance_id: str | int) -> str:
        """Base URL of replica ``instance_id`` ("1".."3")."""
        return self.inventory[int(instance_id) - 1]


@dataclass(frozen=True)
class ServiceStatus:
    name: str  # "inventory-1".."inventory-3", "monitor", "voter", "orders", "kafka", "postgres"
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
    """A place the stack runs. Every method is safe to repeat (idempotent)."""

    name: str

    @property
    @abstractmethod
    def urls(self) -> StackUrls: ...

    @abstractmethod
    def start(self, *, timeout_s: float = 60.0) -> StackStatus:
        """Start the stack (or keep it running) and wait until every service is healthy."""

    @abstractmethod
    def stop(self, *, timeout_s: float = 30.0) -> None:
        """Stop the stack and leave no process or container behind."""

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

    @abstractmethod
    def kill_replica(self, instance_id: str) -> None:
        """Kill inventory replica ``instance_id`` at once (SIGKILL), no restart policy delay."""

    @abstractmethod
    def restart_replica(self, instance_id: str, *, timeout_s: float = 30.0) -> None:
        """Start replica ``instance_id`` if it is not running and wait until it is healthy."""

    def restart_stopped_replicas(self) -> list[str]:
        """Start every inventory replica that is not running; returns their ids."""
        stopped = [s.name.split("-", 1)[1] for s in self.status().services
                   if s.name.startswith("inventory-") and not s.running]
        for instance_id in stopped:
            self.restart_replica(instance_id)
        return stopped
