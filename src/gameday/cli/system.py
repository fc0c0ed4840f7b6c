"""``gameday system``: describe your own system as data (docs/systems.md).

- ``gameday system new NAME``: write ``systems/NAME.yaml``, a commented template;
- ``gameday system check FILE``: validate it and probe the running system without
  faulting anything (every steady-state probe, the detector, the oracle, the invariants,
  the load's requests rendered); exit 1 when something does not hold;
- ``gameday system up|down|status|logs FILE``: run it (``--target local``: its ``local``
  components on this machine, supervised and restarted when they exit; ``compose``: its
  ``compose_file``), stop it, show it, read a local process's log
  (:mod:`gameday.cli.launch`).
"""

from __future__ import annotations

import argparse
import os
import re
from importlib import resources
from pathlib import Path

from gameday.cli.launch import ACTIONS, add_options, resolve_file, run_action
from gameday.errors import SystemFileError

__all__ = ["register"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    system = subparsers.add_parser(
        "system", help="describe your own system as data: write a template, check a file",
        description=__doc__.splitlines()[0])
    actions = system.add_subparsers(dest="action", metavar="ACTION", required=True)
    new = actions.add_parser("new", help="write systems/NAME.yaml, a commented template")
    new.add_argument("name", metavar="NAME", help="the system's name (letters, digits, - _)")
    new.add_argument("--dir", default="systems", type=Path,
                     help="folder to write it in (default: systems)")
    new.add_argument("--force", action="store_true", help="overwrite an existing file")
    new.set_defaults(func=_new)
    check = actions.add_parser(
        "check", help="validate a system file and probe the running system (no fault)")
    check.add_argument("file", type=Path, metavar="FILE")
    check.add_argument("--target", choices=("local", "compose"), default=None,
                       help="where the system runs (default: local, or GAMEDAY_TARGET)")
    check.add_argument("--base-port", type=int, default=None, metavar="N",
                       help="first port (default: the file's base_port, or GAMEDAY_BASE_PORT)")
    check.add_argument("--host", default=None, help="where it is reached (default: the file's)")
    check.add_argument("--validate-only", action="store_true",
                       help="only validate the file; send nothing")
    check.set_defaults(func=_check)
    for action, text in ACTIONS.items():
        sub = actions.add_parser(action, help=text)
        sub.add_argument("file", type=Path, metavar="FILE")
        add_options(sub, action, timeout_s=60.0)
        sub.set_defaults(func=_lifecycle)


def _new(args: argparse.Namespace) -> int:
    if not _NAME.match(args.name):
        raise SystemFileError(f"{args.name!r}: a system name is letters, digits, '-' and '_' "
                              "(at most 63), starting with a letter or digit")
    path = args.dir / f"{args.name}.yaml"
    if path.exists() and not args.force:
        raise SystemFileError(f"{path} exists; choose another name or pass --force")
    text = resources.files("gameday.systems").joinpath("template.yaml").read_text("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.replace("__NAME__", args.name), encoding="utf-8")
    print(f"wrote {path}: describe your system in it (docs/systems.md), then\n"
          f"  gameday system check {path}")
    return 0


def _lifecycle(args: argparse.Namespace) -> int:
    return run_action(args, args.file, command=lambda action: f"gameday system {action} "
                                                              f"{args.file}",
                      progress=lambda m: print(f"gameday: {m}", flush=True))


def _check(args: argparse.Namespace) -> int:
    from gameday.systems.probe import Finding, check_system
    from gameday.systems.watch import watched_probes

    target = args.target or os.environ.get("GAMEDAY_TARGET") or "local"
    resolved = resolve_file(args.file, target=target, base_port=args.base_port, host=args.host)
    system = resolved.system
    members = ", ".join(f"{g} ({len(m)})" for g, m in resolved.groups.items())
    watched = watched_probes(resolved)
    print(f"{args.file}: system {system.name!r} is valid: components {members}; "
          f"{len(system.load.requests)} request kind(s), detector {system.detector.kind}, "
          f"{len(system.steady_state)} probe(s)"
          + (f" ({', '.join(watched)} watched during the run)" if watched else "")
          + f", {len(system.invariants)} invariant(s), {len(system.faults)} fault(s)")
    if args.validate_only:
        return 0
    print(f"probing it on {target} at {resolved.host}, base port {resolved.base_port} "
          "(nothing is faulted)…")

    def show(f: Finding) -> None:
        where = f" [{f.member}]" if f.member else ""
        took = f" {f.latency_ms:.0f} ms" if f.latency_ms is not None else ""
        print(f"  {'✔' if f.ok else '✘'} {f.kind} {f.name}{where}{took}: {f.detail}")

    result = check_system(resolved, progress=show)
    failed = sum(not f.ok for f in result.findings)
    if failed:
        print(f"{failed} of {len(result.findings)} check(s) failed")
        return 1
    print(f"all {len(result.findings)} check(s) hold")
    return 0
