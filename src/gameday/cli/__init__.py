"""The ``gameday`` command line.

Each command group lives in its own module of this package and exposes
``register(subparsers)``; heavy imports (Prefect, pandas) happen inside the command
functions so that ``gameday stack status`` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from gameday import __version__
from gameday.errors import GameDayError

__all__ = ["main", "build_parser"]

#: Modules of this package that add commands, in help order.
_COMMAND_MODULES = ("run", "compare", "runs", "stack", "system", "import_ctk", "report",
                    "serve")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gameday",
        description="Run chaos-engineering GameDays against a stack and report on them.",
    )
    parser.add_argument("--version", action="version", version=f"gameday {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"gameday.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"gameday.cli.{name}":
                continue  # that command group is not part of this build
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    # The Prefect server a command may start (ephemeral or ``gameday serve``) must not try
    # to send usage telemetry off this machine; an explicit setting still wins.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except GameDayError as exc:
        print(f"gameday: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("gameday: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
