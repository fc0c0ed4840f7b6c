"""Block Kit messages for the four moments of a GameDay: pure functions of plain dicts.

The inputs are journal-shaped (``docs/architecture.md``); every key is optional and a
missing figure shows as "–". What each builder reads:

- ``start_message(run)``: ``run_id, runbook`` (a name, or the runbook dict with
  ``name, description, phases``), ``description, target, seed, started_by,
  started_at, phases: [{name, fault: {type, replica, ...} | null}]``.
- ``phase_message(phase)``: a journal phase ``{name, fault, passed, metrics: {ttd_s,
  ttr_s, availability, latency_p95_ms, requests, wrong_answers}, checks: [{name,
  target, value, passed}]}``; the metric keys may also sit at the top level, and
  ``failing_checks`` may replace ``checks``.
- ``abort_message(info)``: ``reason, phase, at`` and what was rolled back:
  ``rolled_back`` (a list of strings or dicts, or a dict such as ``{"restarted":
  ["2"], "cleared": [...]}``) or journal ``rollbacks`` entries.
- ``verdict_message(summary)``: ``passed, score`` (0–100), ``failing_checks,
  report_url`` or ``report_path`` or ``report`` (the HTML), ``journal, report_error,
  duration_s`` (or ``duration``), ``run_id, runbook`` (or ``name``), ``status``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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

__all__ = ["Message", "start_message", "phase_message", "abort_message", "verdict_message"]

NONE = "–"
#: Longest free text (a description, a reason) shown before it is cut.
_PROSE_MAX = 600
#: Longest single line of a list (a phase, a check) before it is cut.
_LINE_MAX = 160


@dataclass(frozen=True)
class Message:
    """A Slack message: the fallback ``text`` (notifications, screen readers) and blocks."""

    text: str
    blocks: list[Block] = field(default_factory=list)


def start_message(run: Mapping[str, Any]) -> Message:
    name = _runbook_name(run)
    runbook = _map(run.get("runbook"))
    description = run.get("description") or runbook.get("description") or ""
    phases = _list(run.get("phases") or runbook.get("phases"))
    run_id = run.get("run_id") or NONE
    blocks: list[Block] = [header(f"🧪 GameDay started: {name}")]
    if description:
        blocks.append(section(esc(truncate(str(description), _PROSE_MAX))))
    blocks += fields(
        [
            ("Target", esc(run.get("target") or NONE)),
            ("Phases", str(len(phases))),
            ("Seed", esc(_or_none(run.get("seed")))),
            ("Started by", esc(run.get("started_by") or NONE)),
        ]
    )
    if phases:
        lines = [
            truncate(f"{i}. *{esc(_name(p))}*: {esc(_fault_text(p))}", _LINE_MAX)
            for i, p in enumerate(phases, 1)
        ]
        blocks.append(section(bullet_list("*Plan*", lines)))
    blocks.append(context(f"Run `{esc(run_id)}` · phase results follow"))
    text = f"GameDay started: {name} (run {run_id}) on {run.get('target') or NONE}"
    return _message(f"{text}, {len(phases)} phases", blocks)


def phase_message(phase: Mapping[str, Any]) -> Message:
    name = _name(phase)
    passed = phase.get("passed")
    icon, word = _outcome(passed)
    metrics = {**_map(phase.get("metrics")), **{k: v for k, v in phase.items() if k != "metrics"}}
    blocks: list[Block] = [section(f"{icon} *Phase {esc(truncate(name, _LINE_MAX))}: {word}*")]
    blocks += fields(
        [
            ("Fault", esc(truncate(_fault_text(phase), _LINE_MAX))),
            ("Availability", _percent(metrics.get("availability"))),
            ("Time to detect", _seconds(metrics.get("ttd_s"))),
            ("Time to recover", _seconds(metrics.get("ttr_s"))),
            ("p95 latency", _millis(metrics.get("latency_p95_ms", metrics.get("p95_ms")))),
            ("Wrong answers", esc(_or_none(metrics.get("wrong_answers")))),
        ]
    )
    failing = _failing_checks(phase)
    if failing:
        blocks.append(section(bullet_list("*Failing checks*", failing)))
    text = f"Phase {name}: {word}"
    if failing:
        text += f" ({len(failing)} failing checks)"
    return _message(text, blocks)


def abort_message(info: Mapping[str, Any]) -> Message:
    reason = str(info.get("reason") or "no reason given")
    phase = info.get("phase") or NONE
    blocks: list[Block] = [
        header("🚨 GameDay ABORTED"),
        section(f"*Reason:* {esc(truncate(reason, _PROSE_MAX))}"),
    ]
    blocks += fields(
        [
            ("Phase", esc(truncate(str(phase), _LINE_MAX))),
            ("At", esc(_or_none(info.get("at")))),
        ]
    )
    rolled = _rolled_back(info)
    if rolled:
        blocks.append(section(bullet_list("*Rolled back*", rolled)))
    else:
        blocks.append(section("*Rolled back:* nothing was faulted"))
    return _message(f"GameDay ABORTED in phase {phase}: {reason}", blocks)


def verdict_message(summary: Mapping[str, Any]) -> Message:
    passed = summary.get("passed")
    icon, word = _outcome(passed)
    name = _runbook_name(summary)
    duration = summary.get("duration_s", summary.get("duration"))
    blocks: list[Block] = [header(f"{icon} GameDay {word}: {name}")]
    blocks += fields(
        [
            ("Verdict", word.upper()),
            ("Score", _score(summary.get("score"))),
            ("Duration", _seconds(duration)),
            ("Status", esc(summary.get("status") or NONE)),
        ]
    )
    failing = _failing_checks(summary)
    if failing:
        blocks.append(section(bullet_list("*Failing checks*", failing)))
    blocks.append(section(f"*Report:* {_report_link(summary)}"))
    if summary.get("journal"):
        blocks.append(section(f"*Journal:* `{esc(truncate(str(summary['journal']), 1000))}`"))
    if summary.get("run_id"):
        blocks.append(context(f"Run `{esc(summary['run_id'])}`"))
    plain_where = _report_location(summary) or "no report"
    text = f"GameDay {word}: {name}, score {_score(summary.get('score'))}, report: {plain_where}"
    return _message(text, blocks)


# -- helpers -------------------------------------------------------------------------


def _message(text: str, blocks: list[Block]) -> Message:
    return Message(text=truncate(text, FALLBACK_TEXT_MAX), blocks=clamp_blocks(blocks))


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _or_none(value: Any) -> str:
    return NONE if value is None or value == "" else str(value)


def _name(item: Any) -> str:
    if isinstance(item, Mapping):
        return str(item.get("name") or "unnamed")
    return str(item)


def _runbook_name(data: Mapping[str, Any]) -> str:
    runbook = data.get("runbook")
    if isinstance(runbook, Mapping):
        runbook = runbook.get("name")
    return str(runbook or data.get("runbook_name") or data.get("name") or "GameDay")


def _fault_text(phase: Any) -> str:
    if not isinstance(phase, Mapping):
        return "no fault"
    fault = phase.get("fault")
    if isinstance(fault, Mapping):
        kind = fault.get("type") or "fault"
        replica = fault.get("replica")
        return f"{kind} on replica {replica}" if replica is not None else str(kind)
    if isinstance(fault, str) and fault:
        return fault
    return str(phase.get("fault_type") or "no fault")


def _outcome(passed: Any) -> tuple[str, str]:
    if passed is True:
        return "✅", "passed"
    if passed is False:
        return "❌", "failed"
    return "❔", "no verdict"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _seconds(value: Any) -> str:
    n = _number(value)
    if n is None:
        return NONE
    return f"{n:.2f} s" if n < 60 else f"{int(n // 60)} min {n % 60:.0f} s"


def _millis(value: Any) -> str:
    n = _number(value)
    return NONE if n is None else f"{n:.0f} ms"


def _percent(value: Any) -> str:
    n = _number(value)
    return NONE if n is None else f"{n * 100:.2f} %"


def _score(value: Any) -> str:
    """The resilience score, which lies in [0, 100] (``metrics.resilience_score``)."""
    n = _number(value)
    return esc(_or_none(value)) if n is None else f"{n:.0f}/100"


def _check_line(check: Any) -> str:
    if not isinstance(check, Mapping):
        return truncate(f"• {esc(check)}", _LINE_MAX)
    text = f"• {esc(check.get('name') or 'check')}: {esc(_or_none(check.get('value')))}"
    if check.get("target") is not None:
        text += f" (target {esc(check['target'])})"
    if check.get("phase"):
        text += f" in {esc(check['phase'])}"
    return truncate(text, _LINE_MAX)


def _failing_checks(data: Mapping[str, Any]) -> list[str]:
    explicit = _list(data.get("failing_checks"))
    if explicit:
        return [_check_line(c) for c in explicit]
    checks = _list(data.get("checks"))
    return [_check_line(c) for c in checks if isinstance(c, Mapping) and c.get("passed") is False]


def _rolled_back(info: Mapping[str, Any]) -> list[str]:
    rolled = info.get("rolled_back")
    if isinstance(rolled, Mapping):  # {"restarted": ["2"], "cleared": [...], ...}
        return [
            truncate(f"• {esc(key)}: {esc(_join(value))}", _LINE_MAX)
            for key, value in rolled.items()
            if value not in (None, "", [], {})
        ]
    lines = []
    for item in _list(rolled) or _list(info.get("rollbacks")):
        if isinstance(item, Mapping):
            activity = _map(item.get("activity"))
            name = item.get("name") or activity.get("name") or "rollback"
            status = item.get("status")
            text = f"• {esc(name)}" + (f": {esc(status)}" if status else "")
        else:
            text = f"• {esc(item)}"
        lines.append(truncate(text, _LINE_MAX))
    return lines


def _join(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)


def _report_location(summary: Mapping[str, Any]) -> str | None:
    for key in ("report_url", "report_path", "report"):
        if summary.get(key):
            return str(summary[key])
    return None


def _report_link(summary: Mapping[str, Any]) -> str:
    url = summary.get("report_url")
    path = summary.get("report_path") or summary.get("report")
    if url and str(url).startswith(("http://", "https://")) and len(str(url)) < 1000:
        return f"<{esc(url)}|{esc(truncate(str(path or url), _LINE_MAX))}>"
    if path or url:
        return f"`{esc(truncate(str(path or url), 1000))}`"
    if summary.get("report_error"):
        return f"not written: {esc(truncate(str(summary['report_error']), _PROSE_MAX))}"
    return "not written"
