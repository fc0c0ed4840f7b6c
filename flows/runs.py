"""Flow runs: waiting for those ``run_deployment(..., timeout=0)`` started; a GameDay's
final state."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from prefect import get_client
from prefect.states import Completed, Failed

from gameday.run_record import Outcome

__all__ = ["TERMINAL", "final_state", "wait_for_runs"]

TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


async def _wait(ids: list[Any], timeout_s: float, poll_s: float) -> list[str]:
    deadline = time.monotonic() + timeout_s
    async with get_client() as client:
        while True:
            runs = [await client.read_flow_run(i) for i in ids]
            states = [r.state.type.value if r.state else "PENDING" for r in runs]
            if all(s in TERMINAL for s in states) or time.monotonic() > deadline:
                return states
            await asyncio.sleep(poll_s)


def wait_for_runs(ids: list[Any], timeout_s: float, poll_s: float = 1.0) -> list[str]:
    """The state type of each flow run once all have ended (or ``timeout_s`` passed:
    then the ones still going say PENDING / SCHEDULED / RUNNING)."""
    return asyncio.run(_wait(ids, timeout_s, poll_s))


def final_state(outcome: Outcome, progress: Callable[[str], None], how: str = "") -> Any:
    """The GameDay flow's final state: Completed when it passed (and its report rendered),
    Failed otherwise, with the outcome as data; says the verdict through ``progress``."""
    progress(f"gameday: {'PASSED' if outcome.passed else 'FAILED'} "
             f"(score {outcome.score:.0f}/100{', ' + how if how else ''}) — journal "
             f"{outcome.journal}" + (f", report {outcome.report}" if outcome.report else ""))
    data = outcome.model_dump(mode="json")
    if outcome.passed and not outcome.report_error:
        return Completed(message="GameDay passed", data=data)
    reason = outcome.report_error or "; ".join(outcome.failing_checks[:5])
    return Failed(message=f"GameDay {outcome.status}: {reason}", data=data)
