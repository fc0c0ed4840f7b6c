"""The comparison flow: one runbook against two builds, each GameDay a sub-flow run.

The work is :class:`gameday.compare.runner.Comparison`'s; this module adds Prefect: every
GameDay of the comparison is a call of the ``gameday`` flow inside this one (a sub-flow
run, with its own tasks, retries and state hooks). The flow ends Failed when B is worse
than A with evidence, Completed otherwise; its result is ``compare.json``'s content.

With ``spread_over`` (a ``gameday`` deployment on a work pool) every GameDay is instead a
sub-flow run of that deployment (:func:`flows.spread.start_children`, after the same
checks as trials: the deployment exists, has a work pool, a worker is online), given its
side's checkout as ``stack_source`` and ``start_stack``: its worker starts that build's
stack on the worker's own base port and stops it after. This flow touches no stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow
from prefect.states import Completed, Failed

from flows.gameday import gameday_flow
from flows.runs import wait_for_runs
from flows.spread import check_pool, read_child, start_children, wait_budget
from gameday.compare.runner import DEFAULT_BASE_PORTS, Comparison, PlannedRun, Ran
from gameday.evidence.cells import DEFAULT_FDR
from gameday.run_record import Outcome
from gameday.spread import outcome_from_journal

__all__ = ["compare_flow", "FLOW_NAME"]

FLOW_NAME = "gameday-compare"


def _gameday(runbook: str) -> Any:
    """A :data:`~gameday.compare.runner.RunGameDay` running the ``gameday`` flow."""

    def run(base_port: int, seed: int, reports_dir: Path, checkout: Path) -> Outcome | str:
        try:
            state: Any = gameday_flow(runbook=runbook, target="local", seed=seed,
                                 base_port=base_port, start_stack=False, report=False,
                                 stack_source=str(checkout),
                                 started_by="gameday compare", reports_dir=str(reports_dir),
                                 return_state=True)
            result = state.result(raise_on_failure=False)
        except Exception as exc:  # noqa: BLE001 - one run's failure is recorded, not fatal
            return f"{type(exc).__name__}: {str(exc).strip()[:300]}"
        if isinstance(result, dict):
            return Outcome.model_validate(result)
        return f"the GameDay ended {state.type.value.lower()}: {str(result)[:300]}"

    return run


def _spread(deployment: str, runbook: str, comparison: Comparison, workers: int) -> Any:
    """A :data:`~gameday.compare.runner.RunSpread` on ``deployment``'s work pool."""

    def run(plan: list[PlannedRun]) -> list[Ran]:
        runs = []
        for p in plan:
            params: dict[str, Any] = {
                "runbook": runbook, "target": "local", "seed": p.seed, "start_stack": True,
                "stack_source": p.stack_source, "report": False,
                "reports_dir": str(p.reports_dir),
                "started_by": f"gameday compare (run {p.order} of {len(plan)}, "
                              f"{p.side.upper()})"}
            runs.append((f"compare-{p.order:02d}-{p.side}", params))
        ids = start_children(deployment, runs)
        # each run: the whole runbook and a stack start, W at a time
        states = wait_for_runs(ids, wait_budget(comparison.runbook.phases, len(plan), workers),
                               poll_s=2.0)
        out = []
        for p, flow_run_id, state in zip(plan, ids, states, strict=True):
            folder, journal, error = read_child(p.reports_dir, state)
            if journal is None or folder is None:
                out.append(Ran(error, flow_run_id=flow_run_id))
                continue
            out.append(Ran(outcome_from_journal(journal, folder), duration_s=journal.duration,
                           target_key=journal.target_key, flow_run_id=flow_run_id))
        return out

    return run


@flow(name=FLOW_NAME)
def compare_flow(runbook: str, a: str, b: str, trials: int = 3, seed: int | None = None,
                 base_ports: tuple[int, int] = DEFAULT_BASE_PORTS,
                 fdr: float = DEFAULT_FDR, spread_over: str | None = None) -> Any:
    """Run ``runbook`` ``trials`` times against build ``a`` and build ``b`` (git refs or
    checkout directories), interleaved, and judge B against A (docs/statistics.md).
    ``spread_over``: run each GameDay as a sub-flow run of that ``gameday`` deployment
    on its work pool's workers (module docstring)."""
    def progress(line: str) -> None:
        print(line, flush=True)

    comparison = Comparison.prepare(runbook, a, b, trials=trials, seed=seed,
                                    base_ports=tuple(base_ports),  # type: ignore[arg-type]
                                    fdr=fdr, progress=progress)
    if spread_over:
        pool, workers = check_pool(spread_over)  # refused before anything is checked out
        progress(f"compare: spreading over {spread_over} (work pool {pool!r}, {workers} "
                 "worker(s) online)")
        result = comparison.run(
            spread=_spread(spread_over, str(comparison.runbook_path.resolve()), comparison,
                           workers), spread_over=spread_over)
    else:
        result = comparison.run(_gameday(str(comparison.runbook_path)))
    data = result.model_dump(mode="json")
    if result.regressions:
        return Failed(message=f"B is worse than A in {len(result.regressions)} metric(s)",
                      data=data)
    return Completed(message="no regression with evidence", data=data)
