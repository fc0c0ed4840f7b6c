"""A runbook's system: where its file is, and the runbook checked against it.

A runbook with ``system: systems/lb.yaml`` runs against the system that file describes
(docs/systems.md). :func:`system_path` finds the file: relative to the runbook's folder,
else the working directory, else the repository. :func:`bind_system` loads it and checks
what the runbook asks of it, one line per problem naming the runbook and the field::

    runbooks/lb.yaml: phases[1].fault.target: group 'backend' has no member 'd'; members: a, b, c

- every fault's ``type`` is a fault of the system (``faults.<type>``), its ``target`` a
  member of a group that fault applies to, its ``params`` among the fault's ``params``;
- a sweep's ``param`` is a parameter of its phase's fault whose default in the file is
  a number (the fault's ``numeric_params``);
- the compose target needs the system's ``compose_file``; a ``process`` fault needs the
  local target, a ``container`` fault the compose target and a member whose group has a
  ``compose`` block (its container);
- the system's file says what its load is, the runbook says how much, and may adjust
  it: ``mix`` (weights by request name), ``values`` (lists by name) and
  ``follow_up_after_s`` (by request name) must name what the file has;
- every ``slo.ttd_s`` key the runbook names is a fault of the system.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from gameday.errors import GameDayError, RunbookError, SystemFileError
from gameday.paths import REPO_ROOT

if TYPE_CHECKING:
    from gameday.runbook import Runbook
    from gameday.systems.model import FaultProvider, System

__all__ = ["system_path", "bind_system", "system_problems", "place_in_checkout"]

_PROVIDER_TARGET = {"process": "local", "container": "compose"}


def system_path(system: str, base_dir: Path | None = None) -> Path:
    """The system file ``system`` names: absolute as given, else the first that exists of
    the runbook's folder (``base_dir``), the working directory, the repository; the last
    when none does (its loading then says it is missing)."""
    path = Path(system)
    if path.is_absolute():
        return path
    candidates = [d / path for d in (base_dir, Path.cwd(), REPO_ROOT) if d is not None]
    return next((c for c in candidates if c.is_file()), candidates[-1])


def place_in_checkout(system_file: Path) -> tuple[Path, Path]:
    """``(work tree, path within it)`` of a system file: the nearest folder above it
    holding ``.git`` (a clone or a worktree), else this project's repository. Another
    checkout of that repository holds its version of the file at the same relative path
    (``gameday compare``, ``stack_source``). GameDayError when the file is in neither."""
    path = system_file.resolve()
    root = next((d for d in path.parents if (d / ".git").exists()), None)
    if root is None and path.is_relative_to(REPO_ROOT):
        root = REPO_ROOT
    if root is None:
        raise GameDayError(f"system file {system_file} is in no git work tree: another "
                           "checkout's version of it cannot be found (keep the system "
                           "file in the repository of the system it describes)")
    return root, path.relative_to(root)


def system_problems(runbook: Runbook, system: System, *,
                    ttd_keys: list[str] | None = None) -> list[str]:
    """What the runbook asks of ``system`` that it does not have, as ``field: why``."""
    out: list[str] = []
    if runbook.target == "compose" and not system.compose_file:
        out.append(f"target: system {system.name!r} has no compose_file: it cannot run on "
                   "the compose target (give compose_file and a compose: {service} block "
                   "per component, docs/systems.md)")
    faults = system.faults
    names = ", ".join(faults) or "none"
    swept: set[str] = set()
    for i, ph in enumerate(runbook.phases):
        f = ph.fault
        if f is None:
            continue
        where = f"phases[{i}].fault"
        spec = faults.get(f.type)
        if spec is None:
            out.append(f"{where}.type: system {system.name!r} has no fault {f.type!r}; "
                       f"its faults: {names}")
            continue
        out.extend(_target_problems(where, f.group, f.member, spec.applies_to, system))
        unknown = [k for k in f.params_ if k not in spec.params]
        if unknown:
            out.append(f"{where}.params.{unknown[0]}: fault {f.type!r} of system "
                       f"{system.name!r} takes no such parameter; allowed: "
                       f"{', '.join(spec.params) or 'none'}")
        if ph.sweep is not None and (ph.repeats or ph.name) not in swept:
            swept.add(ph.repeats or ph.name)  # an expanded sweep's doses: checked once
            out.extend(_sweep_problems(f"phases[{i}].sweep.param", ph.sweep.param, f.type,
                                       spec, system.name))
        need = _PROVIDER_TARGET.get(spec.provider)
        if need is not None and runbook.target != need:
            out.append(f"{where}.type: fault {f.type!r} is a {spec.provider} fault: it runs "
                       f"on the {need} target only (the runbook's target is "
                       f"{runbook.target})")
        elif (spec.provider == "container" and f.group in system.components
              and system.components[f.group].compose is None):
            out.append(f"{where}.target: fault {f.type!r} is a container fault and group "
                       f"{f.group!r} runs in no container (it has no compose block: "
                       f"components.{f.group}.compose)")
    out.extend(_load_problems(runbook, system))
    for key in ttd_keys or []:
        if key not in faults:
            out.append(f"slo.ttd_s.{key}: system {system.name!r} has no fault {key!r}; "
                       f"its faults: {names}")
    return out


def _sweep_problems(where: str, param: str, fault: str, spec: FaultProvider,
                    system: str) -> list[str]:
    """A sweep's ``param`` against its fault's parameters in the system file."""
    numeric = spec.numeric_params()
    if param in numeric:
        return []
    why = (f" (its default {spec.params[param]!r} is not a number)"
           if param in spec.params else "")
    return [f"{where}: fault {fault!r} of system {system!r} has no numeric parameter "
            f"{param!r}{why}; its numeric parameters: {', '.join(numeric) or 'none'}"]


def _load_problems(runbook: Runbook, system: System) -> list[str]:
    """The runbook's ``mix``, ``values`` and ``follow_up_after_s`` against the file's load."""
    load, spec, out = system.load, runbook.load, []
    requests = ", ".join(load.requests)
    for name in spec.mix or {}:
        if name not in load.requests:
            out.append(f"load.mix.{name}: system {system.name!r} has no request {name!r}; "
                       f"its requests: {requests}")
    if spec.mix and not out and not any(
            spec.mix.get(name, req.weight) for name, req in load.requests.items()):
        out.append("load.mix: every request's weight is 0: nothing would be sent")
    for name in spec.values or {}:
        if name not in load.values:
            out.append(f"load.values.{name}: system {system.name!r} draws no values "
                       f"{name!r}; its values: {', '.join(load.values) or 'none'}")
    for name in spec.follow_up_after_s or {}:
        req = load.requests.get(name)
        if req is None or not req.follow_up:
            having = ", ".join(n for n, r in load.requests.items() if r.follow_up) or "none"
            out.append(f"load.follow_up_after_s.{name}: request {name!r} of system "
                       f"{system.name!r} has no follow-up; requests with one: {having}")
    return out


def _target_problems(where: str, group: str, member: str, applies_to: list[str] | None,
                     system: System) -> list[str]:
    groups = system.components
    if group not in groups:
        return [f"{where}.target: system {system.name!r} has no component group "
                f"{group!r}; groups: {', '.join(groups)}"]
    allowed = applies_to or [g for g, spec in groups.items() if spec.faultable]
    if group not in allowed or not groups[group].faultable:
        return [f"{where}.target: this fault does not apply to group {group!r}; it "
                f"applies to: {', '.join(allowed) or 'none'}"]
    members = system.members(group)
    if member not in members:
        return [f"{where}.target: group {group!r} has no member {member!r}; members: "
                f"{', '.join(members)}"]
    return []


def bind_system(runbook: Runbook, source: str, base_dir: Path | None = None, *,
                data: Any = None) -> System:
    """Load the runbook's system file and check the runbook against it. Raises
    RunbookError naming ``source`` (and, for a bad system file, that file's own lines)."""
    from gameday.systems.loader import load_system

    path = system_path(runbook.system, base_dir)
    try:
        system = load_system(path)
    except SystemFileError as exc:
        raise RunbookError(f"{source}: system: cannot use {runbook.system}:\n{exc}") from None
    ttd = (data.get("slo") or {}).get("ttd_s") if isinstance(data, dict) else None
    problems = system_problems(runbook, system,
                               ttd_keys=list(ttd) if isinstance(ttd, dict) else None)
    if problems:
        raise RunbookError("\n".join(f"{source}: {p}" for p in problems))
    return system
