"""Human summaries of a run: the Prefect markdown/table artifacts and the CLI's last lines.

Every free-text value (a failing check's sentence, a path, the runbook's name) goes
through :func:`gameday.escape.md`: the Prefect UI renders this Markdown, and a check can
quote what the system under test answered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gameday.escape import md
from gameday.evidence.models import FaultEvidence, counted_check
from gameday.evidence.readable import evidence_rows, fmt_interval
from gameday.headline import failing_sentences
from gameday.run_record import JournalRecord, Outcome, PhaseRecord
from gameday.units import NOT_APPLICABLE, fmt_value, not_applicable

__all__ = ["phase_rows", "markdown_summary"]


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "—"
    return format(value, spec) if spec else str(value)


def phase_rows(phases: Sequence[PhaseRecord]) -> list[dict[str, Any]]:
    """One flat row per phase: the table artifact and the CLI table."""
    rows = []
    for p in phases:
        m = p.metrics
        rows.append({
            "phase": p.name,
            "fault": f"{p.fault.type}@{p.fault.component}" if p.fault else "",
            "passed": p.passed,
            "requests": m.requests,
            "availability": m.availability,
            "p50_ms": m.latency_p50_ms,
            "p95_ms": m.latency_p95_ms,
            "p99_ms": m.latency_p99_ms,
            "quorum_rate": m.quorum_rate,
            "wrong_answers": m.wrong_answers,
            "ttd_s": m.ttd_s,
            "ttr_s": m.ttr_s,
        })
    return rows


_MARK = {"pass": "✅", "fail": "❌", "inconclusive": "🟡"}


def _trials_row(ev: FaultEvidence, trials: Sequence[PhaseRecord]) -> str:
    """One row for every trial of a fault type: the worst trial's figures, and TTD/TTR as
    judged over the trials (p95 with its interval and verdict), not any one trial's."""
    def worst(metric: str, low_is_bad: bool) -> str:
        values = [getattr(p.metrics, metric) for p in trials]
        known = [v for v in values if v is not None]
        return fmt_value(metric, (min(known) if low_is_bad else max(known)) if known else None)

    def judged(name: str, unit: str) -> str:
        j = next((j for j in ev.checks if j.name == name), None)
        return "—" if j is None else f"{j.verdict} {fmt_interval(unit, j.interval)}"

    ok = all(c.passed for p in trials for c in p.checks if counted_check(p, c.name, True))
    name = f"{trials[0].repeats or ev.fault_type} ({ev.trials} trials)" if trials else \
        f"{ev.fault_type} ({ev.trials} trials)"
    cells = [worst("availability", True), worst("latency_p95_ms", False),
             worst("latency_p99_ms", False), worst("quorum_rate", True),
             fmt_value("wrong_answers", sum(p.metrics.wrong_answers or 0 for p in trials)),
             judged("ttd_p95_s", "ttd_s"), judged("ttr_p95_s", "ttr_s")]
    return (f"| {md(name)} | {md(ev.fault_type)} | {_MARK[ev.verdict] if ok else '❌'} | "
            + " | ".join(md(c) for c in cells) + " |")


def _word(outcome: Outcome) -> str:
    if outcome.outcome is not None:
        return {"pass": "PASSED", "fail": "FAILED", "inconclusive": "INCONCLUSIVE"}[
            outcome.outcome]
    return "PASSED" if outcome.passed else "FAILED"


def markdown_summary(journal: JournalRecord, outcome: Outcome) -> str:
    """The run's summary as Markdown: verdict, per-phase table (with trials, one row per
    repeated phase: its worst trial's figures, TTD/TTR as judged over the trials),
    failing checks, every judgement, files."""
    lines = [
        f"# GameDay {md(journal.run_id)}: {_word(outcome)}",
        "",
        f"Runbook **{md(outcome.name)}** on target **{md(journal.target)}**, "
        f"seed {md(journal.seed)}, status `{md(outcome.status)}`, "
        f"score **{_fmt(outcome.score, '.0f')}/100**.",
        "",
        "| phase | fault | pass | availability | p95 | p99 | quorum | wrong | TTD | TTR |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    na = {m for m in ("quorum_rate", "wrong_answers") if not_applicable(m, journal.phases)}
    judged = {n for ev in journal.evidence for n in ev.phases}
    for ev in journal.evidence:
        lines.append(_trials_row(ev, [p for p in journal.phases if p.name in judged
                                      and p.name in ev.phases]))
    for r, ph in zip(phase_rows(journal.phases), journal.phases, strict=True):
        if ph.name in judged:
            continue
        cells = [NOT_APPLICABLE if key in na else fmt_value(key, r[key]) for key in (
            "availability", "p95_ms", "p99_ms", "quorum_rate", "wrong_answers", "ttd_s",
            "ttr_s")]
        lines.append(
            f"| {md(r['phase'])} | {md(r['fault'] or '—')} | {'✅' if r['passed'] else '❌'} | "
            + " | ".join(md(c) for c in cells) + " |")
    # the failing checks in words, with units (the verdict's own lines for the rest)
    failing = failing_sentences(journal, outcome.failing_checks)
    if failing:
        lines += ["", "**Failing checks**", ""] + [f"- {md(f)}" for f in failing]
    if outcome.inconclusive:
        lines += ["", "**Not settled by these trials**", ""] + [
            f"- {md(u)}" for u in outcome.inconclusive]
    if journal.evidence:
        lines += ["", "| fault | check | verdict | estimate [95 % interval] | target |",
                  "|---|---|---|---|---|"]
        lines += [f"| {md(r['fault'])} | {md(r['check'])} | {md(r['verdict'])} | "
                  f"{md(r['estimate [95 % interval]'])} | {md(r['target'])} |"
                  for r in evidence_rows(journal.evidence)]
    if journal.consistency is not None:
        lines += ["", "Consistency after recovery: "
                      f"{'ok' if journal.consistency.ok else 'FAILED'}"]
    if outcome.journal_url:
        lines += ["", f"Journal: [journal.json](<{outcome.journal_url}>)"]
    else:
        lines += ["", f"Journal: {md(outcome.journal)}"]
    if outcome.report_url:  # a link that works away from this machine
        lines.append(f"Report: [open the report](<{outcome.report_url}>)")
    elif outcome.report:
        lines.append(f"Report: {md(outcome.report)}")
    return "\n".join(lines)
