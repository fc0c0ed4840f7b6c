"""``gameday compare RUNBOOK --a REF_OR_DIR --b REF_OR_DIR [--trials N]``.

Runs the same seeded GameDay against two builds of the stack on the local target and
writes ``reports/compare-<id>/`` (``index.html``, ``compare.json``): per phase and metric
the difference B − A, its interval and a verdict. Exit status: 0 when B is not worse than
A with evidence, 1 when it is (or the comparison could not run: the message says which);
so it can gate CI. Progress goes to stderr, the result to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any

from gameday.errors import GameDayError

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "compare", help="run one GameDay against two builds and judge B against A",
        description="Run RUNBOOK against two builds of its system (local target, two base "
                    "ports, runs interleaved A B B A …; a runbook naming a system file runs "
                    "each side's own version of that file) and write reports/compare-<id>/ "
                    "with, per phase and metric, the difference B − A, its 95 % interval "
                    "and a verdict (regression / improvement / no evidence). Exits 1 when "
                    "B is worse than A with evidence.")
    parser.add_argument("runbook", help="runbook YAML (e.g. runbooks/compare.yaml)")
    parser.add_argument("--a", required=True, metavar="REF_OR_DIR",
                        help="the baseline: a git ref (of the repository holding the "
                             "runbook's system file, else this one; checked out into a "
                             "temporary worktree) or a directory holding a checkout")
    parser.add_argument("--b", required=True, metavar="REF_OR_DIR",
                        help="the candidate, the same way")
    parser.add_argument("--trials", type=_runs, default=3, metavar="N",
                        help="GameDays per build (default 3: 6 runs in all)")
    parser.add_argument("--seed", type=int, help="override the runbook's seed")
    parser.add_argument("--base-ports", type=_ports, default=None, metavar="A,B",
                        help="base ports of the two systems (default 5101,5111; their "
                             "ports must not overlap: leave as many between them as "
                             "the system file uses from its base)")
    parser.add_argument("--fdr", type=float, default=None, metavar="RATE",
                        help="false-discovery rate across every phase and metric "
                             "(default 0.05)")
    parser.add_argument("--spread-over", metavar="DEPLOYMENT",
                        help="run each GameDay as a sub-flow run of this gameday deployment "
                             "(e.g. gameday/standard) on its work pool's workers, each "
                             "starting its side's stack on its own base port; needs "
                             "PREFECT_API_URL (--base-ports then does not apply)")
    parser.set_defaults(func=_compare)


def _runs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a whole number of runs ≥ 1 (got {text!r})") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"a whole number of runs from 1 to 100 (got {text!r})")
    return value


def _ports(text: str) -> tuple[int, int]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"two ports separated by a comma, e.g. 5101,5111 "
                                         f"(got {text!r})")
    return int(parts[0]), int(parts[1])


def _compare(args: argparse.Namespace) -> int:
    from gameday.compare.runner import DEFAULT_BASE_PORTS, Comparison
    from gameday.evidence.cells import DEFAULT_FDR

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    ports = args.base_ports or DEFAULT_BASE_PORTS
    fdr = DEFAULT_FDR if args.fdr is None else args.fdr
    # bad input fails here, before anything is checked out, locked or started
    comparison = Comparison.prepare(args.runbook, args.a, args.b, trials=args.trials,
                                    seed=args.seed, base_ports=ports, fdr=fdr,
                                    progress=progress)
    progress(f"compare: {comparison.runbook.name}: {args.trials} run(s) a side, about "
             f"{_minutes(comparison):.0f} min")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    if args.spread_over and not os.environ.get("PREFECT_API_URL"):
        raise GameDayError(
            "--spread-over needs PREFECT_API_URL: the Prefect server whose work pool runs "
            f"the deployment {args.spread_over!r} (docs/architecture.md, \"Trials spread "
            "over workers\")")
    from gameday.prefect_api import start_api_server

    # spread: the workers' server runs everything; else a private one, dying with us
    server = None if args.spread_over else start_api_server(comparison.settings.state_dir)
    try:
        try:
            from flows.compare import compare_flow
        except Exception as exc:  # Prefect could not even be imported: one line
            raise GameDayError(f"Prefect could not be loaded: {type(exc).__name__}: "
                               f"{str(exc).strip()[:300]}") from None
        if server is not None:
            server.wait_ready()
        with contextlib.redirect_stdout(sys.stderr):  # every GameDay's lines are progress
            state = compare_flow(runbook=str(comparison.runbook_path), a=args.a, b=args.b,
                                 trials=args.trials, seed=args.seed, base_ports=ports,
                                 fdr=fdr, spread_over=args.spread_over, return_state=True)
    finally:
        if server is not None:
            server.stop()
    return _verdict(state)


def _minutes(comparison: Any) -> float:
    """A rough duration: the runbook's phase time plus ~15 s of each run's own work and
    recovery waits, for every run, and a minute to start the stacks."""
    per_run = sum(p.duration_s for p in comparison.runbook.phases) + 15
    return (2 * comparison.trials * per_run + 60) / 60


def _verdict(state: Any) -> int:
    from gameday.compare.models import CompareResult
    from gameday.evidence.comparison import RUN_PHASE
    from gameday.evidence.readable import fmt_change
    from gameday.units import metric_name

    try:
        data = state.result(raise_on_failure=False)
    except Exception as exc:  # noqa: BLE001 - the state carries the reason
        data = exc
    if isinstance(data, GameDayError):
        raise data
    if not isinstance(data, dict):
        raise GameDayError(f"the comparison did not finish: {data!r}")
    result = CompareResult.model_validate(data)
    page = f"{result.compare_id}/index.html"
    for c in result.regressions + result.improvements:
        phase = "whole run" if c.phase == RUN_PHASE else c.phase
        print(f"{c.verdict.upper()}: {phase} {metric_name(c.metric)}: {fmt_change(c)} "
              f"(B − A; adjusted p {c.p_adjusted:.3g})")
    if result.regressions:
        print(f"gameday compare: B ({result.b.label}) is worse than A ({result.a.label}) in "
              f"{len(result.regressions)} metric(s); report reports/{page}")
        return 1
    print(f"gameday compare: no regression with evidence over {len(result.cells)} metric(s); "
          f"report reports/{page}")
    return 0
