"""``gameday stack up|down|status|logs``: this project's stack, ``systems/inventory.yaml``.

The same as ``gameday system up|down|status|logs systems/inventory.yaml``
(:mod:`gameday.cli.launch`): the file in the working directory, else the repository's.
On the local target (default) the stack runs as processes supervised in the background:
``up`` returns once every service answers its health check and the file's steady state
holds, and the stack keeps running until ``down``. ``--target compose`` runs the file's
``compose_file`` (docker-compose.yml) instead.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from gameday.cli.launch import ACTIONS, add_options, run_action
from gameday.paths import REPO_ROOT

__all__ = ["STACK_FILE", "register", "stack_file"]

#: The system file of this project's stack, relative to the working directory or the
#: repository.
STACK_FILE = Path("systems/inventory.yaml")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    stack = subparsers.add_parser(
        "stack", help=f"start, stop and inspect the project's stack ({STACK_FILE})",
        description=f"Start, stop and inspect the project's stack: `gameday system ACTION "
                    f"{STACK_FILE}`.")
    actions = stack.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, text in ACTIONS.items():
        sub = actions.add_parser(action, help=text)
        add_options(sub, action, timeout_s=90.0)
        sub.set_defaults(func=_run)


def stack_file() -> Path:
    """``systems/inventory.yaml`` of the working directory, else of the repository."""
    return STACK_FILE if STACK_FILE.is_file() else REPO_ROOT / STACK_FILE


def _run(args: argparse.Namespace) -> int:
    return run_action(args, stack_file(), command=lambda action: f"gameday stack {action}",
                      progress=_progress(time.monotonic()))


def _progress(t0: float) -> Callable[[str], None]:
    def report(message: str) -> None:
        print(f"[{time.monotonic() - t0:5.1f}s] {message}", flush=True)

    return report
