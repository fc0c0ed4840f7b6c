"""Target drivers: the one seam between "where the stack runs" and everything else."""

from __future__ import annotations

from gameday.targets.base import ServiceStatus, StackStatus, StackUrls, Target

__all__ = ["Target", "StackUrls", "StackStatus", "ServiceStatus", "get_target"]


def get_target(name: str, settings: object | None = None) -> Target:
    """Return the driver called ``name`` ("local" or "compose")."""
    from gameday.config import Settings, get_settings
    from gameday.errors import TargetError

    cfg = settings if isinstance(settings, Settings) else get_settings()
    if name == "local":
        from gameday.targets.local import LocalTarget

        return LocalTarget(cfg)
    if name == "compose":
        from gameday.targets.compose import ComposeTarget

        return ComposeTarget(cfg)
    raise TargetError(f"unknown target {name!r}; allowed: 'local', 'compose'")
