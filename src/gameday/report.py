"""Report rendering: run the analysis notebooks with papermill and export offline HTML.

``render_report(run_dir)`` executes ``notebooks/report.ipynb`` for one run folder into
``run_dir/report.ipynb`` and exports ``run_dir/report.html`` (code hidden, plotly.js
inlined, no network URL that a browser would fetch), then refreshes
``reports/index.html``. ``render_index(reports_dir)`` writes that index,
``render_trends(reports_dir)`` executes ``notebooks/trends.ipynb`` across every run.

Errors: a failing notebook cell raises :class:`gameday.errors.ReportError` naming the
cell (its index and the first line of its source) and the error. That failure is
*deterministic* (same data, same notebook, same error): callers such as the Prefect flow
must treat it as final and must not retry it. The run's ``journal.json`` and raw data are
only ever read here, never written.

Progress is logged on the ``gameday.report`` logger at INFO (silent unless the caller
configures logging) and passed to an optional ``progress`` callback.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from gameday.errors import ReportError
from gameday.paths import NOTEBOOKS_DIR, REPORTS_DIR

__all__ = [
    "render_report",
    "render_index",
    "render_trends",
    "execute_notebook",
    "export_html",
    "check_offline",
    "read_summary",
    "list_runs",
    "SUMMARY_MIMETYPE",
    "trend_table",
]

log = logging.getLogger("gameday.report")

#: Mimetype of the machine-readable summary a report notebook displays (HTML ignores it).
SUMMARY_MIMETYPE = "application/vnd.gameday.summary+json"

REPORT_NOTEBOOK = NOTEBOOKS_DIR / "report.ipynb"
TRENDS_NOTEBOOK = NOTEBOOKS_DIR / "trends.ipynb"

Progress = Callable[[str], None] | None

# nbconvert's lab template loads require.js, MathJax, mermaid and the widget manager from
# CDNs.
# The report needs none of them: plotly.js is inlined by gameday.plots' renderer. The
# print style lays the report out for paper (gameday.pdf).
_OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block extra_css -%}
<style>
/* Printed (gameday report --pdf, or a browser's print): A4 landscape, wide enough for the
   charts; a chart, a table row or the verdict is never cut across two pages. */
@page { size: A4 landscape; margin: 12mm; }
@media print {
  body { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .plotly-graph-div, .gd-verdict, table.gd-headline, tr { break-inside: avoid; }
  h1, h2, h3 { break-after: avoid; }
  .modebar-container { display: none; }
  details > summary { list-style: none; }
}
</style>
<script>
/* every collapsed list (the checks of a passing run) is printed open */
window.addEventListener("beforeprint", function () {
  document.querySelectorAll("details").forEach(function (d) { d.open = true; });
});
</script>
{%- endblock extra_css -%}
"""


def _step(message: str, progress: Progress) -> None:
    log.info(message)
    if progress is not None:
        progress(message)


def _kernel_name() -> str:
    """The kernel of the current environment ("python3" resolves to sys.executable)."""
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().get_all_specs()
    for name, spec in specs.items():
        argv = spec.get("spec", {}).get("argv", [])
        if argv and Path(argv[0]).resolve() == Path(sys.executable).resolve():
            return name
    return "python3"


@contextmanager
def _kernel_sees_this_package() -> Iterator[None]:
    """Put the directory holding this ``gameday`` package first on the kernel's PYTHONPATH.

    The kernel is a child process that inherits the environment; without this it would
    import an installed copy (or none, when the package runs from a source checkout).
    """
    root = str(Path(__file__).resolve().parents[1])
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([root, *([old] if old else [])])
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def execute_notebook(
    notebook: Path, output: Path, parameters: dict[str, Any], cwd: Path
) -> None:
    """Execute ``notebook`` into ``output`` with papermill; raise ReportError on failure.

    The output notebook is saved even when a cell fails, so the error can be read there.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    try:
        with _kernel_sees_this_package():
            pm.execute_notebook(
                str(notebook),
                str(output),
                parameters=parameters,
                kernel_name=_kernel_name(),
                cwd=str(cwd),
                progress_bar=False,
                log_output=False,
                # quiet kernel: no "running over TCP without encryption" on our stderr
                extra_arguments=["--IPKernelApp.log_level=ERROR"],
            )
    except PapermillExecutionError as exc:
        raise ReportError(_describe_failure(notebook, output, exc)) from exc
    except Exception as exc:  # kernel died, notebook missing or unreadable
        raise ReportError(f"{notebook.name}: could not be executed: {exc}") from exc


#: Cells papermill adds to the executed notebook; skipped so indexes match the source.
_PAPERMILL_TAGS = {"injected-parameters", "papermill-error-cell-tag"}


def _describe_failure(notebook: Path, output: Path, exc: Any) -> str:
    """'report.ipynb: cell 7 (`fig = plots.x(...)`) failed: KeyError: 'p95''.

    The index is the cell's position in the *source* notebook (0-based, markdown cells
    counted), i.e. what a person editing notebooks/report.ipynb sees.
    """
    index: Any = "?"
    first_line = ""
    try:
        import nbformat

        nb = nbformat.read(str(output), as_version=4)
        cells = [
            c for c in nb.cells if not _PAPERMILL_TAGS & set(c.get("metadata", {}).get("tags", []))
        ]
        for i, cell in enumerate(cells):
            if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
                index = i
                lines = [ln for ln in cell.source.splitlines() if ln.strip()]
                first_line = lines[0].strip() if lines else ""
                break
    except Exception:  # the message must not hide the original failure
        pass
    evalue = str(exc.evalue).strip().splitlines()[0] if exc.evalue else ""
    return (
        f"{notebook.name}: cell {index} (`{first_line}`) failed: {exc.ename}: {evalue}"
        f" (executed notebook saved at {output})"
    )


def check_offline(page: str) -> list[str]:
    """Return the network references a browser could fetch from ``page`` (empty = offline).

    The inlined plotly.js bundle is excluded verbatim: it contains URL strings for map
    tiles and fonts (maplibre, geo plots) that are only fetched by map traces, which the
    reports never draw. Everything else must carry no ``https://cdn`` and no
    ``src``/``href``/``url()`` pointing at http(s).
    """
    from plotly.offline import get_plotlyjs

    stripped = page.replace(get_plotlyjs(), "")
    problems: list[str] = []
    for pattern in (
        r"https?://cdn[^\s\"'<>]*",
        r"<script[^>]+src=[\"']?(?:https?:)?//[^\"'\s>]+",
        r"<link[^>]+href=[\"']?(?:https?:)?//[^\"'\s>]+",
        r"<img[^>]+src=[\"']?(?:https?:)?//[^\"'\s>]+",
        r"url\(\s*[\"']?(?:https?:)?//[^)]+\)",
        r"@import\s+[\"'](?:https?:)?//[^\"']+",
    ):
        problems.extend(m.group(0)[:160] for m in re.finditer(pattern, stripped))
    return problems


def export_html(notebook: Path, output: Path) -> Path:
    """Export an executed notebook to self-contained HTML with code hidden."""
    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook), as_version=4)
    for cell in nb.cells:  # the machine-readable summary has no HTML form: leave it out
        if cell.get("outputs"):
            cell.outputs = [o for o in cell.outputs if SUMMARY_MIMETYPE not in o.get("data", {})]
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"gameday_offline.html.j2": _OFFLINE_TEMPLATE})],
        template_file="gameday_offline.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(nb)
    problems = check_offline(body)
    if problems:
        raise ReportError(
            f"{output.name}: the exported HTML would load from the network: {problems[:3]}"
        )
    _write_atomic(output, body)
    return output


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a reader never sees half a page (two
    runs may refresh the index at once)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def read_summary(executed: Path) -> dict[str, Any]:
    """The summary dict a report/trends notebook displayed under SUMMARY_MIMETYPE."""
    import nbformat

    nb = nbformat.read(str(executed), as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if SUMMARY_MIMETYPE in data:
                value = data[SUMMARY_MIMETYPE]
                return json.loads(value) if isinstance(value, str) else dict(value)
    raise ReportError(f"{executed}: no summary output ({SUMMARY_MIMETYPE}) found")


def render_report(
    run_dir: str | Path,
    *,
    reports_dir: str | Path | None = None,
    notebook: str | Path | None = None,
    refresh_index: bool = True,
    progress: Progress = None,
) -> Path:
    """Render ``run_dir/report.ipynb`` and ``run_dir/report.html``; return the HTML path.

    Raises ReportError (final: do not retry) when the run folder has no journal, a cell
    fails, or the HTML would not work offline. ``reports_dir`` (default: the parent of
    ``run_dir``) receives a refreshed ``index.html`` unless ``refresh_index`` is false.
    """
    run_dir = Path(run_dir).resolve()
    if not (run_dir / "journal.json").is_file():
        raise ReportError(f"{run_dir}: no journal.json; is this a GameDay run folder?")
    from gameday.journal import read_journal

    read_journal(run_dir / "journal.json")  # a journal that does not validate: say so here
    source = Path(notebook) if notebook else REPORT_NOTEBOOK
    executed = run_dir / "report.ipynb"
    _step(f"executing notebook {source.name} for {run_dir.name}…", progress)
    execute_notebook(source, executed, {"run_dir": str(run_dir)}, cwd=run_dir)
    _step(f"exporting HTML {run_dir / 'report.html'}…", progress)
    page = export_html(executed, run_dir / "report.html")
    if refresh_index:
        render_index(Path(reports_dir) if reports_dir else run_dir.parent, progress=progress)
    _step(f"report ready: {page}", progress)
    return page


# ---------------------------------------------------------------------------- index


def list_runs(reports_dir: str | Path) -> list[dict[str, Any]]:
    """One row per run folder holding a journal.json, newest first.

    Row: run_id, dir, start, status, passed, outcome (three-valued with trials, else None),
    score, name, has_report. Unreadable
    journals are listed with status "unreadable" instead of hiding the folder.
    """
    from gameday.journal import JournalUnreadable, read_journal

    rows = []
    for journal_path in sorted(Path(reports_dir).glob("*/journal.json")):
        run = journal_path.parent
        row: dict[str, Any] = {"run_id": run.name, "dir": run.name, "start": "",
                               "status": "unreadable", "passed": None, "outcome": None,
                               "score": None,
                               "name": "", "has_report": (run / "report.html").is_file()}
        try:
            journal = read_journal(journal_path)
        except JournalUnreadable:
            rows.append(row)
            continue
        row.update(run_id=journal.run_id, start=journal.start.isoformat(),
                   status=journal.status, name=str(journal.runbook.get("name", "")),
                   passed=journal.verdict.passed if journal.verdict else None,
                   outcome=journal.verdict.outcome if journal.verdict else None,
                   score=journal.verdict.score if journal.verdict else None)
        rows.append(row)
    rows.sort(key=lambda r: (r["start"], r["dir"]), reverse=True)
    return rows


def _verdict_label(passed: bool | None, outcome: str | None = None) -> str:
    if outcome is not None:  # a run with trials: pass / fail / inconclusive
        return outcome.upper()
    return {True: "PASS", False: "FAIL"}.get(passed, "—")  # type: ignore[arg-type]


def render_index(reports_dir: str | Path | None = None, *, progress: Progress = None) -> Path:
    """Write ``reports_dir/index.html``: every run newest first, relative links, offline."""
    reports_dir = Path(reports_dir) if reports_dir else REPORTS_DIR
    reports_dir.mkdir(parents=True, exist_ok=True)
    _step(f"writing index {reports_dir / 'index.html'}…", progress)
    rows = []
    for r in list_runs(reports_dir):
        e = {k: html.escape(str(v)) for k, v in r.items()}
        link = (
            f'<a href="{html.escape(quote(r["dir"]))}/report.html">{e["run_id"]}</a>'
            if r["has_report"]
            else f"{e['run_id']} <small>(no report)</small>"
        )
        score = "—" if r["score"] is None else f"{float(r['score']):.0f}"
        verdict = _verdict_label(r["passed"], r["outcome"])
        rows.append(
            f'<tr class="{verdict.lower() if r["passed"] is not None else "none"}">'
            f"<td>{link}</td><td>{e['name']}</td><td>{e['start'][:19].replace('T', ' ')}</td>"
            f"<td>{e['status']}</td><td class='verdict'>{verdict}</td><td>{score}</td></tr>"
        )
    trends = (
        '<p><a href="trends.html">Trends across runs</a></p>'
        if (reports_dir / "trends.html").is_file()
        else ""
    )
    body = "\n".join(rows) or '<tr><td colspan="6">No runs yet.</td></tr>'
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>GameDay reports</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }}
th, td {{ padding: .35em .9em; border-bottom: 1px solid #ddd; text-align: left; }}
tr.pass .verdict {{ color: #1a7f37; font-weight: bold; }}
tr.fail .verdict {{ color: #cf222e; font-weight: bold; }}
tr.inconclusive .verdict {{ color: #9a6700; font-weight: bold; }}
</style></head><body>
<h1>GameDay reports</h1>
{trends}
<table><thead><tr><th>run</th><th>runbook</th><th>started (UTC)</th><th>status</th>
<th>verdict</th><th>score</th></tr></thead>
<tbody>
{body}
</tbody></table>
</body></html>
"""
    out = reports_dir / "index.html"
    _write_atomic(out, page)
    return out


# --------------------------------------------------------------------------- trends


def render_trends(
    reports_dir: str | Path | None = None,
    *,
    notebook: str | Path | None = None,
    window: int | None = None,
    fdr: float | None = None,
    progress: Progress = None,
) -> Path:
    """Execute the trends notebook into ``reports_dir/trends.ipynb`` and ``trends.html``.

    Per (runbook, phase, metric) the last ``window`` runs are tested against the earlier
    ones, false discoveries controlled at ``fdr`` across every cell
    (:func:`gameday.evidence.trends.trend_cells`; None: its defaults, 5 runs and 5 %).
    Raises ReportError (final) on a failing cell or when there is no run to compare.
    """
    from gameday.evidence.trends import DEFAULT_FDR, DEFAULT_WINDOW

    window = DEFAULT_WINDOW if window is None else window
    fdr = DEFAULT_FDR if fdr is None else fdr
    reports_dir = (Path(reports_dir) if reports_dir else REPORTS_DIR).resolve()
    if not list(reports_dir.glob("*/journal.json")):
        raise ReportError(f"{reports_dir}: no run folders with a journal.json to compare")
    source = Path(notebook) if notebook else TRENDS_NOTEBOOK
    executed = reports_dir / "trends.ipynb"
    _step(f"executing notebook {source.name} over {reports_dir}…", progress)
    execute_notebook(source, executed,
                     {"reports_dir": str(reports_dir), "window": window, "fdr": fdr},
                     cwd=reports_dir)
    _step(f"exporting HTML {reports_dir / 'trends.html'}…", progress)
    page = export_html(executed, reports_dir / "trends.html")
    render_index(reports_dir, progress=progress)
    return page


def trend_table(reports_dir: str | Path) -> Any:
    """Every run's TTD, TTR and availability per fault phase, and its score, over time.

    Columns: run_id, start (UTC datetime), runbook, phase ("(run)" for the score), fault,
    metric, value (NaN: not observed, e.g. a fault never detected), requests (the phase's
    request count: what availability is a share of). Oldest first. Unreadable journals
    and runs that never concluded (no score) are left out of what they lack.
    """
    import pandas as pd

    from gameday.journal import JournalUnreadable, read_journal

    rows = []
    for journal_path in Path(reports_dir).glob("*/journal.json"):
        try:
            journal = read_journal(journal_path)
        except JournalUnreadable:
            continue
        base = {
            "run_id": journal.run_id,
            "start": pd.Timestamp(journal.start),
            "runbook": str(journal.runbook.get("name", "")),
        }
        if journal.verdict is not None:  # a run that never concluded has no score
            rows.append({**base, "phase": "(run)", "fault": "", "metric": "score",
                         "value": journal.verdict.score, "requests": None})
        for ph in journal.phases:
            if ph.fault is None:
                continue
            for metric in ("ttd_s", "ttr_s", "availability"):
                rows.append({**base, "phase": ph.name, "fault": ph.fault.type,
                             "metric": metric, "value": getattr(ph.metrics, metric),
                             "requests": ph.metrics.requests})
    cols = ["run_id", "start", "runbook", "phase", "fault", "metric", "value", "requests"]
    if not rows:
        return pd.DataFrame(columns=cols)
    df = pd.DataFrame(rows)
    df["value"] = pd.to_numeric(df["value"], errors="coerce")
    df["requests"] = pd.to_numeric(df["requests"], errors="coerce")
    return df.sort_values(["start", "run_id"], kind="stable").reset_index(drop=True)[cols]
