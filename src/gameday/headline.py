"""The top of a report: did the GameDay pass, what failed, how bad — in one screen.

- :func:`verdict_of` decides the banner's kind: ``pass``, ``fail``, ``aborted`` or
  ``incomplete`` (a run that never concluded).
- :func:`failing_sentences` lists the failing checks in words, units included
  (:func:`gameday.units.check_sentence`), then whatever else the verdict counted
  (consistency, the cross-check, the run's status).
- :func:`verdict_banner` and :func:`headline_table` return HTML fragments with inline
  styles (the report is one offline page: no stylesheet to fetch). Every text that comes
  from a run is escaped with :func:`gameday.escape.html_text`.

The headline table has one row per fault phase and the four figures a team asks about
first — TTD, TTR, availability, wrong answers — each beside its target with ✔ or ✘.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from gameday.escape import html_text as h
from gameday.evidence.models import FaultEvidence, counted_check
from gameday.evidence.readable import fmt_dose, fmt_interval, sweep_sentence
from gameday.run_record import Check, JournalRecord, PhaseRecord
from gameday.units import (
    NOT_APPLICABLE,
    check_sentence,
    fmt_seconds,
    fmt_target,
    fmt_value,
    metric_name,
    not_applicable,
)

__all__ = ["Kind", "verdict_of", "failing_sentences", "verdict_banner", "headline_table",
           "HEADLINE_METRICS", "PASS_MARK", "FAIL_MARK"]

Kind = Literal["pass", "fail", "inconclusive", "aborted", "incomplete"]
PASS_MARK, FAIL_MARK = "✔", "✘"
#: The figures of the headline table, in column order.
HEADLINE_METRICS = ("ttd_s", "ttr_s", "availability", "wrong_answers")

#: kind -> (label, text colour, background, border)
_STYLE: dict[str, tuple[str, str, str, str]] = {
    "pass": ("PASSED", "#116329", "#dafbe1", "#1a7f37"),
    "fail": ("FAILED", "#a40e26", "#ffebe9", "#cf222e"),
    "inconclusive": ("INCONCLUSIVE", "#7d4e00", "#fff8c5", "#bf8700"),
    "aborted": ("ABORTED", "#7d4e00", "#fff8c5", "#bf8700"),
    "incomplete": ("INCOMPLETE", "#424a53", "#f6f8fa", "#6e7781"),
}
_GOOD, _BAD, _AMBER = "#1a7f37", "#cf222e", "#9a6700"
# inline: the notebook's own table style (right-aligned cells) outranks a class selector
_CELL = "text-align:left;vertical-align:top;padding:.35em .9em"


def verdict_of(journal: JournalRecord, extra_failures: Sequence[str] = ()) -> Kind:
    """``aborted`` when the run was aborted; ``incomplete`` when it has no verdict or did
    not finish (still marked running, or found interrupted);
    else ``pass`` only when the verdict passed and nothing else (``extra_failures``, e.g.
    the report's own cross-check) failed."""
    if journal.status == "aborted" or journal.abort is not None:
        return "aborted"
    if journal.verdict is None or journal.status in ("running", "interrupted"):
        return "incomplete"
    if extra_failures:
        return "fail"
    if journal.verdict.outcome is not None:  # a run with trials: three-valued
        return journal.verdict.outcome
    return "pass" if journal.verdict.passed else "fail"


def _failed_checks(phases: Sequence[PhaseRecord], judged: bool = False
                   ) -> list[tuple[PhaseRecord, Check]]:
    """Failed checks; ``judged``: leave out those the trials' evidence judges instead."""
    return [(p, c) for p in phases for c in p.checks
            if not c.passed and counted_check(p, c.name, judged)]


def failing_sentences(journal: JournalRecord, extra_failures: Sequence[str] = ()) -> list[str]:
    """Every failure the verdict (and ``extra_failures``) counted, as sentences: the
    phases' failed checks from their typed values, then the verdict's other entries."""
    failed = _failed_checks(journal.phases, judged=bool(journal.evidence))
    out = [check_sentence(p.name, c) for p, c in failed]
    # the verdict spells each failed check as "<phase>: <check> <value> (target …)"
    spelled = tuple(f"{p.name}: {c.name} " for p, c in failed)
    recorded = list(journal.verdict.failing_checks) if journal.verdict else []
    for text in [*recorded, *extra_failures]:
        if not text.startswith(spelled) and text not in out:
            out.append(text)
    return out


def _count_checks(phases: Sequence[PhaseRecord], judged: bool = False,
                  evidence: Sequence[FaultEvidence] = ()) -> tuple[int, int]:
    """(not passed, total) over the checks that count on their own, plus each judgement
    of the trials' evidence (an inconclusive one has not passed)."""
    checks = [c for p in phases for c in p.checks if counted_check(p, c.name, judged)]
    verdicts = [j.verdict for ev in evidence for j in ev.checks]
    return (sum(not c.passed for c in checks) + sum(v != "pass" for v in verdicts),
            len(checks) + len(verdicts))


def verdict_banner(journal: JournalRecord, extra_failures: Sequence[str] = ()) -> str:
    """The coloured verdict block: label, runbook, score, what failed, the run's facts."""
    kind = verdict_of(journal, extra_failures)
    label, fg, bg, border = _STYLE[kind]
    score = journal.verdict.score if journal.verdict else None
    failed, total = _count_checks(journal.phases, bool(journal.evidence), journal.evidence)
    facts = [
        f"runbook <b>{h(journal.runbook.get('name', '?'))}</b>",
        *([f"system <b>{h(journal.system.name)}</b>"] if journal.system else []),
        f"target {h(journal.target)}",
        f"seed {h(journal.seed)}",
        f"started {h(journal.start.strftime('%Y-%m-%d %H:%M:%S'))} UTC",
        f"lasted {h(fmt_seconds(journal.duration))}",
        f"status {h(journal.status)}",
    ]
    if kind == "aborted" and journal.abort is not None:
        where = f" in phase {h(journal.abort.phase)}" if journal.abort.phase else ""
        why = (f"<p style='margin:.5em 0 0'><b>Aborted{where}</b> at "
               f"{h(journal.abort.at.strftime('%H:%M:%S'))} UTC: {h(journal.abort.reason)}</p>")
    elif kind == "incomplete":
        why = ("<p style='margin:.5em 0 0'><b>This run never concluded</b>: no verdict was "
               "recorded; what it holds is listed below.</p>")
    else:
        why = ""
    failures = failing_sentences(journal, extra_failures)
    items = "".join(f"<li>{FAIL_MARK} {h(f)}</li>" for f in failures)
    listing = (f"<p style='margin:.6em 0 .2em'><b>What failed</b></p>"
               f"<ul class='gd-failing' style='margin:0;padding-left:1.3em'>{items}</ul>"
               if failures else
               "<p style='margin:.6em 0 0'>Every check met its target.</p>"
               if kind == "pass" else "")
    unsettled = journal.verdict.inconclusive if journal.verdict else []
    if unsettled:
        items = "".join(f"<li>? {h(u)}</li>" for u in unsettled)
        listing += ("<p style='margin:.6em 0 .2em'><b>Not settled by these trials</b></p>"
                    "<ul class='gd-inconclusive' style='margin:0;padding-left:1.3em'>"
                    f"{items}</ul>")
    score_text = "—" if score is None else f"{score:.0f}"
    checks_text = f"{total - failed} of {total} checks passed" if total else "no checks"
    return (
        f"<div class='gd-verdict gd-{kind}' role='status' style='border:2px solid {border};"
        f"border-left-width:10px;background:{bg};color:#1f2328;padding:.9em 1.2em;"
        "margin:.5em 0 1em;border-radius:6px;font-family:system-ui,sans-serif'>"
        "<div style='font-size:.8em;text-transform:uppercase;letter-spacing:.08em;"
        "color:#57606a'>GameDay verdict</div>"
        "<div style='display:flex;flex-wrap:wrap;align-items:baseline;gap:.4em 1.4em'>"
        f"<span class='gd-label' style='font-size:2em;font-weight:800;color:{fg};"
        f"letter-spacing:.04em'>{label}</span>"
        f"<span class='gd-score' style='font-size:1.5em;font-weight:700'>score "
        f"{score_text}<span style='font-size:.6em;font-weight:400'> / 100</span></span>"
        f"<span style='font-size:1.1em'>{checks_text}</span></div>"
        f"<div style='color:#424a53;margin-top:.3em'>{' · '.join(facts)}</div>"
        f"{why}{listing}</div>"
    )


def _check(phase: PhaseRecord, name: str) -> Check | None:
    return next((c for c in phase.checks if c.name == name), None)


def _cell(phase: PhaseRecord, metric: str) -> str:
    value = getattr(phase.metrics, metric)
    check = _check(phase, metric)
    missing = ("not observed" if metric in ("ttd_s", "ttr_s")
               else NOT_APPLICABLE if not_applicable(metric, [phase]) else "—")
    shown = missing if value is None else fmt_value(
        metric, value, target=check.target if check else None)
    if check is None:
        return f"<td style='{_CELL};color:#57606a'>{h(shown)}<br><small>no target</small></td>"
    mark, colour = (PASS_MARK, _GOOD) if check.passed else (FAIL_MARK, _BAD)
    state = "pass" if check.passed else "fail"
    return (f"<td class='gd-{state}' style='{_CELL};color:{colour}'>"
            f"<b>{mark} {h(shown)}</b><br><small style='color:#57606a'>target "
            f"{h(fmt_target(metric, check.target))}</small></td>")


_MARKS = {"pass": (PASS_MARK, _GOOD), "fail": (FAIL_MARK, _BAD), "inconclusive": ("?", _AMBER)}
#: A headline column → the trials' judgement that stands for it.
_JUDGED_COLUMN = {"ttd_s": "ttd_p95_s", "ttr_s": "ttr_p95_s"}


def _judged_cell(ev: FaultEvidence, metric: str) -> str:
    """A fault type's judgement of ``metric`` over its trials: mark, estimate [interval],
    target, and for an inconclusive one the trials that would settle it."""
    j = next((j for j in ev.checks if j.name == _JUDGED_COLUMN.get(metric, metric)), None)
    if j is None:
        return f"<td style='{_CELL};color:#57606a'>—<br><small>no target</small></td>"
    unit = "availability" if j.name == "detection_rate" else metric
    mark, colour = _MARKS[j.verdict]
    label = "" if j.name == metric else "p95 over the trials, "
    more = ""
    if j.verdict == "inconclusive":
        more = (f"<br><small>~{j.more_trials} more trials would settle it</small>"
                if j.more_trials is not None else "<br><small>no number of trials "
                "settles it</small>")
    return (f"<td class='gd-{j.verdict}' style='{_CELL};color:{colour}'>"
            f"<b>{mark} {h(fmt_interval(unit, j.interval))}</b><br>"
            f"<small style='color:#57606a'>{h(label)}target {h(fmt_target(unit, j.target))}"
            f"</small>{more}</td>")


def _worst_cell(trials: Sequence[PhaseRecord], metric: str) -> str:
    """The worst trial's ``metric``, ✔ when every trial met its target."""
    values = [getattr(p.metrics, metric) for p in trials]
    known = [v for v in values if v is not None]
    checks = [c for p in trials for c in p.checks if c.name == metric]
    worst = (min(known) if metric == "availability" else max(known)) if known else None
    shown = "—" if worst is None else fmt_value(metric, worst)
    if not checks:
        return f"<td style='{_CELL};color:#57606a'>{h(shown)}<br><small>no target</small></td>"
    ok = all(c.passed for c in checks)
    mark, colour = (PASS_MARK, _GOOD) if ok else (FAIL_MARK, _BAD)
    return (f"<td class='gd-{'pass' if ok else 'fail'}' style='{_CELL};color:{colour}'>"
            f"<b>{mark} {h(shown)}</b><br><small style='color:#57606a'>worst of "
            f"{len(trials)} trials, target {h(fmt_target(metric, checks[0].target))}"
            "</small></td>")


def _evidence_row(ev: FaultEvidence, trials: Sequence[PhaseRecord]) -> str:
    failed, total = _count_checks(trials, True, [ev])
    mark, colour = _MARKS[ev.verdict]
    cells = "".join(_judged_cell(ev, m) if m in _JUDGED_COLUMN else _worst_cell(trials, m)
                    for m in HEADLINE_METRICS)
    rate = next((j for j in ev.checks if j.name == "detection_rate"), None)
    said = ""
    if rate is not None:
        rmark, rcolour = _MARKS[rate.verdict]
        said = (f"<br><small class='gd-{rate.verdict}' style='color:{rcolour}'><b>{rmark} "
                f"detection rate {h(fmt_interval('availability', rate.interval))}</b>, "
                f"target {h(fmt_target('availability', rate.target))}</small>")
    return (f"<tr><td style='{_CELL}'><b>{h(ev.fault_type)}</b><br><small>{ev.trials} trials, "
            f"{ev.detected}/{ev.trials} detected</small>{said}</td>{cells}"
            f"<td style='{_CELL};color:{colour}'><b>{mark} {total - failed}/{total}</b></td>"
            "</tr>")


def headline_table(journal: JournalRecord) -> str:
    """Per fault phase: TTD, TTR, availability and wrong answers against their targets,
    and how many of the phase's checks passed. With trials, one row per fault type
    instead: TTD and TTR p95 judged over its trials (pass ✔ / fail ✘ / inconclusive ?,
    with the interval), the worst trial's availability and wrong answers. Empty string
    when no fault phase ran."""
    faults = [p for p in journal.phases if p.fault is not None]
    if not faults:
        return ""
    head = "".join(f"<th style='{_CELL}'>{h(metric_name(m))}</th>" for m in HEADLINE_METRICS)
    rows = []
    judged = {ev.fault_type: ev for ev in journal.evidence}
    for ftype, ev in judged.items():
        trials = [p for p in faults if p.trial is not None and p.fault is not None
                  and p.fault.type == ftype and p.name in ev.phases]
        rows.append(_evidence_row(ev, trials))
    for sw in journal.sweeps:
        runs = [p for p in faults if p.repeats == sw.phase and p.dose is not None]
        doses = ", ".join(fmt_dose(sw.param, pt.dose) for pt in sw.points)
        rows.append(f"<tr><td style='{_CELL}'><b>{h(sw.phase)}</b><br><small>swept: "
                    f"{len(runs)} runs at {h(doses)}</small></td><td colspan='"
                    f"{len(HEADLINE_METRICS) + 1}' style='{_CELL}'>breaking point: "
                    f"{h(sweep_sentence(sw))}</td></tr>")
    for p in faults:
        if p.name in {n for ev in judged.values() for n in ev.phases} or p.dose is not None:
            continue
        failed, total = _count_checks([p])
        mark, colour = (PASS_MARK, _GOOD) if p.passed else (FAIL_MARK, _BAD)
        fault = p.fault.describe() if p.fault else ""
        rows.append(
            f"<tr><td style='{_CELL}'><b>{h(p.name)}</b><br><small>{h(fault)}</small></td>"
            + "".join(_cell(p, m) for m in HEADLINE_METRICS)
            + f"<td style='{_CELL};color:{colour}'><b>{mark} {total - failed}/{total}</b>"
            "</td></tr>")
    return (
        "<table class='gd-headline' style='border-collapse:collapse;margin:.3em 0 1em;"
        "font-size:1.05em'>"
        f"<thead><tr><th style='{_CELL}'>fault phase</th>{head}"
        f"<th style='{_CELL}'>checks passed</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
