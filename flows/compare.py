"""The comparison flow: one runbook against two builds, each GameDay a sub-flow run.

The work is :class:`gameday.compare.runner.Comparison`'s; this module adds Prefect: every
GameDay of the comparison is a call of the ``gameday`` flow inside this one (a sub-flow
run, with its own tasks, retries and state hooks). The flow ends Failed when B is worse
than A with evidence, Completed otherwise; its result is ``compare.json``'s content.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow
from prefect.states import Completed, Failed

from flows.gameday import gameday_flow
from gameday.compare.runner import DEFAULT_BASE_PORTS, Comparison
from gameday.evidence.cells import DEFAULT_FDR
from gameday.run_record import Outcome

__all__ = ["compare_flow", "FLOW_NAME"]

FLOW_NAME = "gameday-compare"


def _gameday(runbook: str) -> Any:
    """A :data:`~gameday.compare.runner.RunGameDay` running the ``gameday`` flow."""

    def run(base_port: int, seed: int, reports_dir: Path) -> Outcome | str:
        try:
            state: Any = gameday_flow(runbook=runbook, target="local", seed=seed,
                                 base_port=base_port, start_stack=False, report=False,
                                 started_by="gameday compare", reports_dir=str(reports_dir),
                                 return_state=True)
            result = state.result(raise_on_failure=False)
        except Exception as exc:  # noqa: BLE001 - one run's failure is recorded, not fatal
            return f"{type(exc).__name__}: {str(exc).strip()[:300]}"
        if isinstance(result, dict):
            return Outcome.model_validate(result)
        return f"the GameDay ended {state.type.value.lower()}: {str(result)[:300]}"

    return run


@flow(name=FLOW_NAME)
def compare_flow(runbook: str, a: str, b: str, trials: int = 3, seed: int | None = None,
                 base_ports: tuple[int, int] = DEFAULT_BASE_PORTS,
                 fdr: float = DEFAULT_FDR) -> Any:
    """Run ``runbook`` ``trials`` times against build ``a`` and build ``b`` (git refs or
    checkout directories), interleaved, and judge B against A (docs/statistics.md)."""
    def progress(line: str) -> None:
        print(line, flush=True)

    comparison = Comparison.prepare(runbook, a, b, trials=trials, seed=seed,
                                    base_ports=tuple(base_ports),  # type: ignore[arg-type]
                                    fdr=fdr, progress=progress)
    result = comparison.run(_gameday(str(comparison.runbook_path)))
    data = result.model_dump(mode="json")
    if result.regressions:
        return Failed(message=f"B is worse than A in {len(result.regressions)} metric(s)",
                      data=data)
    return Completed(message="no regression with evidence", data=data)
