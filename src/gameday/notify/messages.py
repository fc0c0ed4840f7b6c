"""Block Kit messages for the four moments of a GameDay: pure functions of run records.

Each builder takes the typed record of :mod:`gameday.run_record` for its moment:
``start_message(StartNotice)``, ``phase_message(PhaseRecord)``,
``abort_message(AbortNotice)`` and ``verdict_message(Outcome)``. Figures read as in the
report (:mod:`gameday.units`: ``99.87 %``, ``41.7 ms``, ``96.4 s``; a missing one "—").
Every value that is not the project's own text goes through
:func:`~gameday.notify.blocks.esc` (mrkdwn: ``& < >``) — in the blocks and in the
fallback ``text`` alike, so no run can ``<!channel>`` a channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gameday.evidence.models import counted_check
from gameday.notify.blocks import (
    FALLBACK_TEXT_MAX,
    Block,
    bullet_list,
    clamp_blocks,
    context,
    esc,
    fields,
    header,
    section,
    truncate,
)
from gameday.run_record import (
    AbortNotice,
    Check,
    FaultRecord,
    Outcome,
    PhaseRecord,
    StartNotice,
)
from gameday.units import MISSING, NOT_APPLICABLE, check_sentence, fmt_seconds, fmt_value

__all__ = ["Message", "start_message", "phase_message", "abort_message", "verdict_message"]

NONE = MISSING
#: Longest free text (a description, a reason) shown before it is cut.
_PROSE_MAX = 600
#: Longest single line of a list (a phase, a check) before it is cut.
_LINE_MAX = 160


@dataclass(frozen=True)
class Message:
    """A Slack message: the fallback ``text`` (notifications, screen readers) and blocks."""

    text: str
    blocks: list[Block] = field(default_factory=list)


def start_message(run: StartNotice) -> Message:
    name = esc(run.name)
    blocks: list[Block] = [header(f"🧪 GameDay started: {run.name}")]
    if run.description:
        blocks.append(section(esc(truncate(run.description, _PROSE_MAX))))
    blocks += fields(
        [
            ("Target", esc(run.target)),
            ("Phases", str(len(run.phases))),
            ("Seed", esc(_or_none(run.seed))),
            ("Started by", esc(run.started_by or NONE)),
        ]
    )
    if run.phases:
        lines = [
            truncate(f"{i}. *{esc(p.name)}*: {esc(p.fault or 'no fault')}", _LINE_MAX)
            for i, p in enumerate(run.phases, 1)
        ]
        blocks.append(section(bullet_list("*Plan*", lines)))
    blocks.append(context(f"Run `{esc(run.run_id)}` · phase results follow"))
    text = f"GameDay started: {name} (run {esc(run.run_id)}) on {esc(run.target)}"
    return _message(f"{text}, {len(run.phases)} phases", blocks)


def phase_message(phase: PhaseRecord) -> Message:
    name = esc(truncate(phase.name, _LINE_MAX))
    # a trial's TTD/TTR (a sweep dose's, its latency too) are judged at the end, over all
    counted = [c for c in phase.checks if counted_check(phase, c.name, True)]
    set_aside = len(counted) < len(phase.checks)
    passed = all(c.passed for c in counted) if set_aside else phase.passed
    icon, word = _outcome(passed)
    m = phase.metrics
    blocks: list[Block] = [section(f"{icon} *Phase {name}: {word}*")]
    blocks += fields(
        [
            ("Fault", esc(truncate(_fault_text(phase.fault), _LINE_MAX))),
            ("Availability", _percent(m.availability)),
            ("Time to detect", _seconds(m.ttd_s)),
            ("Time to recover", _seconds(m.ttr_s)),
            ("p95 latency", _millis(m.latency_p95_ms)),
            ("Wrong answers", esc(NOT_APPLICABLE if m.wrong_answers is None
                                  else _or_none(m.wrong_answers))),
        ]
    )
    failing = [_check_line(phase.name, c) for c in counted if not c.passed]
    if failing:
        blocks.append(section(bullet_list("*Failing checks*", failing)))
    if set_aside:
        over = "all trials" if phase.trial is not None else "every dose of the sweep"
        blocks.append(context(f"Its time to detect and recover are judged over {over} "
                              "at the end (data points here, not verdicts)."))
    text = f"Phase {name}: {word}"
    if failing:
        text += f" ({len(failing)} failing checks)"
    return _message(text, blocks)


def abort_message(info: AbortNotice) -> Message:
    reason = esc(truncate(info.reason or "no reason given", _PROSE_MAX))
    phase = esc(truncate(info.phase or NONE, _LINE_MAX))
    blocks: list[Block] = [header("🚨 GameDay ABORTED"), section(f"*Reason:* {reason}")]
    blocks += fields([("Phase", phase), ("At", esc(_or_none(info.at and info.at.isoformat())))])
    rolled = [
        truncate(f"• {esc(key)}: {esc(_join(value))}", _LINE_MAX)
        for key, value in info.rolled_back.items()
        if value not in (None, "", [], {})
    ]
    if rolled:
        blocks.append(section(bullet_list("*Rolled back*", rolled)))
    else:
        blocks.append(section("*Rolled back:* nothing was faulted"))
    return _message(f"GameDay ABORTED in phase {phase}: {reason}", blocks)


def verdict_message(outcome: Outcome) -> Message:
    icon, word = _outcome(outcome.outcome or outcome.passed)
    name = outcome.name
    blocks: list[Block] = [header(f"{icon} GameDay {word}: {name}")]
    blocks += fields(
        [
            ("Verdict", word.upper()),
            ("Score", _score(outcome.score)),
            ("Duration", _seconds(outcome.duration_s)),
            ("Status", esc(outcome.status)),
        ]
    )
    failing = [truncate(f"• {esc(f)}", _LINE_MAX) for f in outcome.failing_checks]
    if failing:
        blocks.append(section(bullet_list("*Failing checks*", failing)))
    unsettled = [truncate(f"• {esc(u)}", _LINE_MAX) for u in outcome.inconclusive]
    if unsettled:
        blocks.append(section(bullet_list("*Not settled by these trials*", unsettled)))
    judged = [truncate(f"{_outcome(j.verdict)[0]} {esc(j.text)}", _LINE_MAX)
              for j in outcome.judgements]
    if judged:
        blocks.append(section(bullet_list("*Judged over the trials*", judged)))
    blocks.append(section(f"*Report:* {_report_link(outcome)}"))
    if outcome.journal_url:
        blocks.append(section(f"*Journal:* <{esc(outcome.journal_url)}|journal.json>"))
    else:
        blocks.append(section(f"*Journal:* `{esc(truncate(outcome.journal, 1000))}`"))
    blocks.append(context(f"Run `{esc(outcome.run_id)}`"))
    where = esc(outcome.report_url or outcome.report or "no report")
    text = (f"GameDay {word}: {esc(name)}, score {_score(outcome.score)}, report: {where}")
    return _message(text, blocks)


# -- helpers -------------------------------------------------------------------------


def _message(text: str, blocks: list[Block]) -> Message:
    return Message(text=truncate(text, FALLBACK_TEXT_MAX), blocks=clamp_blocks(blocks))


def _or_none(value: Any) -> str:
    return NONE if value is None or value == "" else str(value)


def _fault_text(fault: FaultRecord | None) -> str:
    return "no fault" if fault is None else fault.describe()


def _outcome(passed: Any) -> tuple[str, str]:
    """``passed`` True/False, or a run with trials' three-valued outcome."""
    if passed is True or passed == "pass":
        return "✅", "passed"
    if passed is False or passed == "fail":
        return "❌", "failed"
    if passed == "inconclusive":
        return "🟡", "inconclusive"
    return "❔", "no verdict"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _seconds(value: Any) -> str:
    n = _number(value)
    return NONE if n is None else fmt_seconds(n)


def _millis(value: Any) -> str:
    n = _number(value)
    return NONE if n is None else fmt_value("latency_p95_ms", n)


def _percent(value: Any) -> str:
    n = _number(value)
    return NONE if n is None else fmt_value("availability", n)


def _score(value: float | None) -> str:
    """The resilience score, which lies in [0, 100] (``metrics.resilience_score``)."""
    n = _number(value)
    return NONE if n is None else f"{n:.0f}/100"


def _check_line(phase: str, check: Check) -> str:
    """``• latency: p95 latency 327 ms, target ≤ 272 ms``: the report's sentence."""
    return truncate(f"• {esc(check_sentence(phase, check))}", _LINE_MAX)


def _join(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)


def _report_link(outcome: Outcome) -> str:
    """A link people can open (GAMEDAY_REPORT_URL), else the path on the machine."""
    if outcome.report_url:
        return f"<{esc(outcome.report_url)}|open the report>"
    if outcome.report:
        return f"`{esc(truncate(outcome.report, 1000))}`"
    if outcome.report_error:
        return f"not written: {esc(truncate(outcome.report_error, _PROSE_MAX))}"
    return "not written"
