"""The project's own inventory stack as a :class:`~gameday.drivers.SystemDriver`.

Runbooks without ``system`` run here, exactly as before systems were data: faults are
the replicas' HTTP fault API (:class:`~gameday.faults.FaultClient`, its four presets),
TTD/TTR come from the monitor's ``/transitions``, the load is
:class:`~gameday.load.LoadGenerator`'s voter reads and order writes judged against the
orders ledger (:class:`~gameday.truth.Truth`), and the invariant after the run is that
every replica's stock equals the ledger's (:func:`gameday.probes.consistency`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from gameday import probes
from gameday.config import Settings
from gameday.errors import FaultError, GameDayError, TargetError
from gameday.experiment import render_experiment
from gameday.faults import FaultClient
from gameday.http import classify, is_transient
from gameday.journal import utc_iso
from gameday.load import LoadGenerator
from gameday.owed import OwedRequests
from gameday.run_record import Consistency, VoterCounters
from gameday.runbook import Fault, Runbook
from gameday.targets.base import Target
from gameday.truth import Truth

__all__ = ["InventoryDriver", "read_or_raise"]

T = TypeVar("T")


def read_or_raise(what: str, fn: Callable[[], T]) -> T:
    """Run a read of the system; an HTTP failure becomes a TargetError saying whether a
    retry may help."""
    try:
        return fn()
    except httpx.HTTPError as exc:
        err = classify(exc)
        raise TargetError(f"cannot read {what}: {err} ({exc.__class__.__name__})",
                          transient=is_transient(err)) from exc


class InventoryDriver:
    """The inventory stack on ``target`` (local processes or compose)."""

    system = "inventory"
    invariant_failure = "replicas disagree with the ledger"
    judges_answers = True

    def __init__(self, target: Target, settings: Settings) -> None:
        self.target = target
        self.settings = settings
        self._faults: FaultClient | None = None

    @property
    def faults(self) -> FaultClient:
        if self._faults is None:  # the target's URLs are read once the run needs them
            self._faults = FaultClient.for_settings(self.target.urls, self.settings)
        return self._faults

    def experiment(self, runbook: Runbook, *, default_ttl_s: float, seed: int,
                   token: bool) -> dict[str, Any]:
        return render_experiment(runbook, self.target.urls, target=self.target.name,
                                 default_ttl_s=default_ttl_s, seed=seed, token=token)

    def steady_before(self, *, timeout_s: float) -> dict[str, Any]:
        self.faults.clear_all()
        return probes.wait_steady(self.target.urls, timeout_s=timeout_s)

    def seed_load(self, runbook: Runbook, seed: int, owed: OwedRequests
                  ) -> tuple[LoadGenerator, dict[str, Any]]:
        ledger = read_or_raise("the orders ledger", lambda: probes.ledger(self.target.urls))
        load = LoadGenerator(self.target.urls, runbook.load, seed,
                             truth=Truth.from_ledger(ledger), owed=owed)
        return load, {"ledger_before": ledger}

    def steady_during(self) -> dict[str, Any] | None:
        return None  # the availability floor is the stack's abort condition

    def steady_broken(self) -> str | None:
        return None

    def component(self, fault: Fault) -> str:
        return str(fault.replica if fault.replica is not None else fault.member)

    def fault_params(self, fault: Fault) -> dict[str, Any]:
        return fault.params()

    def inject(self, fault: Fault, *, ttl_s: float) -> tuple[float, Any]:
        sent = time.time()  # the request's send: the replica applies it on arrival
        return sent, self.faults.inject(self.component(fault), fault, ttl_s=ttl_s)

    def roll_back(self, fault: Fault, action: str, *, timeout_s: float) -> dict[str, Any]:
        replica, out = self.component(fault), dict[str, Any]()
        if action == "restart":
            self.target.restart_replica(replica, timeout_s=timeout_s)
            out["restarted"] = replica
        if action != "none":
            out["cleared"] = self.faults.clear(replica)
        return out

    def wait_recovered(self, fault: Fault, *, timeout_s: float) -> float:
        return probes.wait_replica_on(self.target.urls, self.component(fault),
                                      timeout_s=timeout_s)

    def component_states(self) -> dict[str, str]:
        return probes.replica_states(self.target.urls)

    def transitions(self, since_s: float) -> list[dict[str, Any]]:
        return read_or_raise("the monitor's transitions",
                             lambda: probes.transitions(self.target.urls, utc_iso(since_s)))

    def voter_counters(self) -> VoterCounters | None:
        try:
            stats = probes.voting_stats(self.target.urls)
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return None  # the metric it feeds is then "not measured", never a failed phase
        return VoterCounters(timeout_s=stats.get("timeout_s"),
                             asked=stats.get("asked_by_instance") or {},
                             timed_out=stats.get("timeouts_by_instance") or {})

    def roll_back_all(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        try:
            restarted = self.target.restart_stopped_replicas()
            if restarted:
                out["restarted"] = restarted
        except Exception as exc:  # noqa: BLE001 - rollback must go on
            out["restart_error"] = str(exc)
        try:
            out["cleared"] = self.faults.clear_all()
        except (FaultError, TargetError) as exc:
            out["clear_error"] = str(exc)
        return out

    def consistency(self, *, timeout_s: float) -> Consistency:
        return Consistency(**probes.consistency(self.target.urls, timeout_s=timeout_s))

    def steady_after(self, *, timeout_s: float) -> dict[str, Any]:
        try:
            return probes.wait_steady(self.target.urls, timeout_s=timeout_s)
        except GameDayError as exc:  # recorded, judged by the verdict
            return {"ok": False, "error": str(exc)}

    def close(self) -> None:
        return None
