"""What a GameDay tells people: the start message, the abort alert, the report, the verdict.

Shared by the Prefect flow (``flows/gameday.py``) and the JupyterLab session
(:mod:`gameday.session`) so both announce and publish a run the same way. Nothing here
raises for a notification or report problem: a failing report is recorded as
``report_error`` in the journal and the verdict; Slack failures are recorded by the
notifier itself.
"""

from __future__ import annotations

from typing import Any

from gameday.engine import GameDayRun
from gameday.errors import ReportError

__all__ = ["announce_start", "announce_abort", "publish"]


def announce_start(run: GameDayRun, started_by: str) -> None:
    """The start message: runbook, target, seed, phases, who or what started it."""
    rb = run.runbook
    run.notifier.start({
        "run_id": run.journal.run_id, "name": rb.name, "description": rb.description,
        "target": run.target.name, "seed": run.seed,
        "phases": [{"name": p.name, "fault": p.fault.type if p.fault else None}
                   for p in rb.phases],
        "started_by": started_by,
    })


def announce_abort(run: GameDayRun, rolled_back: dict[str, Any]) -> None:
    """The abort alert, from the journal's ``abort`` record (set it first)."""
    abort = run.journal.data.get("abort") or {}
    run.notifier.abort({"reason": abort.get("reason"), "phase": abort.get("phase"),
                        "rolled_back": rolled_back, "run_id": run.journal.run_id})


def publish(run: GameDayRun, verdict: dict[str, Any], *, report: bool = True,
            trends: bool = False) -> dict[str, Any]:
    """After :func:`gameday.engine.conclude`: render the report (and, with ``trends``, the
    trends page across runs), post the verdict, write the journal. Returns the verdict
    with ``report`` (path of report.html or None) and ``journal`` added."""
    html = None
    if report:
        from gameday.report import render_report, render_trends

        try:
            html = render_report(run.run_dir, progress=run.progress)
        except ReportError as exc:  # deterministic: never retried
            verdict["report_error"] = str(exc)
            run.journal.set("report_error", str(exc))
        if trends and html is not None:
            try:
                render_trends(run.run_dir.parent, progress=run.progress)
            except ReportError as exc:  # the run's own report stands; say why trends did not
                run.progress(f"gameday: trends not rendered: {exc}")
    verdict["report"] = str(html) if html else None
    verdict["journal"] = str(run.run_dir / "journal.json")
    run.notifier.verdict({**verdict, "name": run.runbook.name,
                          "duration_s": run.journal.data["duration"]})
    run.journal.data["notifications"].extend(run.notifier.journal_records())
    run.journal.write(run.run_dir)
    return verdict
