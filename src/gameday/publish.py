"""What a GameDay tells people: the start message, the abort alert, the report, the verdict.

Used by :mod:`gameday.lifecycle` (for the Prefect flow and the JupyterLab session alike).
Nothing here raises for a notification or report problem: a failing report is recorded
as ``report_error`` in the journal and the outcome; Slack failures are recorded by the
notifier itself, and every notification lands in the journal's ``notifications``.
"""

from __future__ import annotations

from typing import Any

from gameday.conclusion import Conclusion
from gameday.engine import GameDayRun
from gameday.errors import ReportError
from gameday.evidence.trials import sentence
from gameday.journal import JOURNAL_FILE
from gameday.links import file_url
from gameday.run_record import AbortNotice, JudgementLine, Outcome, PlannedPhase, StartNotice

__all__ = ["announce_start", "announce_abort", "publish", "outcome_of"]


def announce_start(run: GameDayRun, started_by: str) -> None:
    """The start message: runbook, target, seed, phases, who or what started it."""
    rb = run.runbook
    run.notifier.start(StartNotice(
        run_id=run.journal.run_id, name=rb.name, description=" ".join(rb.description.split()),
        target=run.target.name, seed=run.seed, started_by=started_by,
        phases=[PlannedPhase(name=p.name, fault=p.fault.describe() if p.fault else None)
                for p in rb.phases]))
    _record_notifications(run)


def announce_abort(run: GameDayRun, rolled_back: dict[str, Any]) -> None:
    """The abort alert, from the journal's ``abort`` record (set it first)."""
    abort = run.journal.record.abort
    run.notifier.abort(AbortNotice(
        run_id=run.journal.run_id, reason=abort.reason if abort else "aborted",
        phase=abort.phase if abort else None, at=abort.at if abort else None,
        rolled_back=rolled_back))
    _record_notifications(run)


def publish(run: GameDayRun, conclusion: Conclusion, *, report: bool = True,
            trends: bool = False) -> Outcome:
    """After :func:`gameday.conclusion.conclude`: render the report (and, with ``trends``, the
    trends page across runs), post the verdict, write the journal."""
    html, error = None, None
    if report:
        from gameday.report import render_report, render_trends

        try:
            html = render_report(run.run_dir, progress=run.progress)
        except ReportError as exc:  # deterministic: never retried
            error = str(exc)
            run.journal.update(report_error=error)
        if trends and html is not None:
            try:
                render_trends(run.run_dir.parent, progress=run.progress)
            except ReportError as exc:  # the run's own report stands; say why trends did not
                run.progress(f"gameday: trends not rendered: {exc}")
    outcome = outcome_of(run, conclusion, report=str(html) if html else None,
                         report_error=error)
    run.notifier.verdict(outcome)
    _record_notifications(run)
    return outcome


def outcome_of(run: GameDayRun, conclusion: Conclusion, *, report: str | None = None,
               report_error: str | None = None) -> Outcome:
    """What the run says to its caller once concluded."""
    return Outcome(
        run_id=run.journal.run_id, name=run.runbook.name, status=conclusion.status,
        passed=conclusion.passed, score=conclusion.score,
        failing_checks=conclusion.failing_checks, outcome=conclusion.outcome,
        inconclusive=conclusion.inconclusive,
        judgements=[JudgementLine(verdict=j.verdict, text=sentence(ev, j))
                    for ev in run.journal.record.evidence for j in ev.checks],
        duration_s=run.journal.record.duration,
        run_dir=str(run.run_dir), journal=str(run.run_dir / JOURNAL_FILE), report=report,
        report_url=file_url(run.settings, report),
        journal_url=file_url(run.settings, run.run_dir / JOURNAL_FILE), report_error=report_error)


def _record_notifications(run: GameDayRun) -> None:
    run.sync_notifications()
    run.journal.write(run.run_dir, raw=False)
