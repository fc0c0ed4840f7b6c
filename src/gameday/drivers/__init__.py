"""The seam between the GameDay engine and the system under test.

:mod:`gameday.engine` never calls a system's HTTP API, its fault mechanism or its
detector itself: it calls a :class:`SystemDriver`.
:class:`~gameday.drivers.system.SystemFileDriver` implements it for any system described
by a system file (docs/systems.md; the project's own stack is systems/inventory.yaml): its
fault providers, its detector, its request templates, its steady-state probes and
invariants.

Every method is safe to repeat (the flow's tasks retry); reads raise
:class:`~gameday.errors.GameDayError` saying whether a retry may help.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from gameday.load import LoadGenerator
    from gameday.owed import OwedRequests
    from gameday.run_record import Consistency, FrontCounters
    from gameday.runbook import Fault, Runbook
    from gameday.targets.base import Target

__all__ = ["SystemDriver"]


class SystemDriver(Protocol):
    """What the engine asks of the system under test."""

    @property
    def system(self) -> str:
        """The system's name (``inventory``, ``lb``)."""

    @property
    def target(self) -> Target:
        """How the run is reached and controlled (start, stop, status)."""

    @property
    def invariant_failure(self) -> str:
        """The sentence the verdict gives when the invariants after the run fail."""

    @property
    def judges_answers(self) -> bool:
        """Whether answers are judged right or wrong (an oracle); else wrong answers are
        not applicable."""

    def experiment(self, runbook: Runbook, *, default_ttl_s: float, seed: int,
                   token: bool) -> dict[str, Any]:
        """The runbook as a Chaos Toolkit experiment (the journal's ``experiment``)."""

    def steady_before(self, *, timeout_s: float) -> dict[str, Any]:
        """Clear what a fault may have left and wait for the steady state (``ok``, what
        was seen); raises NotReady after ``timeout_s``. Starts watching the detector."""

    def seed_load(self, runbook: Runbook, seed: int, owed: OwedRequests
                  ) -> tuple[LoadGenerator, dict[str, Any]]:
        """The run's load generator, and fields for the journal (what it was seeded
        with)."""

    def steady_during(self) -> dict[str, Any] | None:
        """The steady-state probes watched while the run goes on (``ok``, ``probes``,
        and once one failed beyond its grace, ``failed`` and ``reason``), or None when
        the system watches none: what the journal records when a phase ends."""

    def steady_broken(self) -> str | None:
        """Why the watched steady state no longer holds (a probe failed beyond its
        grace: the engine then aborts), else None. Cheap: called once per request."""

    def component(self, fault: Fault) -> str:
        """The id the detector's transitions give the faulted component (TTD/TTR)."""

    def fault_params(self, fault: Fault) -> dict[str, Any]:
        """The fault's parameters as injected (its own, the system's defaults filled)."""

    def inject(self, fault: Fault, *, ttl_s: float) -> tuple[float, Any]:
        """Inject ``fault`` (clear-then-set); when it was injected (epoch s: TTD runs from
        it) and what the mechanism answered."""

    def roll_back(self, fault: Fault, action: str, *, timeout_s: float) -> dict[str, Any]:
        """End ``fault`` per the recovery ``action`` (``clear`` or ``restart``); what
        was done. Ending an ended fault succeeds."""

    def wait_recovered(self, fault: Fault, *, timeout_s: float) -> float:
        """Until the detector sees the component up again; when it was seen (epoch s).
        Raises NotReady after ``timeout_s``."""

    def component_states(self) -> dict[str, str]:
        """Every faultable component's state now as the detector sees it (id → ON/OFF),
        for the live panel; raises when the detector cannot be read."""

    def transitions(self, since_s: float) -> list[dict[str, Any]]:
        """The detector's transitions since ``since_s`` (``instance_id``, ``status``
        ON/OFF, ``at`` or ``at_s``, ``reason``), oldest first."""

    def front_counters(self) -> FrontCounters | None:
        """The front's per-member counters now (requests finished, timed out); None when
        the system file has no ``counters`` or they cannot be read (never raises)."""

    def roll_back_all(self) -> dict[str, Any]:
        """End every fault and bring back every component; never raises."""

    def consistency(self, *, timeout_s: float) -> Consistency:
        """The invariants after the run (waiting up to ``timeout_s`` for them)."""

    def steady_after(self, *, timeout_s: float) -> dict[str, Any]:
        """The steady state after the run; never raises (``ok`` false, ``error``)."""

    def close(self) -> None:
        """Stop watching (the detector's poller); safe to repeat."""
