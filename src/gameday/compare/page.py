"""``reports/compare-<id>/index.html``: a comparison as people read it, offline, escaped.

One self-contained page (no script, no network): the verdict, the two builds, one row per
(phase, metric) with both sides, the change B − A with its 95 % interval, the adjusted
p-value, and every value of each side drawn as dots on a shared scale (inline SVG); then
every run in the order it ran. Every text that came from outside (refs, paths, run ids,
errors, phase names) goes through :func:`gameday.escape.html_text`.
"""

from __future__ import annotations

import math
from pathlib import Path

from gameday.compare.models import PAGE_FILE, CompareResult, CompareSide
from gameday.escape import html_text as esc
from gameday.evidence.comparison import RUN_PHASE, CompareCell
from gameday.evidence.readable import fmt_change, fmt_side
from gameday.units import MISSING, metric_name

__all__ = ["write_page", "render_page"]

_ORDER = {"regression": 0, "improvement": 1, "no evidence": 2, "too few runs": 3}
_COLOURS = {"a": "#0969da", "b": "#bc4c00"}
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #1f2328; }
table { border-collapse: collapse; margin: .5em 0 1.5em; }
th, td { padding: .35em .8em; border-bottom: 1px solid #d0d7de; text-align: left;
         vertical-align: middle; }
th { background: #f6f8fa; }
.banner { padding: .8em 1em; border-radius: 6px; font-size: 1.15em; font-weight: 600; }
.banner.regression { background: #ffebe9; color: #a40e26; border: 1px solid #ff818266; }
.banner.clean { background: #dafbe1; color: #116329; border: 1px solid #4ac26b66; }
td.verdict { font-weight: 600; }
tr.regression td.verdict { color: #cf222e; }
tr.improvement td.verdict { color: #1a7f37; }
tr.too-few-runs td.verdict, tr.no-evidence td.verdict { color: #59636e; }
.a { color: #0969da; } .b { color: #bc4c00; }
small, .note { color: #59636e; }
code { background: #f6f8fa; padding: 0 .25em; }
"""


def _strip(cell: CompareCell, width: int = 220, height: int = 26) -> str:
    """Every value of both sides as dots on one axis (A above, B below); a value never
    observed (a fault not detected) as a hollow dot at the right end."""
    finite = [v for v in (*cell.values_a, *cell.values_b) if v is not None and math.isfinite(v)]
    if not finite:
        return ""
    lo, hi = min(0.0, min(finite)), max(finite)
    span = (hi - lo) or 1.0
    pad = 6
    dots = []
    for side, values, y in (("a", cell.values_a, 8), ("b", cell.values_b, 19)):
        for v in values:
            if v is None:
                dots.append(f'<circle cx="{width - pad}" cy="{y}" r="3.5" fill="none" '
                            f'stroke="{_COLOURS[side]}"/>')
            else:
                x = pad + (v - lo) / span * (width - 3 * pad)
                dots.append(f'<circle cx="{x:.1f}" cy="{y}" r="3.5" fill="{_COLOURS[side]}" '
                            'fill-opacity="0.6"/>')
    title = esc(f"A: {_list(cell, cell.values_a)} · B: {_list(cell, cell.values_b)}")
    return (f'<svg width="{width}" height="{height}" role="img" aria-label="{title}">'
            f"<title>{title}</title>"
            f'<line x1="{pad}" x2="{width - pad}" y1="13.5" y2="13.5" stroke="#d0d7de"/>'
            + "".join(dots) + "</svg>")


def _list(cell: CompareCell, values: list[float | None]) -> str:
    from gameday.units import fmt_value

    return ", ".join("not observed" if v is None else fmt_value(cell.metric, v)
                     for v in values) or MISSING


def _cell_row(c: CompareCell) -> str:
    phase = "whole run" if c.phase == RUN_PHASE else c.phase
    p = MISSING if c.p_adjusted is None else f"{c.p_adjusted:.3g}"
    return (f'<tr class="{c.verdict.replace(" ", "-")}"><td>{esc(phase)}</td>'
            f"<td>{esc(c.fault) or MISSING}</td><td>{esc(metric_name(c.metric))}</td>"
            f'<td class="verdict">{esc(c.verdict)}</td>'
            f'<td class="a">{esc(fmt_side(c, c.a, c.n_a, "values"))}</td>'
            f'<td class="b">{esc(fmt_side(c, c.b, c.n_b, "values"))}</td>'
            f"<td>{esc(fmt_change(c))}</td><td>{p}</td><td>{_strip(c)}</td></tr>")


def _side_row(side: CompareSide, result: CompareResult) -> str:
    runs = [r for r in result.runs if r.side == side.name]
    statuses = ", ".join(sorted({r.status for r in runs})) or "not run"
    return (f'<tr><td class="{side.name}"><b>{side.name.upper()}</b></td>'
            f"<td><code>{esc(side.spec)}</code></td><td>{esc(side.label)}</td>"
            f"<td><code>{esc(side.path)}</code></td>"
            f"<td>{side.base_port if side.base_port is not None else 'each worker&#x27;s'}</td>"
            f"<td>{len(runs)} ({esc(statuses)})</td></tr>")


def _run_row(result: CompareResult, out: Path, i: int) -> str:
    r = result.runs[i]
    run = esc(r.run_id or MISSING)
    if r.run_dir and r.run_id:
        try:
            rel = Path(r.run_dir).resolve().relative_to(out.resolve())
            run = f'<a href="{esc(rel.as_posix())}/journal.json">{run}</a>'
        except ValueError:
            pass
    score = MISSING if r.score is None else f"{r.score:.0f}"
    took = MISSING if r.duration_s is None else f"{r.duration_s:.0f} s"
    return (f'<tr><td>{r.order}</td><td class="{r.side}">{r.side.upper()}</td>'
            f"<td>{r.seed}</td><td>{run}</td><td>{esc(r.status)}"
            f"{esc(f' on {r.target_key}') if r.target_key else ''}</td><td>{score}</td>"
            f"<td>{took}</td><td>{esc(r.error or '')}</td></tr>")


def _where(result: CompareResult) -> str:
    """Where the runs ran, when a work pool's workers ran them."""
    if not result.spread_over:
        return ""
    return (f" Each run was a sub-flow run of <code>{esc(result.spread_over)}</code> on its "
            "work pool's workers, each on its worker's stack started from its side's "
            "checkout.")


def _when(iso: str | None) -> str:
    """``2026-11-30 07:35:08 UTC`` from the ISO time the result keeps."""
    return MISSING if not iso else f"{iso[:19].replace('T', ' ')} UTC"


def render_page(result: CompareResult, out: Path) -> str:
    """The page's HTML."""
    bad = result.regressions
    if bad:
        names = "; ".join(f"{'whole run' if c.phase == RUN_PHASE else c.phase} "
                          f"{metric_name(c.metric)} {fmt_change(c)}" for c in bad)
        banner = (f'<div class="banner regression">REGRESSION: B is worse than A in '
                  f"{len(bad)} metric(s) — {esc(names)}</div>")
    else:
        better = len(result.improvements)
        banner = ('<div class="banner clean">NO REGRESSION with evidence'
                  + (f" ({better} improvement(s))" if better else "") + "</div>")
    cells = sorted(result.cells, key=lambda c: _ORDER[c.verdict])
    rows = "\n".join(_cell_row(c) for c in cells) or (
        '<tr><td colspan="9">No metric to compare.</td></tr>')
    loads = " → ".join(f"{x:.2f}" for x in result.load_average) or MISSING
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Compare {esc(result.runbook)}: A {esc(result.a.label)} vs B {esc(result.b.label)}</title>
<style>{_STYLE}</style></head><body>
<h1>Compare builds: {esc(result.runbook)}</h1>
{banner}
<p class="note">{result.trials} run(s) a side of <code>{esc(result.runbook_path)}</code>,
interleaved {esc(" ".join(s.upper() for s in result.order))}; pair k of runs used seed
{result.seed} + k on both sides.{_where(result)} Started {esc(_when(result.start))}, ended
{esc(_when(result.end))};
load average (1 min) {esc(loads)}.</p>
<h2>Builds</h2>
<table><thead><tr><th>side</th><th>given</th><th>build</th><th>checkout</th>
<th>base port</th><th>runs</th></tr></thead><tbody>
{_side_row(result.a, result)}
{_side_row(result.b, result)}
</tbody></table>
<h2>B against A, per phase and metric</h2>
<p class="note">Median of each side (availability: pooled over its requests), the change
B − A with its 95 % bootstrap (times) or quasi-binomial (availability) interval, and the
p-value adjusted across every row (Benjamini–Hochberg, false-discovery rate
{result.fdr:g}). A regression or an improvement needs an adjusted p ≤ {result.fdr:g};
a phase repeated by <code>trials</code> counts each trial. Dots: every value,
<span class="a">A above</span>, <span class="b">B below</span>; hollow at the right: a fault
never detected.</p>
<table><thead><tr><th>phase</th><th>fault</th><th>metric</th><th>verdict</th>
<th class="a">A</th><th class="b">B</th><th>change B − A [95 % interval]</th>
<th>adjusted p</th><th>values</th></tr></thead><tbody>
{rows}
</tbody></table>
<h2>Runs, in the order they ran</h2>
<table><thead><tr><th>#</th><th>side</th><th>seed</th><th>run</th><th>status</th>
<th>score</th><th>took</th><th>note</th></tr></thead><tbody>
{"".join(_run_row(result, out, i) for i in range(len(result.runs)))}
</tbody></table>
<p class="note">Machine-readable: <a href="compare.json">compare.json</a>. How the verdicts
are reached: docs/statistics.md, "Compare two builds".</p>
</body></html>
"""


def write_page(out: Path, result: CompareResult) -> Path:
    """Write ``out/index.html`` atomically; returns its path."""
    import os

    path = out / PAGE_FILE
    tmp = out / f".{PAGE_FILE}.tmp"
    tmp.write_text(render_page(result, out), encoding="utf-8")
    os.replace(tmp, path)
    return path
