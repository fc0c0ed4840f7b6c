"""A system described by a system file, as a :class:`~gameday.drivers.SystemDriver`.

Runbooks with ``system: systems/<name>.yaml`` run here (docs/systems.md):

- **steady state**: the file's ``steady_state`` probes, polled until every one holds
  (before) and once more after recovery; those with ``during`` are watched from then on
  (:class:`~gameday.systems.watch.SteadyStateWatch`): one failing beyond its grace
  aborts the run (:meth:`SystemFileDriver.steady_broken`, read by the engine's abort
  check);
- **detector**: a ``status`` detector (or ``none``: the members' health URLs) is polled
  from the steady state before to the end of the run by
  :class:`~gameday.systems.detector.DetectorPoller`; a ``transitions`` detector is read
  when a phase ends. Either way TTD/TTR come from ON/OFF transitions keyed
  ``group/member``;
- **faults**: the fault named by the runbook's ``type``, through its provider
  (:mod:`gameday.systems.providers`): ``process`` (local target), ``container`` (compose
  target: kill, stop, pause, disconnect through the Docker SDK), ``http``,
  ``chaostoolkit``. Every fault holds its end (a dead-man's switch, or the system's own
  TTL); ``roll_back`` ends it early and is safe to repeat, ``roll_back_all`` ends every
  one, and an inject ends what the same member held first. A process ``kill`` has nothing
  to end: the supervisor restarts the member, and the detector says when it is back; a
  container ``kill`` is brought back by the compose file's restart policy (its switch
  starts the container at the TTL if nothing did);
- **load**: :class:`~gameday.systems.load.SystemLoadGenerator`, the file's requests,
  follow-ups and, with an ``oracle`` (read at the start), answers judged right or wrong;
- **invariants**: the file's comparisons and ``python`` callables, after the run.

The system runs on its local target (:class:`~gameday.systems.local.SystemLocalTarget`)
or its compose target (:class:`~gameday.systems.compose.SystemComposeTarget`);
``--start-stack`` starts it and stops it after the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import httpx

from gameday import deadman
from gameday.config import Settings
from gameday.errors import FaultError, NotReady, TargetError
from gameday.experiment import render_system_experiment
from gameday.http import classify, is_transient
from gameday.journal import utc_iso
from gameday.load import LoadGenerator
from gameday.owed import OwedRequests
from gameday.run_record import Consistency, FrontCounters
from gameday.runbook import Fault, Runbook
from gameday.systems.compose import SystemComposeTarget
from gameday.systems.detector import DetectorPoller, read_transitions
from gameday.systems.invariants import invariant_findings
from gameday.systems.load import SystemLoadGenerator
from gameday.systems.local import SystemLocalTarget
from gameday.systems.probe import (
    Finding,
    front_counters,
    oracle_values,
    problems,
    wait_steady_state,
)
from gameday.systems.providers import (
    inject_container_fault,
    inject_ctk_fault,
    inject_http_fault,
    inject_process_fault,
    send_request,
)
from gameday.systems.resolve import Member, ResolvedSystem
from gameday.systems.watch import SteadyStateWatch
from gameday.targets.localprocs import http_health
from gameday.truth import Truth

__all__ = ["SystemFileDriver"]

_POLL_S = 0.1
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


@dataclass
class _Held:
    """How a fault in force ends: its dead-man's switch and/or a clear request."""

    description: str
    switch: deadman.Switch | None = None
    clear: dict[str, Any] | None = None

    def end(self) -> str:
        if self.switch is not None:
            if self.switch.armed:
                self.switch.rollback()
            else:
                self.switch.disarm()
        elif self.clear is not None:
            send_request(**self.clear)
        return self.description


def _as_dicts(findings: list[Finding]) -> list[dict[str, Any]]:
    return [asdict(f) for f in findings]


class SystemFileDriver:
    """A resolved system file on its local or compose target (module docstring)."""

    def __init__(self, resolved: ResolvedSystem,
                 target: SystemLocalTarget | SystemComposeTarget,
                 settings: Settings, *, source: str | None = None) -> None:
        self.resolved = resolved
        self.target = target
        self.settings = settings
        self.source = source
        self.system = resolved.system.name
        self.invariant_failure = (
            f"the invariants of system {self.system!r} do not hold after recovery")
        self.judges_answers = resolved.system.load.judges_answers
        self._poller: DetectorPoller | None = None
        self._watch: SteadyStateWatch | None = None
        self._held: dict[str, _Held] = {}

    # ---- what the journal says ------------------------------------------------------
    def experiment(self, runbook: Runbook, *, default_ttl_s: float, seed: int,
                   token: bool) -> dict[str, Any]:
        return render_system_experiment(runbook, self.resolved, target=self.target.name,
                                        default_ttl_s=default_ttl_s, seed=seed,
                                        source=self.source)

    # ---- steady state and load ------------------------------------------------------
    def steady_before(self, *, timeout_s: float) -> dict[str, Any]:
        self.roll_back_all()
        ok, found = wait_steady_state(self.resolved, timeout_s)
        if not ok:
            raise NotReady(f"system {self.system!r} is not in its steady state after "
                           f"{timeout_s:g} s: " + "; ".join(problems(found)))
        if self.resolved.system.detector.kind != "transitions" and self._poller is None:
            self._poller = DetectorPoller(self.resolved).start()
        out = {"ok": True, "probes": _as_dicts(found),
               "detector": self.resolved.system.detector.kind}
        if self._watch is None:
            self._watch = SteadyStateWatch(self.resolved)
            if self._watch.names:
                self._watch.start()
                out["watched_during"] = self._watch.names
        return out

    def steady_during(self) -> dict[str, Any] | None:
        """The ``during`` probes' watch, started once the steady state held."""
        if self._watch is None or not self._watch.names:
            return None
        return self._watch.state()

    def steady_broken(self) -> str | None:
        """Why the watch failed (read without building its state), else None."""
        watch = self._watch
        return None if watch is None else watch.reason()

    def seed_load(self, runbook: Runbook, seed: int, owed: OwedRequests
                  ) -> tuple[LoadGenerator, dict[str, Any]]:
        """The file's load, its follow-ups owed in ``owed`` until answered; with an
        oracle, its truth read now (the journal keeps it as ``oracle_before``)."""
        oracle = self.resolved.system.load.oracle
        if oracle is None:
            return SystemLoadGenerator(self.resolved, runbook.load, seed, owed=owed), {}
        try:
            _, values = oracle_values(self.resolved)
        except ValueError as exc:
            raise TargetError(f"cannot read the oracle of {self.system!r}: {exc}",
                              transient=True) from None
        truth = Truth(values, settle_s=oracle.settle_s)
        return (SystemLoadGenerator(self.resolved, runbook.load, seed, truth=truth, owed=owed),
                {"oracle_before": {"oracle": values}})

    # ---- faults ---------------------------------------------------------------------
    def _member(self, fault: Fault) -> Member:
        return self.resolved.member(fault.group, fault.member)

    def component(self, fault: Fault) -> str:
        return self._member(fault).label

    def fault_params(self, fault: Fault) -> dict[str, Any]:
        return self.resolved.system.faults[fault.type].params_for(fault.params_)

    def inject(self, fault: Fault, *, ttl_s: float) -> tuple[float, Any]:
        """The fault through its provider. The injection time is taken right before the
        provider's own act (the signal, the fault API's request, the Chaos Toolkit
        action), after its dead-man's switch was armed: TTD never counts the harness's
        arming, and a detector quick enough to see the fault before the act returned
        still counts."""
        spec = self.resolved.system.faults[fault.type]
        member = self._member(fault)
        self._end(member.label)  # clear-then-set: a retried inject does no harm
        params = self.fault_params(fault)
        state_dir = self.settings.state_dir
        acted: list[float] = []

        def mark() -> None:
            acted.append(time.time())

        if spec.provider in ("process", "container"):
            self._check_target(fault.type, spec.provider)
        if spec.provider == "process":
            assert isinstance(self.target, SystemLocalTarget)
            switch = inject_process_fault(self.target, member, spec.action, ttl_s=ttl_s,
                                          mark=mark)
            if switch is not None:
                self._held[member.label] = _Held(f"SIGCONT to {member.label}", switch)
            out: dict[str, Any] = {"provider": "process", "action": spec.action}
        elif spec.provider == "http":
            clear, switch = inject_http_fault(self.resolved, spec, member, params=params,
                                              ttl_s=ttl_s, state_dir=state_dir, mark=mark)
            self._held[member.label] = _Held(f"{clear['method']} {clear['url']}", switch,
                                             clear)
            out = {"provider": "http"}
        elif spec.provider == "chaostoolkit":
            output, switch = inject_ctk_fault(self.resolved, spec, member, params=params,
                                              ttl_s=ttl_s, state_dir=state_dir, mark=mark)
            if switch is not None:
                self._held[member.label] = _Held(switch.spec.rollback.description, switch)
            out = {"provider": "chaostoolkit",
                   "output": output if isinstance(output, str | int | float | bool | None)
                   else repr(output)[:500]}
        else:
            assert isinstance(self.target, SystemComposeTarget)
            switch = inject_container_fault(self.resolved, spec, member, self.target,
                                            ttl_s=ttl_s, mark=mark)
            self._held[member.label] = _Held(switch.spec.rollback.description, switch)
            out = {"provider": "container", "action": spec.action}
        return (acted[0] if acted else time.time()), {**out, "member": member.label}

    def _check_target(self, name: str, provider: str) -> None:
        """FaultError unless this run's target is the one ``provider`` acts on."""
        need: type[SystemLocalTarget | SystemComposeTarget] = (
            SystemLocalTarget if provider == "process" else SystemComposeTarget)
        if not isinstance(self.target, need):
            where = "local" if provider == "process" else "compose"
            raise FaultError(f"fault {name!r} is a {provider} fault: it runs on the {where} "
                             f"target only (this run's target is {self.target.name})")

    def _end(self, label: str) -> str | None:
        held = self._held.get(label)
        if held is None:
            return None
        done = held.end()
        del self._held[label]
        return done

    def roll_back(self, fault: Fault, action: str, *, timeout_s: float) -> dict[str, Any]:
        """``clear``: end the fault. ``restart``: end it and wait until the member is
        healthy again; a member that cannot take the clear yet (its process is being
        restarted after a crash) is waited for first."""
        member = self._member(fault)
        if action == "none":
            return {}
        out: dict[str, Any] = {}
        try:
            out["ended"] = self._end(member.label)
        except (FaultError, TargetError):
            if action != "restart":
                raise
            self._wait_healthy(member, timeout_s)
            out["ended"] = self._end(member.label)
        if action == "restart":
            self._wait_healthy(member, timeout_s)
            out["healthy"] = member.label
        return out

    def _wait_healthy(self, member: Member, timeout_s: float) -> None:
        """Until ``member`` answers its health URL (and runs, when this target's
        supervisor or compose project runs it)."""
        runs = self.resolved.system.components[member.group]
        if isinstance(self.target, SystemComposeTarget):
            if runs.compose is not None:
                self.target.wait_member_healthy(member, timeout_s=timeout_s)
                return
        elif runs.local is not None and self.target.supervises():
            self.target.wait_member_healthy(member, timeout_s=timeout_s)
            return
        if member.health_url is None:
            return
        deadline = time.monotonic() + timeout_s
        while not http_health(member.url, health_url=member.health_url)[0]:
            if time.monotonic() > deadline:
                raise NotReady(f"{member.label} did not answer its health check within "
                               f"{timeout_s:g} s")
            time.sleep(_POLL_S)

    def front_counters(self) -> FrontCounters | None:
        """The file's ``counters`` (a front's per-member counts), keyed by member label;
        None without them or when they cannot be read (the metric is then "not
        measured", never a failed phase)."""
        if self.resolved.system.counters is None:
            return None
        try:
            timeout_s, asked, timed_out = front_counters(self.resolved)
        except ValueError:
            return None
        return FrontCounters(timeout_s=timeout_s, asked=asked, timed_out=timed_out)

    def roll_back_all(self) -> dict[str, Any]:
        out: dict[str, Any] = {"cleared": []}
        for label in list(self._held):
            try:
                out["cleared"].append(self._end(label))
            except Exception as exc:  # noqa: BLE001 - rollback must go on; the TTL holds
                out.setdefault("errors", []).append(f"{label}: {type(exc).__name__}: {exc}")
        return out

    # ---- the detector ---------------------------------------------------------------
    def _state(self, label: str) -> str | None:
        if self._poller is not None:
            return self._poller.state(label)
        rows = [t for t in self.transitions(time.time() - 3600) if t["instance_id"] == label]
        return rows[-1]["status"] if rows else "ON"

    def component_states(self) -> dict[str, str]:
        labels = [m.label for m in self.resolved.all_members()
                  if self.resolved.system.components[m.group].faultable]
        return {label: state for label in labels if (state := self._state(label)) is not None}

    def wait_recovered(self, fault: Fault, *, timeout_s: float) -> float:
        label = self.component(fault)
        deadline = time.monotonic() + timeout_s
        while True:
            state = self._state(label)
            if state == "ON":
                return time.time()
            if time.monotonic() >= deadline:
                raise NotReady(f"{label} not ON per the detector of {self.system!r} within "
                               f"{timeout_s:g} s (last: {state or 'unseen'})")
            time.sleep(_POLL_S)

    def transitions(self, since_s: float) -> list[dict[str, Any]]:
        if self._poller is not None:
            return [asdict(t) for t in list(self._poller.transitions) if t.at_s >= since_s]
        if self.resolved.system.detector.kind != "transitions":
            return []
        found = read_or_raise(f"the transitions of {self.system!r}", lambda: read_transitions(
            self.resolved, since_iso=utc_iso(since_s)))
        return [asdict(t) for t in found]

    # ---- after the run --------------------------------------------------------------
    def consistency(self, *, timeout_s: float) -> Consistency:
        started = time.monotonic()
        while True:
            found = invariant_findings(self.resolved)
            ok = all(f.ok for f in found)
            if ok or time.monotonic() - started >= timeout_s:
                return Consistency(
                    ok=ok, mismatches=[{"invariant": f.name, "member": f.member,
                                        "detail": f.detail} for f in found if not f.ok],
                    waited_s=round(time.monotonic() - started, 3))
            time.sleep(0.25)

    def steady_after(self, *, timeout_s: float) -> dict[str, Any]:
        try:
            ok, found = wait_steady_state(self.resolved, timeout_s)
        except Exception as exc:  # noqa: BLE001 - recorded, judged by the verdict
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        out: dict[str, Any] = {"ok": ok, "probes": _as_dicts(found)}
        if not ok:
            out["error"] = "; ".join(problems(found))
        return out

    def close(self) -> None:
        if self._watch is not None:
            self._watch.stop()
            self._watch = None
        if self._poller is not None:
            self._poller.stop()
            self._poller = None
