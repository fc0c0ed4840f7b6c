"""``gameday report RUN_ID|PATH [--pdf]``, ``gameday report --index``, ``--trends``.

Renders a run's report (executed notebook + offline HTML) into its run folder and
refreshes ``reports/index.html``; ``--pdf`` also prints it to ``report.pdf`` beside
``report.html`` with headless Chromium (:mod:`gameday.pdf`). ``--index`` only rewrites
the index; ``--trends`` renders ``reports/trends.html`` across every run (``--window``,
``--fdr``: :mod:`gameday.evidence.trends`). A failing
notebook cell exits 1 with a message naming the cell (the executed notebook is kept for
reading); so does a PDF that cannot be printed (no Chromium, say), after the HTML.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "report",
        help="render a run's HTML report, the runs index or the trends page",
        description="Render a run's report (report.ipynb + report.html in its folder), "
        "the index of every run (reports/index.html) or the trends page (reports/trends.html).",
    )
    parser.add_argument("run", nargs="?", metavar="RUN_ID|PATH",
                        help="a run id under the reports folder, or a run folder path")
    parser.add_argument("--pdf", action="store_true",
                        help="also print the report to report.pdf beside report.html "
                             "(headless Chromium; GAMEDAY_CHROMIUM names another binary)")
    parser.add_argument("--index", action="store_true",
                        help="only rewrite the index of every run (reports/index.html)")
    parser.add_argument("--trends", action="store_true",
                        help="render trends across every run (reports/trends.html)")
    parser.add_argument("--window", type=_positive_int, default=None, metavar="RUNS",
                        help="with --trends: how many recent runs are tested against the "
                             "earlier ones (default 5)")
    parser.add_argument("--fdr", type=_rate, default=None, metavar="RATE",
                        help="with --trends: the false-discovery rate controlled across "
                             "every phase and metric (default 0.05)")
    # the median+25 %% rule is gone: say so instead of "unrecognized arguments"
    parser.add_argument("--margin", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--reports-dir", type=Path, default=None, metavar="DIR",
                        help="the reports folder (default: reports/, or GAMEDAY_REPORTS_DIR)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the result")
    parser.set_defaults(func=_report, _parser=parser)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a whole number of runs ≥ 1 (got {text!r})") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"a whole number of runs ≥ 1 (got {text!r})")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a rate between 0 and 1 (got {text!r})") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"a rate between 0 and 1, exclusive (got {text!r})")
    return value


def _resolve_run(run: str, reports_dir: Path) -> Path:
    from gameday.errors import ReportError

    candidates = [Path(run), reports_dir / run]
    for path in candidates:
        if (path / "journal.json").is_file():
            return path.resolve()
    matches = sorted(p.parent for p in reports_dir.glob(f"*{run}*/journal.json"))
    if len(matches) == 1:
        return matches[0].resolve()
    if len(matches) > 1:
        names = ", ".join(m.name for m in matches[:5])
        raise ReportError(f"'{run}' matches several runs in {reports_dir}: {names}")
    raise ReportError(
        f"'{run}' is neither a run folder nor a run id under {reports_dir} "
        "(a run folder holds journal.json)"
    )


def _report(args: argparse.Namespace) -> int:
    from gameday import report
    from gameday.config import get_settings
    from gameday.pdf import print_pdf, require_chromium

    settings = get_settings()
    reports_dir = args.reports_dir or settings.reports_dir
    progress = None if args.quiet else (lambda message: print(message, flush=True))
    if args.run is None and not (args.index or args.trends):
        args._parser.error("give a RUN_ID or PATH, or --index, or --trends")
    if args.margin is not None:
        args._parser.error("--margin is gone: trends now test the recent runs against the "
                           "earlier ones (--window RUNS, --fdr RATE; docs/statistics.md)")
    if args.pdf and args.run is None:
        args._parser.error("--pdf prints one run's report: give its RUN_ID or PATH")
    if args.pdf:  # no Chromium: say so before a minute of rendering, not after
        require_chromium(settings.chromium)
    if args.run is not None:
        run_dir = _resolve_run(args.run, reports_dir)
        # the index refreshed is the one beside the run folder (reports_dir for a run id)
        page = report.render_report(run_dir, progress=progress)
        print(page)
        if args.pdf:
            if progress:
                progress(f"printing {page.with_suffix('.pdf')} (headless Chromium)…")
            print(print_pdf(page, chromium=settings.chromium))
    if args.trends:
        print(report.render_trends(reports_dir, window=args.window, fdr=args.fdr,
                                   progress=progress))
    if args.index:
        print(report.render_index(reports_dir, progress=progress))
    return 0
