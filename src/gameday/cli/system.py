"""``gameday system``: describe your own system as data (docs/systems.md).

- ``gameday system new NAME``: write ``systems/NAME.yaml``, a commented template;
- ``gameday system check FILE``: validate it and probe the running system without
  faulting anything (every steady-state probe, the detector, the oracle, the invariants,
  the load's requests rendered); exit 1 when something does not hold;
- ``gameday system up|down|status FILE``: run its ``local`` components on this machine
  (supervised, restarted when they exit), stop them, show them.
"""

from __future__ import annotations

import argparse
import os
import re
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from gameday.errors import SystemFileError

if TYPE_CHECKING:
    from gameday.systems.resolve import ResolvedSystem

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
    for action, text in (("up", "start the system's local components and wait until they are "
                                "healthy and its steady state holds"),
                         ("down", "stop the system's local components; leave nothing behind"),
                         ("status", "show each local component; exit 1 unless all healthy")):
        sub = actions.add_parser(action, help=text)
        sub.add_argument("file", type=Path, metavar="FILE")
        sub.add_argument("--base-port", type=int, default=None, metavar="N",
                         help="first port (default: the file's base_port, or GAMEDAY_BASE_PORT)")
        if action == "up":
            sub.add_argument("--timeout", type=float, default=60.0, metavar="S",
                             help="seconds to wait for every component to be healthy, and "
                                  "as long again for the steady-state probes to hold (60)")
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


def _resolved(args: argparse.Namespace, target: str = "local") -> ResolvedSystem:
    """The system file of ``args.file``, resolved for ``target`` and the base port."""
    from gameday.systems.loader import load_system
    from gameday.systems.render import TemplateProblem
    from gameday.systems.resolve import resolve

    system = load_system(args.file)
    env_port = os.environ.get("GAMEDAY_BASE_PORT")
    base_port = args.base_port or (int(env_port) if env_port and env_port.isdigit() else None)
    try:
        return resolve(system, target=target, host=getattr(args, "host", None),
                       base_port=base_port)
    except TemplateProblem as exc:
        raise SystemFileError(f"{args.file}: {exc}") from None


def _lifecycle(args: argparse.Namespace) -> int:
    from gameday.cli.stack import print_table
    from gameday.config import get_settings
    from gameday.systems.local import SystemLocalTarget
    from gameday.systems.probe import problems, wait_steady_state

    resolved = _resolved(args)
    settings = get_settings(base_port=resolved.base_port)
    target = SystemLocalTarget(resolved, settings, source=args.file,
                               progress=lambda m: print(f"gameday: {m}", flush=True))
    name = resolved.system.name
    if args.action == "up":
        status = target.start(timeout_s=args.timeout)
        print_table(status)
        port = f" --base-port {args.base_port}" if args.base_port is not None else ""
        stop = f"stop it with `gameday system down {args.file}{port}`"
        # Healthy members are not yet a system in its steady state (a detector may still
        # be counting clean rounds): `up` returns when a GameDay could start.
        probes = resolved.system.steady_state
        if probes:
            print(f"gameday: waiting for the steady state ({', '.join(probes)})…", flush=True)
            ok, found = wait_steady_state(resolved, args.timeout)
            if not ok:
                print(f"system {name!r} is running but not in its steady state after "
                      f"{args.timeout:g} s: " + "; ".join(problems(found)) + f"; {stop}")
                return 1
        print(f"system {name!r} is up" + (" and in its steady state" if probes else "")
              + f"; {stop}")
        return 0
    if args.action == "down":
        target.stop()
        print(f"system {name!r} is stopped")
        return 0
    status = target.status()
    print_table(status)
    print(f"\n{'healthy' if status.healthy else 'NOT healthy'}")
    return 0 if status.healthy else 1


def _check(args: argparse.Namespace) -> int:
    from gameday.systems.probe import Finding, check_system
    from gameday.systems.watch import watched_probes

    target = args.target or os.environ.get("GAMEDAY_TARGET") or "local"
    resolved = _resolved(args, target)
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
