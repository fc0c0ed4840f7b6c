"""``gameday import-ctk EXPERIMENT``: a Chaos Toolkit experiment as a system file and a
runbook (:mod:`gameday.systems.ctk_import` says what is converted and what is not)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import yaml

from gameday.errors import SystemFileError

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cmd = subparsers.add_parser(
        "import-ctk", help="turn a Chaos Toolkit experiment into a system file and a runbook",
        description=__doc__.splitlines()[0].replace("``", ""))
    cmd.add_argument("experiment", type=Path, metavar="EXPERIMENT",
                     help="the experiment (JSON, or YAML)")
    cmd.add_argument("--name", default=None,
                     help="name of the system and runbook (default: from the title)")
    cmd.add_argument("--systems-dir", type=Path, default=Path("systems"),
                     help="where the system file goes (default: systems)")
    cmd.add_argument("--runbooks-dir", type=Path, default=Path("runbooks"),
                     help="where the runbook goes (default: runbooks)")
    cmd.add_argument("--force", action="store_true", help="overwrite existing files")
    cmd.set_defaults(func=_import)


def _header(title: str, result: Any, source: Path) -> str:
    lines = [f"# {title}, imported from the Chaos Toolkit experiment {source.name}",
             "# by `gameday import-ctk` (docs/systems.md). Converted:"]
    lines += [f"#   - {c}" for c in result.converted] or ["#   (nothing)"]
    lines.append("# NOT converted, or assumed (read before running):")
    lines += [f"#   - {' '.join(str(g).split())}" for g in result.gaps] or ["#   (nothing)"]
    return "\n".join(lines) + "\n"


class _NoAliases(yaml.SafeDumper):
    """Repeated values written out again: a person reads these files."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _dump(data: dict[str, Any]) -> str:
    return yaml.dump(data, Dumper=_NoAliases, sort_keys=False, allow_unicode=True, width=100)


def _import(args: argparse.Namespace) -> int:
    from gameday.systems.ctk_import import convert, read_experiment

    if args.name is not None:
        import re

        from gameday.systems.model import NAME_PATTERN

        if not re.match(NAME_PATTERN, args.name):
            raise SystemFileError(f"--name {args.name!r}: letters, digits, '.', '-' and '_' "
                                  "(at most 63), starting with a letter or digit")
    result = convert(read_experiment(args.experiment), name=args.name)
    system_path = args.systems_dir / f"{result.name}.yaml"
    runbook_path = args.runbooks_dir / f"{result.name}.yaml"
    existing = [str(p) for p in (system_path, runbook_path) if p.exists()]
    if existing and not args.force:
        raise SystemFileError(f"already there: {', '.join(existing)}; pass --force to "
                              "overwrite, or --name for another name")
    result.runbook["system"] = os.path.relpath(system_path, args.runbooks_dir)
    for path, title, data in ((system_path, "System", result.system),
                              (runbook_path, "Runbook", result.runbook)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_header(title, result, args.experiment) + _dump(data), "utf-8")
    print(f"wrote {system_path} and {runbook_path}")
    print(f"converted ({len(result.converted)}):")
    for item in result.converted:
        print(f"  ✔ {item}")
    print(f"not converted, or assumed ({len(result.gaps)}):")
    for gap in result.gaps:
        print(f"  ! {gap}")
    print(f"next: check it without faulting anything:\n  gameday system check {system_path}\n"
          f"then run it:\n  gameday run {runbook_path}")
    return 0
