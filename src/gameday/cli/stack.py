"""``gameday stack up|down|status``: start, stop and inspect the stack.

The local target (default) runs the stack as processes supervised in the background;
``up`` returns once every service answers its health check and the stack keeps running
until ``down``. ``--target compose`` drives docker-compose.yml instead.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gameday.targets.base import StackStatus, Target

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    stack = subparsers.add_parser(
        "stack", help="start, stop and inspect the stack under test",
        description="Start, stop and inspect the stack under test.",
    )
    actions = stack.add_subparsers(dest="stack_command", metavar="ACTION", required=True)

    up = actions.add_parser("up", help="start the stack and wait until it is healthy")
    _common(up)
    up.add_argument("--keep-data", action="store_true",
                    help="keep the Postgres data of the last run (default: fresh stock)")
    up.add_argument("--timeout", type=float, default=90.0, metavar="S",
                    help="seconds to wait for every service to be healthy (default 90)")
    up.set_defaults(func=_up)

    down = actions.add_parser("down", help="stop the stack; leave no process behind")
    _common(down)
    down.add_argument("--all", action="store_true",
                      help="stop every local stack in the state folder, whatever its base port")
    down.set_defaults(func=_down)

    logs = actions.add_parser("logs", help="print the last lines of a local service's log")
    _common(logs)
    logs.add_argument("service", nargs="?", default=None,
                      help="inventory-1..3, monitor, voter, orders, kafka, postgres, "
                           "supervisor (default: list the log files)")
    logs.add_argument("-n", "--lines", type=int, default=50, help="how many lines (50)")
    logs.set_defaults(func=_logs)

    status = actions.add_parser("status", help="show each service; exit 1 unless all healthy")
    _common(status)
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.set_defaults(func=_status)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-port", type=int, default=None, metavar="N",
                        help="first inventory port of the local stack (default 5001, "
                             "or GAMEDAY_BASE_PORT)")
    parser.add_argument("--target", choices=("local", "compose"), default=None,
                        help="where the stack runs (default: local, or GAMEDAY_TARGET)")


def _target(args: argparse.Namespace, *, keep_data: bool = False) -> Target:
    from gameday.config import get_settings

    overrides: dict[str, object] = {}
    if args.base_port is not None:
        overrides["base_port"] = args.base_port
    if args.target is not None:
        overrides["target"] = args.target
    settings = get_settings(**overrides)
    if settings.target == "local":
        from gameday.targets.local import LocalTarget

        return LocalTarget(settings, keep_data=keep_data, progress=_progress(time.monotonic()))
    from gameday.targets.compose import ComposeTarget

    return ComposeTarget(settings, progress=_progress(time.monotonic()))


def _progress(t0: float) -> Callable[[str], None]:
    def report(message: str) -> None:
        print(f"[{time.monotonic() - t0:5.1f}s] {message}", flush=True)

    return report


def _up(args: argparse.Namespace) -> int:
    target = _target(args, keep_data=args.keep_data)
    print(f"starting the {target.name} stack...", flush=True)
    status = target.start(timeout_s=args.timeout)
    print()
    print_table(status)
    print(f"\nthe stack is up; stop it with `gameday stack down"
          f"{_port_flag(args)}`", flush=True)
    return 0


def _down(args: argparse.Namespace) -> int:
    if args.all:
        from gameday.config import get_settings
        from gameday.targets.local import LocalTarget

        settings = get_settings()
        for port in LocalTarget.stack_ports(settings.state_dir):
            LocalTarget(settings.model_copy(update={"base_port": port})).stop()
            print(f"the local stack at base port {port} is stopped", flush=True)
        return 0
    target = _target(args)
    target.stop()
    print(f"the {target.name} stack is stopped", flush=True)
    return 0


def _logs(args: argparse.Namespace) -> int:
    from gameday.errors import TargetError
    from gameday.targets.local import LocalTarget

    target = _target(args)
    if not isinstance(target, LocalTarget):
        raise TargetError("`gameday stack logs` reads the local stack's logs; for compose "
                          "use `docker compose logs`")
    if args.service is None:
        for path in sorted(target.log_dir.glob("*.log")):
            print(path)
        return 0
    path = target.log_dir / f"{args.service}.log"
    if not path.is_file():
        raise TargetError(f"no log {path}; see `gameday stack logs` for the log files")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    print("\n".join(lines[-args.lines:]))
    return 0


def _status(args: argparse.Namespace) -> int:
    target = _target(args)
    status = target.status()
    if args.json:
        print(json.dumps({
            "target": status.target, "healthy": status.healthy,
            "services": [s.__dict__ for s in status.services],
        }, indent=2))
    else:
        print_table(status)
        print(f"\n{'healthy' if status.healthy else 'NOT healthy'}")
    return 0 if status.healthy else 1


def _port_flag(args: argparse.Namespace) -> str:
    return f" --base-port {args.base_port}" if args.base_port is not None else ""


def print_table(status: StackStatus) -> None:
    rows = [("SERVICE", "STATE", "PID", "URL", "DETAIL")]
    for s in status.services:
        state = "healthy" if s.healthy else ("running" if s.running else "down")
        rows.append((s.name, state, str(s.pid or "-"), s.url or "-", s.detail))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        line = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4]))
        print(f"{line}  {row[4]}".rstrip(), file=sys.stdout)
