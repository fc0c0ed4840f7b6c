"""``gameday run``, ``gameday validate`` and ``gameday abort``."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
from pathlib import Path
from typing import Any

from gameday.errors import GameDayError, RunbookError

__all__ = ["register"]

DEFAULT_RUNBOOK = "runbooks/standard.yaml"


def register(subparsers: Any) -> None:
    run = subparsers.add_parser(
        "run", help="run a GameDay (a runbook) against a target",
        description="Run a GameDay: every phase of RUNBOOK as Prefect tasks against the "
                    "target, then the journal and the report in reports/<run_id>/.")
    run.add_argument("runbook", nargs="?", default=DEFAULT_RUNBOOK,
                     help=f"runbook YAML (default: {DEFAULT_RUNBOOK})")
    run.add_argument("--target", choices=("local", "compose"),
                     help="where the stack runs (default: the runbook's target)")
    run.add_argument("--seed", type=int, help="override the runbook's seed")
    run.add_argument("--base-port", type=int, help="local target's first port (default 5001)")
    run.add_argument("--dry-run", action="store_true",
                     help="validate and print the plan; touch nothing")
    run.add_argument("--start-stack", action="store_true",
                     help="start the target stack first and stop it at the end")
    run.add_argument("--no-report", action="store_true", help="skip the HTML report")
    run.set_defaults(func=_run)

    validate = subparsers.add_parser("validate", help="check runbooks; print what is wrong")
    validate.add_argument("runbooks", nargs="+", help="runbook YAML files")
    validate.set_defaults(func=_validate)

    abort = subparsers.add_parser(
        "abort", help="stop a running GameDay, clear every fault, restart what was killed")
    abort.add_argument("--target", choices=("local", "compose"), default=None)
    abort.add_argument("--base-port", type=int)
    abort.set_defaults(func=_abort)


def _run(args: argparse.Namespace) -> int:
    from gameday.runbook import load_runbook, plan

    path = Path(args.runbook)
    rb = load_runbook(path)  # bad input fails here, before anything is touched
    if args.dry_run:
        print(plan(rb))
        print(f"\ndry run: {path} is valid; nothing was started, injected or written.")
        return 0
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from flows.gameday import gameday_flow

    state: Any = gameday_flow(runbook=str(path), target=args.target, seed=args.seed,
                         base_port=args.base_port, start_stack=args.start_stack,
                         report=not args.no_report, started_by="gameday CLI",
                         return_state=True)
    try:
        verdict = state.result(raise_on_failure=False)
    except Exception as exc:  # noqa: BLE001 - the state carries the reason
        verdict = None
        print(f"gameday: error: {exc}")
    if isinstance(verdict, GameDayError):
        print(f"gameday: error: {verdict}")
    elif isinstance(verdict, BaseException):
        print(f"gameday: error: {type(verdict).__name__}: {verdict}")
    return 0 if state.is_completed() else 1


def _validate(args: argparse.Namespace) -> int:
    from gameday.runbook import load_runbook

    bad = 0
    for name in args.runbooks:
        try:
            rb = load_runbook(Path(name))
        except RunbookError as exc:
            bad += 1
            print(exc)
            continue
        print(f"{name}: ok ({rb.name}, {len(rb.phases)} phases, "
              f"{sum(p.duration_s for p in rb.phases):g}s of load)")
    return 1 if bad else 0


def _abort(args: argparse.Namespace) -> int:
    from gameday.config import get_settings
    from gameday.faults import FaultClient
    from gameday.safety import TargetLock
    from gameday.targets import get_target

    overrides: dict[str, Any] = {}
    if args.target:
        overrides["target"] = args.target
    if args.base_port:
        overrides["base_port"] = args.base_port
    settings = get_settings(**overrides)
    target = get_target(settings.target, settings)
    holder = TargetLock.holder(settings.state_dir, f"{target.name}:{settings.base_port}")
    if holder and holder.get("pid"):
        pid = int(holder["pid"])
        print(f"gameday: interrupting the GameDay running as pid {pid} "
              f"(run {holder.get('run') or '?'}); it rolls back and writes its journal")
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            os.kill(pid, signal.SIGINT)
    outcome = FaultClient.for_settings(target.urls, settings).clear_all()
    for replica, result in sorted(outcome.items()):
        print(f"replica {replica}: {result}")
    for rid in target.restart_stopped_replicas():
        print(f"replica {rid}: was not running, restarted")
    print("gameday: every fault cleared; every replica running")
    return 0
