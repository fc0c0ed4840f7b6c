"""The GameDay flow: a runbook executed as retryable Prefect tasks against a target.

The lifecycle (lock, journal, announce, conclude, publish) is :mod:`gameday.lifecycle`'s,
shared with the JupyterLab session; this module adds Prefect: each step of
:mod:`gameday.engine` is a task. A task is retried (3 times, after 1, 2 and 5 s) exactly
when its error says it is transient (:func:`gameday.errors.is_transient`: an HTTP call
refused, timed out or answered 5xx); safety refusals, bad input, and waits that ran out
of time are final. The rollback runs whatever happens (``finally`` here); the state
hooks (failure, crash, cancellation) clean up only for the run that held the target's
lock (:func:`gameday.lifecycle.cleanup_after_flow`), so a refused run touches nothing.
A GameDay that misses an SLO, aborts or breaks ends in a Failed state; one that passes
ends Completed.
"""

from __future__ import annotations

import os
from typing import Any

from prefect import flow, task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.cache_policies import NO_CACHE

from flows.runs import final_state
from flows.spread import spread_trials
from gameday import engine
from gameday.errors import is_transient
from gameday.lifecycle import GameDay, cleanup_after_flow
from gameday.run_record import Outcome, PhaseRecord, RunStatus
from gameday.runbook import Phase
from gameday.spread import repetition as only_repetition
from gameday.summary import markdown_summary, phase_rows
from gameday.sweep import plan_phases

__all__ = ["gameday_flow", "FLOW_NAME"]

FLOW_NAME = "gameday"


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's retry condition: retry exactly what may pass on a second try."""
    try:
        state.result()
    except Exception as exc:  # noqa: BLE001 - the predicate classifies every error
        return is_transient(exc)
    return False


_RETRY = dict(retries=3, retry_delay_seconds=[1, 2, 5], retry_condition_fn=_transient,
              cache_policy=NO_CACHE)


@task(name="preflight", **_RETRY)
def preflight(run: engine.GameDayRun) -> dict[str, Any]:
    return engine.preflight(run)


@task(name="inject", **_RETRY)
def inject(run: engine.GameDayRun, phase: Phase) -> float:
    return engine.inject(run, phase)


@task(name="observe", cache_policy=NO_CACHE)
def observe(run: engine.GameDayRun, phase: Phase) -> str | None:
    return engine.observe(run, phase)


@task(name="rollback", **_RETRY)
def rollback(run: engine.GameDayRun, phase: Phase) -> float | None:
    return engine.rollback(run, phase)


@task(name="wait-recovery", **_RETRY)
def wait_recovery(run: engine.GameDayRun, phase: Phase) -> float | None:
    return engine.wait_recovery(run, phase)


@task(name="finish-phase", **_RETRY)  # safe: it reads the transitions before it records
def finish_phase(run: engine.GameDayRun, phase: Phase, times: engine.PhaseTimes
                 ) -> PhaseRecord:
    return engine.finish_phase(run, phase, times)


_TASK_STEPS = engine.Steps(inject=inject, observe=observe, rollback=rollback,
                           wait_recovery=wait_recovery, finish_phase=finish_phase)


def _flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    return str(flow_run.id) if flow_run.id else None


def _state_hook(flow: Any, flow_run: Any, state: Any) -> None:
    """Failure, crash or cancellation: clean up if (and only if) this run held the lock.
    Runs outside the run context (no run logger), maybe in another process. A run that
    spread its trials held no lock: its children clean up after themselves."""
    if (getattr(flow_run, "parameters", None) or {}).get("spread_over"):
        return
    done = cleanup_after_flow(dict(getattr(flow_run, "parameters", {}) or {}),
                              str(flow_run.id), state.type.value.lower())
    if done:
        print(f"gameday: state hook ({state.type.value}): {done}", flush=True)


@flow(name=FLOW_NAME, on_failure=[_state_hook], on_crashed=[_state_hook],
      on_cancellation=[_state_hook])
def gameday_flow(
    runbook: str = "runbooks/standard.yaml",
    target: str | None = None,
    seed: int | None = None,
    base_port: int | None = None,
    start_stack: bool = False,
    report: bool = True,
    started_by: str | None = None,
    trends: bool = False,
    reports_dir: str | None = None,
    spread_over: str | None = None,
    repetition: int | None = None,
    stack_source: str | None = None,
) -> Any:
    """Run ``runbook`` against ``target`` ("local" or "compose"; default: the runbook's).

    ``start_stack`` starts the target first and stops it at the end (``make gameday``); a
    stack that was already running is used and left running. ``trends`` also re-renders
    ``reports/trends.html`` across every run (the nightly deployment does).
    ``reports_dir``: where the run folder goes (default: GAMEDAY_REPORTS_DIR, reports/).
    ``spread_over`` (a deployment of this flow on a work pool, e.g. ``gameday/smoke``):
    run each trial as a sub-flow run of it on the pool's workers and gather the results
    (:mod:`flows.spread`); this run touches no stack. ``repetition`` k: run only trial k
    with the shared phases (what ``spread_over`` asks of each child).
    ``stack_source``: a checkout directory on this machine the local stack runs from: its
    ``stack/``, or for a runbook with a system, its version of the system file
    (``gameday compare`` passes each side's checkout; with ``start_stack`` the stack is
    started from it; a running stack of another checkout is refused, never used).
    Returns the outcome as a dict; the final state is Failed when the GameDay did not pass.
    """
    gd = GameDay.prepare(runbook, target=target, base_port=base_port, seed=seed,
                         reports_dir=reports_dir, stack_source=stack_source,
                         started_by=started_by or os.environ.get("GAMEDAY_STARTED_BY")
                         or "gameday flow", progress=lambda line: print(line, flush=True))
    flow_run_id = _flow_run_id()
    if spread_over:
        return spread_trials(gd, spread_over, report=report, flow_run_id=flow_run_id)
    if repetition is not None:
        gd.runbook = only_repetition(gd.runbook, repetition)
    with gd.locked(flow_run_id=flow_run_id), gd.stack(start_stack):
        outcome = _gameday(gd, flow_run_id, report, trends)
    _artifacts(gd, outcome)
    return final_state(outcome, gd.progress)


def _gameday(gd: GameDay, flow_run_id: str | None, report: bool, trends: bool) -> Outcome:
    run = gd.open(flow_run_id=flow_run_id)
    gd.announce()
    status: RunStatus = "completed"
    try:
        preflight(run)
        # a sweep's search chooses its next dose from the phases recorded so far
        groups = gd.system.groups() if gd.system is not None else None
        for phase in plan_phases(gd.runbook, run.phases, groups):
            record = engine.run_phase(run, phase, _TASK_STEPS)
            if record.aborted:
                status = "aborted"
                gd.abort(record.aborted, phase.name)
                break
    except KeyboardInterrupt:  # Ctrl-C, `gameday abort`: roll back, conclude, go
        gd.finish("interrupted", announce=False)
        raise
    except Exception as exc:  # noqa: BLE001 - any failure ends the GameDay as failed, journaled
        status = "failed"
        run.progress(f"gameday: error: {gd.fail(exc)}")
    return gd.finish(status, report=report, trends=trends)


def _artifacts(gd: GameDay, outcome: Outcome) -> None:
    run = gd.run
    assert run is not None
    try:
        create_markdown_artifact(key="gameday-summary", markdown=markdown_summary(
            run.journal.record, outcome), description=f"GameDay {outcome.run_id}")
        create_table_artifact(key="gameday-phases", table=phase_rows(run.phases),
                              description="Per-phase metrics")
        if outcome.report_url:
            create_link_artifact(key="gameday-report", link=outcome.report_url,
                                 link_text=f"report of {outcome.run_id}",
                                 description="The GameDay's report (GAMEDAY_REPORT_URL)")
    except Exception as exc:  # noqa: BLE001 - artifacts are a convenience, never fatal
        gd.progress(f"gameday: could not create Prefect artifacts: {exc}")
