"""A system's invariants after a GameDay: every comparison of its file, and every
``python: module:function`` callable (given the resolved system, it returns the problems
it found; none: it holds). ``gameday system check`` runs the comparisons only; a GameDay
runs both (:mod:`gameday.drivers.system`)."""

from __future__ import annotations

import importlib

from gameday.systems.probe import Finding, check_invariants
from gameday.systems.resolve import ResolvedSystem

__all__ = ["invariant_findings", "python_invariant"]


def python_invariant(resolved: ResolvedSystem, name: str, ref: str) -> Finding:
    """Call ``ref`` (``module:function``) with the resolved system; an exception is a
    failed check saying so."""
    module, _, func = ref.partition(":")
    try:
        problems = list(getattr(importlib.import_module(module), func)(resolved))
    except Exception as exc:  # noqa: BLE001 - a broken check is a failed check
        return Finding("invariant", name, False, detail=f"{ref}: {type(exc).__name__}: {exc}")
    return Finding("invariant", name, not problems,
                   detail="; ".join(map(str, problems)) or f"{ref}: holds")


def invariant_findings(resolved: ResolvedSystem) -> list[Finding]:
    """Every invariant of the system, once."""
    found = [f for f in check_invariants(resolved)
             if not resolved.system.invariants[f.name].python]
    found += [python_invariant(resolved, name, inv.python)
              for name, inv in resolved.system.invariants.items() if inv.python]
    return found
