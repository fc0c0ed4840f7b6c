"""Target drivers: where a system runs, the seam between it and everything else.

:mod:`~gameday.targets.supervised` runs processes on this machine under a detached
supervisor (:mod:`~gameday.targets.supervisor`); :mod:`~gameday.targets.compose` drives a
Docker Compose project. :mod:`gameday.systems` points them at a system file.
"""

from __future__ import annotations

from gameday.targets.base import ServiceStatus, StackStatus, Target

__all__ = ["Target", "StackStatus", "ServiceStatus"]
