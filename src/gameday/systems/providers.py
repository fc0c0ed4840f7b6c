"""Fault providers of a system file, for the faults the harness makes itself.

:func:`inject_process_fault` is the ``process`` provider on the local target: ``kill``
(SIGKILL) and ``terminate`` (SIGTERM) go to the member's process group and the supervisor
restarts it (its restart policy is the recovery); ``stop`` (SIGSTOP, a hang) is undone by
SIGCONT to the same group. Before a stop, a dead-man's switch (:mod:`gameday.deadman`) is
armed with that SIGCONT: it fires at the time-to-live, or as soon as the harness dies
(``kill -9`` included), so a hang never outlives its TTL. Call ``.rollback()`` on the
returned switch to end the fault early.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

from gameday import deadman
from gameday.errors import FaultError

if TYPE_CHECKING:
    from gameday.systems.local import SystemLocalTarget
    from gameday.systems.resolve import Member

__all__ = ["PROCESS_SIGNALS", "inject_process_fault"]

PROCESS_SIGNALS = {"kill": signal.SIGKILL, "terminate": signal.SIGTERM, "stop": signal.SIGSTOP}


def inject_process_fault(target: SystemLocalTarget, member: Member, action: str, *,
                         ttl_s: float) -> deadman.Switch | None:
    """Make ``action`` happen to ``member`` now; the switch that ends a ``stop``."""
    if action not in PROCESS_SIGNALS:
        raise FaultError(f"unknown process action {action!r}; allowed: "
                         f"{', '.join(PROCESS_SIGNALS)}")
    if action != "stop":
        target.signal_member(member, PROCESS_SIGNALS[action])
        return None
    proc = target.member_process(member)
    switch = deadman.arm(
        deadman.Rollback(call="gameday.deadman:signal_process",
                         kwargs={"pid": proc.pid, "started_at": proc.create_time(),
                                 "signal_name": "SIGCONT", "group": True},
                         description=f"SIGCONT to {member.label} (pid {proc.pid})"),
        ttl_s=ttl_s, state_dir=target.settings.state_dir)
    try:
        target.signal_member(member, signal.SIGSTOP)
    except BaseException:
        switch.rollback()
        raise
    return switch
