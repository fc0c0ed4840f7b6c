"""The GameDay flow: a runbook executed as retryable Prefect tasks against a target.

Each phase is a group of tasks — inject, observe under load, roll back, wait for recovery —
from :mod:`gameday.engine`. Only transient work is retried (injection and rollback calls,
recovery polling); the rollback runs whatever happens (``finally`` here, and the flow's
state hooks if the process itself fails). A GameDay that misses an SLO, aborts or breaks
ends in a Failed state; one that passes ends Completed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed, Failed

from gameday import engine
from gameday.config import Settings, get_settings
from gameday.errors import FaultError, GameDayError, TargetError
from gameday.paths import REPO_ROOT
from gameday.publish import announce_abort, announce_start, publish
from gameday.runbook import Phase, load_runbook
from gameday.safety import TargetLock
from gameday.summary import markdown_summary, phase_rows
from gameday.targets import get_target

__all__ = ["gameday_flow", "FLOW_NAME"]

FLOW_NAME = "gameday"


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only what may pass on a second try (not safety refusals or bad input)."""
    try:
        state.result()
    except (FaultError, TargetError) as exc:
        return getattr(exc, "transient", True)
    except Exception:  # noqa: BLE001
        return False
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


@task(name="finish-phase", cache_policy=NO_CACHE)
def finish_phase(run: engine.GameDayRun, phase: Phase, times: engine.PhaseTimes) -> dict:
    return engine.finish_phase(run, phase, times)


def _settings(target: str | None, base_port: int | None) -> Settings:
    overrides: dict[str, Any] = {}
    if target:
        overrides["target"] = target
    if base_port:
        overrides["base_port"] = base_port
    return get_settings(**overrides)


def _stack_running(target: Any) -> bool:
    try:
        return any(s.running for s in target.status().services)
    except Exception:  # noqa: BLE001 - unknown counts as not running: start() decides
        return False


def _emergency_rollback(flow: Any, flow_run: Any, state: Any) -> None:
    """State hook (failure, crash, cancellation): clear every fault, restart the killed.

    Runs outside the run context, so it rebuilds the target from the run's parameters and
    prints instead of using the run logger.
    """
    params = dict(getattr(flow_run, "parameters", {}) or {})
    try:
        settings = _settings(params.get("target"), params.get("base_port"))
        target = get_target(settings.target, settings)
        if not _stack_running(target):
            return  # e.g. the flow stopped the stack it started: no fault can be left
        from gameday.faults import FaultClient

        FaultClient.for_settings(target.urls, settings).clear_all()
        target.restart_stopped_replicas()
        print(f"gameday: state hook ({state.type.value}): faults cleared on {target.name}")
    except Exception as exc:  # noqa: BLE001 - a hook must not raise
        print(f"gameday: state hook could not roll back: {exc}")


_TASK_STEPS = engine.Steps(inject=inject, observe=observe, rollback=rollback,
                           wait_recovery=wait_recovery, finish_phase=finish_phase)


def _run_phase(run: engine.GameDayRun, phase: Phase) -> dict[str, Any]:
    return engine.run_phase(run, phase, _TASK_STEPS)


@flow(name=FLOW_NAME, on_failure=[_emergency_rollback], on_crashed=[_emergency_rollback],
      on_cancellation=[_emergency_rollback])
def gameday_flow(
    runbook: str = "runbooks/standard.yaml",
    target: str | None = None,
    seed: int | None = None,
    base_port: int | None = None,
    start_stack: bool = False,
    report: bool = True,
    started_by: str | None = None,
    trends: bool = False,
) -> Any:
    """Run ``runbook`` against ``target`` ("local" or "compose"; default: the runbook's).

    ``start_stack`` starts the target first and stops it at the end (``make gameday``); a
    stack that was already running is used and left running. ``trends`` also re-renders
    ``reports/trends.html`` across every run (the nightly deployment does).
    Returns the verdict dict; the final state is Failed when the GameDay did not pass.
    """
    path = Path(runbook)
    path = path if path.is_absolute() else (REPO_ROOT / path if not path.exists() else path)
    rb = load_runbook(path)
    settings = _settings(target or rb.target, base_port)
    tgt = get_target(settings.target, settings)
    started_here = False
    with TargetLock(settings.state_dir, f"{tgt.name}:{settings.base_port}") as lock:
        if start_stack:
            if _stack_running(tgt):  # someone else's stack: use it, leave it running
                print(f"gameday: using the {tgt.name} stack that is already running")
                tgt.start()
            else:
                print(f"gameday: starting the {tgt.name} stack…")
                tgt.start()
                started_here = True
        try:
            return _gameday(settings, rb, path, tgt, seed, report, started_by, lock, trends)
        finally:
            if started_here:
                print(f"gameday: stopping the {tgt.name} stack…")
                tgt.stop()


def _gameday(settings: Settings, rb: Any, path: Path, tgt: Any, seed: int | None,
             report: bool, started_by: str | None, lock: TargetLock, trends: bool) -> Any:
    run = engine.open_run(settings, rb, path, tgt, seed=seed,
                          progress=lambda line: print(line, flush=True))
    lock.set_run_id(run.journal.run_id)
    run.progress(f"gameday: run {run.journal.run_id} — {rb.name} on {tgt.name}, "
                 f"{len(rb.phases)} phases, seed {run.seed}")
    run.journal.start()
    announce_start(run, started_by or os.environ.get("GAMEDAY_STARTED_BY") or "gameday flow")
    status = "completed"
    try:
        preflight(run)
        for phase in rb.phases:
            record = _run_phase(run, phase)
            if record.get("aborted"):
                status = "aborted"
                run.journal.abort(record["aborted"], phase.name)
                break
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    except Exception as exc:  # noqa: BLE001 - any failure ends the GameDay as failed, journaled
        status = "failed"
        message = str(exc) if isinstance(exc, GameDayError) else f"{type(exc).__name__}: {exc}"
        run.journal.set("error", message)
        run.progress(f"gameday: error: {message}")
    finally:
        rolled = engine.rollback_everything(run)
        if status == "aborted":
            announce_abort(run, rolled)
        if status == "interrupted":
            engine.conclude(run, status)
    verdict = publish(run, engine.conclude(run, status), report=report, trends=trends)
    _artifacts(run, verdict)
    run.progress(f"gameday: {'PASSED' if verdict['passed'] else 'FAILED'} "
                 f"(score {verdict['score']:.0f}/100) — journal {verdict['journal']}"
                 + (f", report {verdict['report']}" if verdict["report"] else ""))
    if verdict["passed"] and not verdict.get("report_error"):
        return Completed(message="GameDay passed", data=verdict)
    reason = verdict.get("report_error") or "; ".join(verdict["failing_checks"][:5])
    return Failed(message=f"GameDay {verdict['status']}: {reason}", data=verdict)


def _artifacts(run: engine.GameDayRun, verdict: dict[str, Any]) -> None:
    try:
        create_markdown_artifact(key="gameday-summary", markdown=markdown_summary(
            run.journal.to_dict(), verdict), description=f"GameDay {run.journal.run_id}")
        create_table_artifact(key="gameday-phases", table=phase_rows(run.phases),
                              description="Per-phase metrics")
    except Exception as exc:  # noqa: BLE001 - artifacts are a convenience, never fatal
        run.progress(f"gameday: could not create Prefect artifacts: {exc}")
