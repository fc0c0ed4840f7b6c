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
    run.add_argument("--spread-over", metavar="DEPLOYMENT",
                     help="run each trial as a sub-flow run of this gameday deployment "
                          "(e.g. gameday/standard) on its work pool's workers, each on its "
                          "own stack, and gather them; needs PREFECT_API_URL")
    run.set_defaults(func=_run)

    validate = subparsers.add_parser("validate", help="check runbooks; print what is wrong")
    validate.add_argument("runbooks", nargs="+", help="runbook YAML files")
    validate.set_defaults(func=_validate)

    abort = subparsers.add_parser(
        "abort", help="stop a running GameDay, clear every fault, restart what was killed")
    abort.add_argument("--target", choices=("local", "compose"), default=None)
    abort.add_argument("--base-port", type=int)
    abort.add_argument("--runbook", metavar="RUNBOOK", default=None,
                       help="abort the GameDay of this runbook's system (default: "
                            f"{DEFAULT_RUNBOOK}'s; its base port: --base-port, else its "
                            "file's)")
    abort.set_defaults(func=_abort)


def _run(args: argparse.Namespace) -> int:
    from gameday.lifecycle import GameDay
    from gameday.runbook import plan

    # bad input fails here, before anything is touched
    gd = GameDay.prepare(args.runbook, target=args.target, base_port=args.base_port,
                         seed=args.seed, started_by="gameday CLI",
                         progress=lambda line: print(line, flush=True))
    if args.dry_run:
        print(plan(gd.runbook, gd.settings.fault_ttl_s))
        print(f"\ndry run: {args.runbook} is valid; nothing was started, injected or "
              "written.")
        return 0
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    if args.spread_over:  # the workers run the trials: no lock, no stack, their server
        return _spread(gd, args)
    from gameday.prefect_api import start_api_server

    with gd.locked():  # before Prefect starts: a refused run never reaches a hook
        server = start_api_server(gd.settings.state_dir)  # dies with us, even on kill -9
        try:  # it boots while Prefect is imported and the stack starts (it dies with us too)
            flow = _import_flow()
            with gd.stack(args.start_stack):
                if server is not None:
                    server.wait_ready()
                return _flow(flow, args)
        finally:
            if server is not None:
                server.stop()


def _import_flow() -> Any:
    try:
        from flows.gameday import gameday_flow
    except Exception as exc:  # Prefect could not even be imported: one line
        raise GameDayError(f"Prefect could not be loaded: {type(exc).__name__}: "
                           f"{str(exc).strip()[:300]}") from None
    return gameday_flow


def _spread(gd: Any, args: argparse.Namespace) -> int:
    from gameday.spread import repetitions

    repetitions(gd.runbook)  # one trial, or a search: say so before Prefect starts
    if not os.environ.get("PREFECT_API_URL"):
        raise GameDayError(
            "--spread-over needs PREFECT_API_URL: the Prefect server whose work pool runs "
            f"the deployment {args.spread_over!r} (docs/architecture.md, \"Trials spread "
            "over workers\")")
    return _flow(_import_flow(), args, spread_over=args.spread_over)


def _flow(gameday_flow: Any, args: argparse.Namespace, **extra: Any) -> int:
    try:
        state: Any = gameday_flow(runbook=args.runbook, target=args.target, seed=args.seed,
                                  base_port=args.base_port, start_stack=False,
                                  report=not args.no_report, started_by="gameday CLI",
                                  return_state=True, **extra)
    except GameDayError:
        raise
    except Exception as exc:  # Prefect itself failed (its API, its database): one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise GameDayError(f"Prefect could not run the flow: {type(exc).__name__}: "
                           f"{first[:300]}") from None
    try:
        result = state.result(raise_on_failure=False)
    except Exception as exc:  # noqa: BLE001 - the state carries the reason
        result = exc
    if isinstance(result, BaseException):
        print(f"gameday: error: {result if isinstance(result, GameDayError) else repr(result)}")
    return 0 if state.is_completed() else 1


def _validate(args: argparse.Namespace) -> int:
    from gameday.config import get_settings
    from gameday.runbook import load_runbook

    default_ttl = get_settings().fault_ttl_s  # what the runs would send (GAMEDAY_FAULT_TTL_S)
    bad = 0
    for name in args.runbooks:
        try:
            rb = load_runbook(Path(name), default_fault_ttl_s=default_ttl)
        except RunbookError as exc:
            bad += 1
            print(exc)
            continue
        print(f"{name}: ok ({rb.name}, {len(rb.phases)} phases, "
              f"{sum(p.duration_s for p in rb.phases):g}s of load)")
    return 1 if bad else 0


def _abort(args: argparse.Namespace) -> int:
    from gameday import deadman
    from gameday.children import reap
    from gameday.errors import TargetLocked
    from gameday.lifecycle import GameDay
    from gameday.recovery import recover_interrupted, roll_back
    from gameday.safety import TargetLock

    # the runbook's system: its target, its lock and its fault API
    gd = GameDay.prepare(args.runbook or DEFAULT_RUNBOOK, target=args.target,
                         base_port=args.base_port, started_by="gameday abort")
    settings, target, key = gd.settings, gd.target, gd.key
    reap(settings.state_dir)  # children of a harness that died (they should have died too)
    try:  # nobody runs a GameDay here: finish what a dead one left, under the lock
        lock = TargetLock(settings.state_dir, key).acquire()
    except TargetLocked:
        lock = None
        holder = TargetLock.holder(settings.state_dir, key) or {}
        if holder.get("pid"):
            pid = int(holder["pid"])
            print(f"gameday: interrupting the GameDay running as pid {pid} "
                  f"(run {holder.get('run') or '?'}); it rolls back and writes its journal")
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                os.kill(pid, signal.SIGINT)
    try:
        if lock is not None:
            recover_interrupted(target, key, settings.reports_dir, settings=settings,
                                found_by="gameday abort", previous=lock.previous)
        # Faults held by a dead-man's switch (container, process): undone here and now.
        for spec, result in deadman.fire_armed(settings.state_dir):
            print(f"{spec.rollback.description or spec.rollback.call}: {result}")
        outcome = roll_back(target, settings)
    finally:
        if lock is not None:
            lock.release()
    for where, result in sorted((outcome.get("cleared") or {}).items()):
        print(f"{where}: {result}")
    if outcome.get("error"):
        print(f"gameday: the system could not be reached: {outcome['error']}")
        return 1
    print(f"gameday: system {outcome.get('system')!r}: every fault held by a dead-man's "
          "switch undone; faults its own API holds end at their time-to-live")
    return 0
