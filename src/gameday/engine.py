"""The steps of a GameDay, as plain functions over one :class:`GameDayRun`.

The steps never touch the system under test themselves: they call the run's
:class:`~gameday.drivers.SystemDriver` (the system file's driver) to fault,
watch, load and probe it, and compute and journal everything else the same way for both.

:mod:`gameday.lifecycle` strings them together (once, for the Prefect flow and the
JupyterLab session), and :mod:`gameday.conclusion` judges the run at the end; the flow
wraps the steps in retryable tasks. Every step is safe to
repeat: injection is clear-then-set, rollback of an already-clear fault succeeds, and
waiting for recovery only polls. A step that fails raises a
:class:`~gameday.errors.GameDayError` saying whether a retry may help (``transient``).

Times are epoch seconds (floats) inside; the journal holds ISO 8601.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gameday import metrics
from gameday.config import Settings
from gameday.drivers import SystemDriver
from gameday.errors import GameDayError, SafetyError
from gameday.fingerprint import chaos_toolkit_identity
from gameday.journal import Journal, environment_fingerprint, new_run_id, utc_iso, utc_time
from gameday.load import LoadGenerator
from gameday.load_check import check_load
from gameday.notify import BaseNotifier, get_notifier
from gameday.owed import OWED_FILE, OwedRequests
from gameday.run_record import (
    Check,
    Environment,
    FaultRecord,
    FrontCounters,
    FrontTally,
    JournalRecord,
    PhaseRecord,
    RunProcess,
    Threshold,
)
from gameday.runbook import Phase, Runbook, runbook_sha256
from gameday.safety import AvailabilityGuard
from gameday.targets.base import Target

__all__ = ["GameDayRun", "PhaseTimes", "Steps", "open_run", "preflight", "inject", "observe",
           "rollback", "wait_recovery", "finish_phase", "run_phase", "rollback_everything"]

Progress = Callable[[str], None]


@dataclass
class PhaseTimes:
    """When things happened in one phase (epoch seconds; None = did not happen)."""

    start: float
    end: float | None = None
    injected_at: float | None = None
    rolled_back_at: float | None = None
    aborted: str | None = None


@dataclass
class GameDayRun:
    """Everything one GameDay needs, built once by :func:`open_run`."""

    settings: Settings
    runbook: Runbook
    runbook_path: Path
    target: Target
    driver: SystemDriver
    journal: Journal
    run_dir: Path
    seed: int
    notifier: BaseNotifier
    owed: OwedRequests
    progress: Progress = print
    load: LoadGenerator | None = None
    faulted: set[str] = field(default_factory=set)
    phases: list[PhaseRecord] = field(default_factory=list)
    started_s: float = field(default_factory=time.time)
    #: the front's counters just before each phase's injection (phase name → counters)
    front_before: dict[str, FrontCounters] = field(default_factory=dict)

    def sync_notifications(self) -> None:
        """Copy what the notifier recorded since last time into the journal."""
        done = len(self.journal.record.notifications)
        self.journal.add_notifications(self.notifier.records[done:])


def open_run(settings: Settings, runbook: Runbook, runbook_path: Path, target: Target, *,
             target_key: str | None = None, seed: int | None = None, run_id: str | None = None,
             flow_run_id: str | None = None, notifier: BaseNotifier | None = None,
             progress: Progress = print, driver: SystemDriver) -> GameDayRun:
    """Create the run folder and write its journal (status ``running``, with the process
    that runs it); touches nothing on the target. ``driver``: how the system is reached."""
    seed = runbook.seed if seed is None else seed
    run_id = run_id or new_run_id(runbook.name)
    record = JournalRecord(
        start=utc_time(), run_id=run_id, seed=seed, target=target.name, target_key=target_key,
        runbook=runbook.model_dump(mode="json", by_alias=True),
        runbook_path=str(runbook_path),
        experiment=driver.experiment(
            runbook, default_ttl_s=settings.fault_ttl_s, seed=seed,
            token=bool(settings.chaos_token and settings.chaos_token.get_secret_value())),
        runbook_sha256=runbook_sha256(runbook_path), **chaos_toolkit_identity(),
        environment=Environment(**environment_fingerprint(target.name, runbook_path),
                                stack_source=_source(target)),
        process=RunProcess(pid=os.getpid(), host=socket.gethostname(),
                           flow_run_id=flow_run_id))
    run_dir = Path(settings.reports_dir) / run_id
    run = GameDayRun(settings, runbook, Path(runbook_path), target, driver, Journal(record),
                     run_dir, seed, notifier or get_notifier(settings),
                     OwedRequests(run_dir / OWED_FILE), progress)
    run.journal.write(run_dir)
    return run


def _source(target: Target) -> str | None:
    """The checkout a local stack runs from, when not this one."""
    source = getattr(target, "stack_source", None)
    return None if source is None else str(source)


def preflight(run: GameDayRun, *, timeout_s: float = 30.0) -> dict[str, Any]:
    """Steady state before (the system's own probes; no fault left over), then the load
    seeded (with the load's oracle: the truth wrong answers are judged against)."""
    with run.journal.activity("steady state before", "probe") as out:
        state = run.driver.steady_before(timeout_s=timeout_s)
        out.update(state)
    run.journal.steady_state("before", state)
    run.load, seeded = run.driver.seed_load(run.runbook, run.seed, run.owed)
    if seeded:
        run.journal.update(**seeded)
    run.journal.write(run.run_dir, raw=False)
    return state


def fault_record(run: GameDayRun, phase: Phase) -> FaultRecord | None:
    """``phase``'s fault as the journal keeps it, with the TTL that is sent."""
    f = phase.fault
    if f is None:
        return None
    return FaultRecord(type=f.type, component=run.driver.component(f),
                       params=run.driver.fault_params(f),
                       ttl_s=run.runbook.fault_ttl(f, run.settings.fault_ttl_s))


def inject(run: GameDayRun, phase: Phase) -> float:
    """Inject ``phase.fault``; returns the time the injection was sent. Refuses
    (SafetyError) to fault more components of one group at once than the runbook's
    ``safety.max_faulted_per_group``."""
    fault, record = phase.fault, fault_record(run, phase)
    assert fault is not None and record is not None
    faulted = run.faulted | {fault.component}
    in_group = sorted(c for c in faulted if c.split("/", 1)[0] == fault.group)
    if len(in_group) > run.runbook.safety.max_faulted_per_group:
        raise SafetyError(
            f"phase {phase.name}: injecting on {fault.where} would fault "
            f"{len(in_group)} components of group {fault.group!r} at once "
            f"({', '.join(in_group)}); safety.max_faulted_per_group is "
            f"{run.runbook.safety.max_faulted_per_group}")
    before = run.driver.front_counters()
    if before is not None:
        run.front_before[phase.name] = before
    with run.journal.activity(f"inject {fault.describe()}", "action", phase.name) as out:
        sent, out["response"] = run.driver.inject(
            fault, ttl_s=run.runbook.fault_ttl(fault, run.settings.fault_ttl_s))
        out["ttl_s"] = record.ttl_s
    run.faulted.add(fault.component)
    run.journal.write(run.run_dir, raw=False)  # a run killed now says what it left behind
    return sent


def observe(run: GameDayRun, phase: Phase, *, report_every_s: float = 2.0) -> str | None:
    """Send the runbook's load for ``phase.duration_s``; returns the abort reason, if any:
    the availability floor (``safety``), or a steady-state probe the system watches
    during the run that failed beyond its grace (the journal's ``steady_states.during``
    keeps what the watch saw, per phase).

    Prints progress (phase, time left, live availability) every ``report_every_s``.
    """
    assert run.load is not None, "preflight() seeds the load generator"
    safety = run.runbook.safety
    guard = AvailabilityGuard(safety.abort_availability_floor, safety.abort_window_s,
                              min_samples=safety.abort_min_samples)
    load, reason = run.load, None

    def should_abort() -> bool:
        nonlocal reason
        reason = guard.check(load)
        if reason is None:
            reason = run.driver.steady_broken()
        return reason is not None

    done = threading.Event()
    started = time.monotonic()

    def report() -> None:
        while not done.wait(report_every_s):
            left = max(0.0, phase.duration_s - (time.monotonic() - started))
            av = load.window_availability(safety.abort_window_s)
            av_txt = "—" if av is None else f"{av:.2%}"
            run.progress(f"  [{phase.name}] {left:4.0f}s left · "
                         f"availability({safety.abort_window_s:g}s) {av_txt} · "
                         f"{load.achieved_rate:.0f} req/s")

    reporter = threading.Thread(target=report, daemon=True)
    reporter.start()
    try:
        with run.journal.activity(f"observe {phase.name} under load", "probe", phase.name) as out:
            records = load.run_sync(phase.name, phase.duration_s, should_abort)
            run.journal.add_requests(records)
            out.update(requests=len(records), achieved_rate=round(load.achieved_rate, 2),
                       aborted=reason)
            watch = run.driver.steady_during()
            if watch is not None:
                run.journal.steady_state("during", {"phase": phase.name, **watch})
    finally:
        done.set()
        reporter.join(timeout=1)
    return reason


def rollback(run: GameDayRun, phase: Phase) -> float | None:
    """Roll back ``phase.fault`` per its recovery action; returns when it began."""
    fault = phase.fault
    if fault is None:
        return None
    began = time.time()
    with run.journal.activity(f"roll back {fault.describe()}", "action", phase.name,
                              rollback=True) as out:
        out.update(run.driver.roll_back(fault, phase.recovery.action,
                                        timeout_s=phase.recovery.timeout_s))
    if phase.recovery.action != "none":
        run.faulted.discard(fault.component)
    return began


def wait_recovery(run: GameDayRun, phase: Phase) -> float | None:
    """Wait until the system's detector shows the faulted component ON again; returns
    when it was seen. Raises NotReady (final: the wait was the retry) after
    ``recovery.timeout_s``."""
    if phase.fault is None or phase.recovery.action == "none":
        return None
    with run.journal.activity(f"wait for {phase.fault.where} ON", "probe",
                              phase.name) as out:
        seen = run.driver.wait_recovered(phase.fault, timeout_s=phase.recovery.timeout_s)
        out["on_at"] = utc_iso(seen)
    return seen


def _time(t: float | None) -> Any:
    return None if t is None else utc_time(t)


def _front_tally(run: GameDayRun, phase: Phase) -> FrontTally | None:
    """The front's requests to ``phase``'s faulted member from just before its injection
    until now (None: no fault, no front's counters, counters unread)."""
    before = run.front_before.pop(phase.name, None)
    if phase.fault is None or before is None:
        return None
    after = run.driver.front_counters()
    return None if after is None else after.since(before, run.driver.component(phase.fault))


def finish_phase(run: GameDayRun, phase: Phase, times: PhaseTimes) -> PhaseRecord:
    """Compute the phase's metrics and checks from the recorded data; journal and notify.

    The phase's window closes now (``observed_until``): its TTD/TTR are the transitions up
    to this moment, so recomputing them later from transitions.csv gives the same values.
    """
    times.end = times.end or time.time()
    observed_until = time.time()
    trans = run.driver.transitions(run.started_s - 1)
    run.journal.set_transitions(trans)
    record = PhaseRecord(
        name=phase.name, description=phase.description, fault=fault_record(run, phase),
        duration_s=phase.duration_s, start=utc_time(times.start), end=utc_time(times.end),
        injected_at=_time(times.injected_at), rolled_back_at=_time(times.rolled_back_at),
        observed_until=utc_time(observed_until), aborted=times.aborted,
        trial=phase.trial, repeats=phase.repeats, dose=phase.dose,
        dose_trial=phase.dose_trial, front=_front_tally(run, phase))
    frame = metrics.requests_frame(run.journal.requests)
    m = metrics.phase_metrics(frame, metrics.transitions_frame(trans), record,
                              judged=run.driver.judges_answers)
    record.load = check_load(frame[frame["phase"] == phase.name], phase.duration_s)
    if record.load is not None and not record.load.kept_up:
        run.progress(f"  [{phase.name}] the load generator fell behind: {record.load.reason}")
    if m.ttd_s is not None and times.injected_at is not None:
        record.detected_at = utc_time(times.injected_at + m.ttd_s)
    if m.outage_s is not None and times.injected_at is not None:
        record.recovered_at = utc_time(times.injected_at + m.outage_s)
    baseline = next((p.metrics for p in run.phases if p.fault is None), None)
    checks = metrics.evaluate(m, run.runbook.slo, phase.fault.type if phase.fault else None,
                              baseline)
    if times.aborted:
        checks.append(Check(name="not_aborted", target=Threshold(op="==", value=0), value=1,
                            passed=False, detail=times.aborted))
    record.metrics, record.checks = m, checks
    record.passed = all(c.passed for c in checks)
    run.phases.append(record)
    run.journal.add_phase(record)
    run.journal.write(run.run_dir)
    run.notifier.phase_end(record)
    run.sync_notifications()
    run.journal.write(run.run_dir, raw=False)
    return record


@dataclass(frozen=True)
class Steps:
    """The step functions :func:`run_phase` calls; the flow passes its Prefect tasks."""

    inject: Callable[[GameDayRun, Phase], float] = inject
    observe: Callable[[GameDayRun, Phase], str | None] = observe
    rollback: Callable[[GameDayRun, Phase], float | None] = rollback
    wait_recovery: Callable[[GameDayRun, Phase], float | None] = wait_recovery
    finish_phase: Callable[[GameDayRun, Phase, PhaseTimes], PhaseRecord] = finish_phase


def run_phase(run: GameDayRun, phase: Phase, steps: Steps | None = None, *,
              stop: Callable[[], str | None] | None = None) -> PhaseRecord:
    """One phase: inject → observe under load → roll back (always) → wait for recovery →
    metrics. Returns the phase record; ``record.aborted`` holds the abort reason.

    ``stop`` (optional) returns a reason when someone asked to abort while the load ran
    (the session notebook's interrupt; whoever sets it also calls ``run.load.stop()``).
    Raises GameDayError after recording the phase when the component did not recover.
    """
    steps = steps or Steps()
    run.progress(f"▶ phase {phase.name}: "
                 f"{phase.fault.describe() if phase.fault else 'no fault'}, {phase.duration_s:g}s")
    times = PhaseTimes(start=time.time())
    try:
        if phase.fault is not None:
            times.injected_at = steps.inject(run, phase)
        times.aborted = steps.observe(run, phase) or (stop() if stop else None)
        times.end = time.time()
    finally:
        if phase.fault is not None:
            times.rolled_back_at = steps.rollback(run, phase)
    unrecovered: Exception | None = None
    if phase.fault is not None:  # after an abort too: its TTR says whether rolling back helped
        try:
            steps.wait_recovery(run, phase)
        except Exception as exc:  # noqa: BLE001 - judged below, after the phase is recorded
            if times.aborted:
                run.progress(f"  {phase.fault.where} not back ON after the abort: {exc}")
            else:
                unrecovered = exc
    record = steps.finish_phase(run, phase, times)
    if unrecovered is not None:
        raise GameDayError(f"phase {phase.name}: {phase.fault.where} did not "  # type: ignore[union-attr]
                           f"recover: {unrecovered}; stopping before the next fault")
    m = record.metrics
    av = m.availability
    run.progress(
        f"  {'✔' if record.passed else '✘'} {phase.name}: availability "
        f"{'—' if av is None else f'{av:.2%}'}, p95 {m.latency_p95_ms or 0:.1f} ms"
        + (f", TTD {m.ttd_s:.2f}s" if m.ttd_s is not None else "")
        + (f", TTR {m.ttr_s:.2f}s" if m.ttr_s is not None else ""))
    return record


def rollback_everything(run: GameDayRun) -> dict[str, Any]:
    """Clear every fault on every component and start any that is not running.
    Best effort, never raises: it runs in ``finally`` and in cleanup hooks."""
    with run.journal.activity("roll back everything", "action", rollback=True) as entry:
        out = run.driver.roll_back_all()
        run.faulted.clear()
        entry.update(out)
    return out
