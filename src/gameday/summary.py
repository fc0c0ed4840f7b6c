"""Human summaries of a run: the Prefect markdown/table artifacts and the CLI's last lines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["phase_rows", "markdown_summary"]


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "—"
    return format(value, spec) if spec else str(value)


def phase_rows(phases: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One flat row per phase: the table artifact and the CLI table."""
    rows = []
    for p in phases:
        m = p.get("metrics") or {}
        fault = p.get("fault") or {}
        rows.append({
            "phase": p.get("name"),
            "fault": f"{fault.get('type')}@{fault.get('replica')}" if fault else "",
            "passed": bool(p.get("passed")),
            "requests": m.get("requests"),
            "availability": m.get("availability"),
            "p50_ms": m.get("latency_p50_ms"),
            "p95_ms": m.get("latency_p95_ms"),
            "p99_ms": m.get("latency_p99_ms"),
            "quorum_rate": m.get("quorum_rate"),
            "wrong_answers": m.get("wrong_answers"),
            "ttd_s": m.get("ttd_s"),
            "ttr_s": m.get("ttr_s"),
        })
    return rows


def markdown_summary(journal: Mapping[str, Any], verdict: Mapping[str, Any]) -> str:
    """The run's summary as Markdown: verdict, per-phase table, failing checks, files."""
    runbook = journal.get("runbook") or {}
    lines = [
        f"# GameDay {journal.get('run_id')}: {'PASSED' if verdict.get('passed') else 'FAILED'}",
        "",
        f"Runbook **{runbook.get('name')}** on target **{journal.get('target')}**, "
        f"seed {journal.get('seed')}, status `{journal.get('status')}`, "
        f"score **{_fmt(verdict.get('score'), '.0f')}/100**.",
        "",
        "| phase | fault | pass | availability | p95 ms | p99 ms | quorum | wrong "
        "| TTD s | TTR s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in phase_rows(journal.get("phases") or []):
        lines.append(
            f"| {r['phase']} | {r['fault'] or '—'} | {'✅' if r['passed'] else '❌'} "
            f"| {_fmt(r['availability'], '.4f')} | {_fmt(r['p95_ms'], '.1f')} "
            f"| {_fmt(r['p99_ms'], '.1f')} | {_fmt(r['quorum_rate'], '.4f')} "
            f"| {_fmt(r['wrong_answers'])} | {_fmt(r['ttd_s'], '.2f')} "
            f"| {_fmt(r['ttr_s'], '.2f')} |")
    failing = verdict.get("failing_checks") or []
    if failing:
        lines += ["", "**Failing checks**", ""] + [f"- {f}" for f in failing]
    consistency = journal.get("consistency") or {}
    if consistency:
        lines += ["", f"Consistency after recovery: {'ok' if consistency.get('ok') else 'FAILED'}"]
    lines += ["", f"Journal: `{verdict.get('journal')}`"]
    if verdict.get("report"):
        lines.append(f"Report: `{verdict.get('report')}`")
    return "\n".join(lines)
