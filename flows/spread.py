"""Trials spread over a work pool: one sub-flow run of a ``gameday`` deployment per trial.

``gameday_flow(..., spread_over="gameday/smoke")`` (or ``gameday run --spread-over``)
does not run the phases itself. It checks that the deployment exists, belongs to a work
pool and that the pool has a worker online, then creates one flow run of the deployment
per repetition of the runbook (:mod:`gameday.spread`: trial k with the shared phases),
each a sub-flow run of this one (``run_deployment(..., as_subflow=True)``) with
``repetition=k`` and its run folder under ``<run folder>/trials/t<k>/``. Each worker runs
its child on its own stack (its ``GAMEDAY_BASE_PORT``); with ``--limit 1`` per worker
and one worker per stack, the pool runs as many trials at once as it has workers, the
rest queue. Once all have ended, the results are gathered (:func:`gameday.spread.gather`)
into one run folder judged like a run in one process.

The runbook path and the reports folder must be readable and writable by every worker
(one machine, or a shared mount), as for ``flows/load.py``'s shards.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from prefect import get_client
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound

from flows.runs import final_state, wait_for_runs
from gameday.errors import GameDayError, ReportError
from gameday.fingerprint import new_run_id
from gameday.journal import JOURNAL_FILE, JournalUnreadable, read_journal
from gameday.lifecycle import GameDay
from gameday.run_record import ChildRun, JournalRecord, Outcome
from gameday.runbook import Phase
from gameday.spread import CHILDREN_DIR, child_from_journal, gather, repetitions

__all__ = ["check_pool", "spread_trials", "start_children", "read_child", "wait_budget"]


async def _check_pool(deployment: str) -> tuple[str, int]:
    api = os.environ.get("PREFECT_API_URL") or "Prefect's ephemeral API"
    async with get_client() as client:
        try:
            dep = await client.read_deployment_by_name(deployment)
        except ObjectNotFound:
            raise GameDayError(
                f"no deployment {deployment!r} on {api}: register the deployments with a "
                "work pool first (python -m flows.deployments --work-pool POOL)") from None
        if not dep.work_pool_name:
            raise GameDayError(
                f"deployment {deployment!r} has no work pool (it is served by one process, "
                "whose trials would share one stack): register it with a process work pool "
                "(python -m flows.deployments --work-pool POOL)")
        workers = await client.read_workers_for_work_pool(dep.work_pool_name)
    online = [w for w in workers if str(getattr(w.status, "value", w.status)) == "ONLINE"]
    if not online:
        raise GameDayError(
            f"work pool {dep.work_pool_name!r} (of {deployment!r}) has no worker online: "
            f"start one per stack, e.g. GAMEDAY_BASE_PORT=5101 prefect worker start "
            f"--pool {dep.work_pool_name} --limit 1")
    return dep.work_pool_name, len(online)


def check_pool(deployment: str) -> tuple[str, int]:
    """The work pool of ``deployment`` and how many of its workers are online; raises
    GameDayError (a sentence saying what to do) when the deployment does not exist, has
    no work pool, or its pool has no worker online."""
    return asyncio.run(_check_pool(deployment))


def start_children(deployment: str, runs: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
    """One flow run of ``deployment`` per ``(name, parameters)``, each a sub-flow run of
    the calling flow, not awaited (:func:`flows.runs.wait_for_runs`); their ids."""
    ids = []
    for name, params in runs:
        child = run_deployment(deployment, parameters=params, timeout=0, as_subflow=True,
                               flow_run_name=name)
        ids.append(str(child.id))  # type: ignore[union-attr]
    return ids


def read_child(folder: Path, state: str) -> tuple[Path | None, JournalRecord | None, str]:
    """The run folder a child wrote under ``folder`` (its ``reports_dir``) and its journal,
    or why there is none (``state``: the child's flow run's final state)."""
    found = sorted(folder.glob(f"*/{JOURNAL_FILE}"))
    if not found:
        return None, None, f"no journal (flow run {state})"
    try:
        return found[-1].parent, read_journal(found[-1]), ""
    except JournalUnreadable as exc:
        return found[-1].parent, None, str(exc)


def wait_budget(phases: Iterable[Phase], count: int, workers: int) -> float:
    """How long to wait for ``count`` children that each run ``phases``: their durations,
    recovery waits and a stack start, once per round of ``workers`` children at a time,
    with a margin."""
    one = sum(p.duration_s + p.recovery.timeout_s for p in phases)
    rounds = -(-count // max(1, workers))
    return 300.0 + rounds * (one + 240.0)


def spread_trials(gd: GameDay, deployment: str, *, report: bool = True,
                  flow_run_id: str | None = None, timeout_s: float | None = None) -> Any:
    """Run every repetition of ``gd``'s runbook as a sub-flow run of ``deployment``, wait,
    gather. Returns the flow's final state (Completed when the gathered run passed)."""
    count = repetitions(gd.runbook)
    pool, workers = check_pool(deployment)
    run_id = new_run_id(gd.runbook.name)
    run_dir = Path(gd.settings.reports_dir).resolve() / run_id
    gd.progress(f"gameday: run {run_id}: {count} trials of {gd.runbook.name} as sub-flow runs "
                f"of {deployment} on work pool {pool!r} ({workers} worker(s) online)")
    started = time.time()
    runs = []
    for k in range(1, count + 1):
        params: dict[str, Any] = {
            "runbook": str(gd.runbook_path.resolve()), "repetition": k, "report": False,
            "reports_dir": str(run_dir / CHILDREN_DIR / f"t{k}"),
            "started_by": f"{gd.started_by} (trial {k} of {count}, run {run_id})"}
        if gd.seed is not None:
            params["seed"] = gd.seed
        runs.append((f"{run_id}-t{k}", params))
    children = [ChildRun(repetition=k, flow_run_id=i)
                for k, i in enumerate(start_children(deployment, runs), 1)]
    budget = timeout_s or wait_budget(
        [p for p in gd.runbook.phases if p.trial in (None, 1) and p.dose_trial in (None, 1)],
        count, workers)
    states = wait_for_runs([c.flow_run_id for c in children], budget, poll_s=2.0)
    journals: dict[int, JournalRecord] = {}
    for i, (child, state) in enumerate(zip(children, states, strict=True)):
        children[i] = child = child.model_copy(update={"state": state})
        found, journal, error = read_child(run_dir / CHILDREN_DIR / f"t{child.repetition}",
                                           state)
        if journal is None or found is None:
            children[i] = child.model_copy(update={"error": error})
            continue
        journals[child.repetition] = journal
        children[i] = child_from_journal(child, journal).model_copy(
            update={"run_dir": str(found)})
        gd.progress(f"gameday: trial {child.repetition}: {journal.status} on "
                    f"{journal.target_key} ({state})")
    outcome = gather(gd.runbook, gd.runbook_path, children, journals,
                     reports_dir=run_dir.parent, seed=gd.seed if gd.seed is not None
                     else gd.runbook.seed, run_id=run_id, flow_run_id=flow_run_id,
                     started=started)
    if report:
        outcome = _report(gd, outcome)
    return final_state(outcome, gd.progress, "trials gathered")


def _report(gd: GameDay, outcome: Outcome) -> Outcome:
    from gameday.report import render_report

    try:
        html = render_report(outcome.run_dir or "", progress=gd.progress)
    except ReportError as exc:
        return outcome.model_copy(update={"report_error": str(exc)})
    return outcome.model_copy(update={"report": str(html)})
