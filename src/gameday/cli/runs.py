"""``gameday runs``: past runs from the reports folder, newest first (``--json`` too)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "runs", help="list past runs (time, runbook, target, verdict, score, duration)",
        description="List the runs in the reports folder, newest first: when each started "
        "(UTC), its runbook and target, its verdict (pass, fail, aborted, interrupted, "
        "running, died, unreadable), score and duration. Interrupted, dead and half-written "
        "runs are listed with what is wrong.")
    parser.add_argument("--json", action="store_true",
                        help="print a JSON array (one object per run) instead of a table")
    parser.add_argument("-n", "--limit", type=int, default=None, metavar="N",
                        help="only the N newest runs")
    parser.add_argument("--reports-dir", type=Path, default=None, metavar="DIR",
                        help="the reports folder (default: reports/, or GAMEDAY_REPORTS_DIR)")
    parser.set_defaults(func=_runs, _parser=parser)


def _runs(args: argparse.Namespace) -> int:
    from gameday.config import get_settings
    from gameday.runs import format_table, list_runs

    if args.limit is not None and args.limit < 1:
        args._parser.error("--limit must be at least 1")
    reports_dir = args.reports_dir or get_settings().reports_dir
    rows = list_runs(reports_dir)[: args.limit]
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in rows], indent=2,
                         ensure_ascii=False))
    elif rows:
        print(format_table(rows))
    else:
        print(f"no runs in {reports_dir} yet (make gameday runs one)")
    return 0
