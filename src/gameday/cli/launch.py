"""Start, stop and inspect a system file's instance: ``gameday system up|down|status|logs
FILE`` and ``gameday stack …`` (the same for ``systems/inventory.yaml``).

- ``up``: on ``local`` its ``local`` components under the harness's supervisor (they keep
  running after the command), on ``compose`` its ``compose_file`` as a Compose project;
  returns once every member is healthy and the steady-state probes hold (exit 1 naming
  the probe that does not);
- ``down``: stop it and leave nothing behind (``--all``: every local instance of the
  system in the state folder, whatever its base port);
- ``status``: each process or service; exit 1 unless all are healthy (``--json``);
- ``logs``: the last lines of a local process's log (without a name: the log files).

Errors (a port in use, not healthy in time, Docker unreachable, a missing log) are raised
as :class:`~gameday.errors.GameDayError` and printed by the CLI (exit 1).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gameday.errors import SystemFileError, TargetError

if TYPE_CHECKING:
    from gameday.config import Settings
    from gameday.systems.compose import SystemComposeTarget
    from gameday.systems.local import SystemLocalTarget
    from gameday.systems.resolve import ResolvedSystem
    from gameday.targets.base import StackStatus

__all__ = ["ACTIONS", "add_options", "print_table", "run_action"]

#: Each action and its help line.
ACTIONS = {
    "up": "start it and wait until it is healthy and its steady state holds",
    "down": "stop it; leave no process or container behind",
    "status": "show each process or service; exit 1 unless all are healthy",
    "logs": "print the last lines of a local process's log",
}


def add_options(parser: argparse.ArgumentParser, action: str, *, timeout_s: float) -> None:
    """The options of ``action`` (``ACTIONS``); ``timeout_s``: the default of ``up``."""
    parser.add_argument("--base-port", type=int, default=None, metavar="N",
                        help="first port (default: GAMEDAY_BASE_PORT, else the system "
                             "file's base_port)")
    parser.add_argument("--target", choices=("local", "compose"), default=None,
                        help="where it runs (default: GAMEDAY_TARGET, else local)")
    if action == "up":
        parser.add_argument("--timeout", type=float, default=timeout_s, metavar="S",
                            help="seconds to wait for every member to be healthy, and as "
                                 f"long again for the steady-state probes ({timeout_s:g})")
        parser.add_argument("--keep-data", action="store_true",
                            help="local: a builtin Postgres keeps the data of its last start "
                                 "(default: fresh data at each start)")
    elif action == "down":
        parser.add_argument("--all", action="store_true",
                            help="local: stop every instance of the system in the state "
                                 "folder, whatever its base port")
    elif action == "status":
        parser.add_argument("--json", action="store_true", help="print the status as JSON")
    elif action == "logs":
        parser.add_argument("process", nargs="?", default=None,
                            help="a process (`gameday … status` names them) or supervisor "
                                 "(default: list the log files)")
        parser.add_argument("-n", "--lines", type=int, default=50, help="how many lines (50)")


def resolve_file(file: Path, *, target: str, base_port: int | None,
                 host: str | None = None) -> ResolvedSystem:
    """``file`` resolved for ``target`` at ``base_port``, else ``GAMEDAY_BASE_PORT``, else
    the file's own."""
    from gameday.systems.loader import load_system
    from gameday.systems.render import TemplateProblem
    from gameday.systems.resolve import resolve

    system = load_system(file)
    env_port = os.environ.get("GAMEDAY_BASE_PORT")
    port = base_port or (int(env_port) if env_port and env_port.isdigit() else None)
    try:
        return resolve(system, target=target, host=host, base_port=port)
    except TemplateProblem as exc:
        raise SystemFileError(f"{file}: {exc}") from None


def run_action(args: argparse.Namespace, file: Path, *, command: Callable[[str], str],
               progress: Callable[[str], None]) -> int:
    """Run ``args.action`` on ``file``'s instance. ``command(action)``: how messages name
    the command of another action (``gameday stack down``); ``progress`` gets each
    progress line."""
    target_name = args.target or os.environ.get("GAMEDAY_TARGET") or "local"
    if args.action == "down" and args.all:
        return _down_all(file, target_name)
    resolved = resolve_file(file, target=target_name, base_port=args.base_port)
    settings = _settings(resolved, target_name)
    keep_data = getattr(args, "keep_data", False)
    if keep_data and target_name != "local":
        raise TargetError("--keep-data applies to the local target; on compose `down -v` "
                          "removes the volumes and every start begins from fresh data")
    target = _target(resolved, settings, file, target_name, progress, keep_data=keep_data)
    name = resolved.system.name
    if args.action == "up":
        return _up(args, resolved, target, command("down"), progress)
    if args.action == "down":
        target.stop()
        print(f"system {name!r} is stopped on {target_name}", flush=True)
        return 0
    if args.action == "logs":
        return _logs(args, target, command("logs"))
    status = target.status()
    if args.json:
        print(json.dumps({"target": status.target, "healthy": status.healthy,
                          "services": [s.__dict__ for s in status.services]}, indent=2))
    else:
        print_table(status)
        print(f"\n{'healthy' if status.healthy else 'NOT healthy'}")
    return 0 if status.healthy else 1


def _settings(resolved: ResolvedSystem, target_name: str) -> Settings:
    from gameday.config import get_settings

    return get_settings(base_port=resolved.base_port, target=target_name)


def _target(resolved: ResolvedSystem, settings: Settings, file: Path, target_name: str,
            progress: Callable[[str], None], *, keep_data: bool = False
            ) -> SystemLocalTarget | SystemComposeTarget:
    if target_name == "compose":
        from gameday.systems.compose import SystemComposeTarget

        return SystemComposeTarget(resolved, settings, source=file, progress=progress)
    from gameday.systems.local import SystemLocalTarget

    return SystemLocalTarget(resolved, settings, source=file, progress=progress,
                             keep_data=keep_data)


def _up(args: argparse.Namespace, resolved: ResolvedSystem,
        target: SystemLocalTarget | SystemComposeTarget, down_command: str,
        progress: Callable[[str], None]) -> int:
    from gameday.systems.probe import problems, wait_steady_state

    name = resolved.system.name
    progress(f"starting system {name!r} on {target.name} at base port {resolved.base_port}…")
    status = target.start(timeout_s=args.timeout)
    print()
    print_table(status)
    port = f" --base-port {args.base_port}" if args.base_port is not None else ""
    where = f" --target {args.target}" if args.target is not None else ""
    stop = f"stop it with `{down_command}{port}{where}`"
    # Healthy members are not yet a system in its steady state (a detector may still be
    # counting clean rounds): `up` returns when a GameDay could start.
    probes = resolved.system.steady_state
    if probes:
        progress(f"waiting for the steady state ({', '.join(probes)})…")
        ok, found = wait_steady_state(resolved, args.timeout)
        if not ok:
            print(f"\nsystem {name!r} is running but not in its steady state after "
                  f"{args.timeout:g} s: " + "; ".join(problems(found)) + f"; {stop}")
            return 1
    print(f"\nsystem {name!r} is up" + (" and in its steady state" if probes else "")
          + f"; {stop}", flush=True)
    return 0


def _down_all(file: Path, target_name: str) -> int:
    from gameday.config import get_settings
    from gameday.systems.local import SystemLocalTarget

    if target_name != "local":
        raise TargetError("--all stops local instances; on compose name the project "
                          "(GAMEDAY_COMPOSE_PROJECT) and run `down` without --all")
    settings = get_settings()
    name = resolve_file(file, target="local", base_port=None).system.name
    for port in SystemLocalTarget.base_ports(settings.state_dir, name):
        resolved = resolve_file(file, target="local", base_port=port)
        SystemLocalTarget(resolved, settings.model_copy(update={"base_port": port}),
                          source=file).stop()
        print(f"system {name!r} at base port {port} is stopped", flush=True)
    return 0


def _logs(args: argparse.Namespace, target: SystemLocalTarget | SystemComposeTarget,
          logs_command: str) -> int:
    from gameday.systems.local import SystemLocalTarget

    if not isinstance(target, SystemLocalTarget):
        raise TargetError("logs are read from the local target's supervisor; on compose "
                          "use `docker compose logs`")
    if args.process is None:
        for path in sorted(target.log_dir.glob("*.log")):
            print(path)
        return 0
    path = target.log_dir / f"{args.process}.log"
    if not path.is_file():
        raise TargetError(f"no log {path}; `{logs_command}` lists the log files")
    print(target.tail(args.process, args.lines))
    return 0


def print_table(status: StackStatus) -> None:
    rows = [("SERVICE", "STATE", "PID", "URL", "DETAIL")]
    for s in status.services:
        state = "healthy" if s.healthy else ("running" if s.running else "down")
        rows.append((s.name, state, str(s.pid or "-"), s.url or "-", s.detail))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        line = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4]))
        print(f"{line}  {row[4]}".rstrip(), file=sys.stdout)
