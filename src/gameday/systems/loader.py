"""Reading a system file: YAML, the model, every template compiled, the members resolved.

:func:`load_system` turns every problem into one :class:`~gameday.errors.SystemFileError`
whose lines start with the file and name the field path, like runbooks::

    systems/shop.yaml: components.web.port: must give an integer, gave 'eighty'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gameday.errors import SystemFileError
from gameday.runbook_errors import message, read_yaml
from gameday.systems.model import System
from gameday.systems.render import TemplateProblem, compile_template
from gameday.systems.resolve import resolve

__all__ = ["load_system", "parse_system"]


def _strings(value: Any, path: str) -> list[tuple[str, str]]:
    """Every string in ``value`` with its field path (``load.requests.read.url``)."""
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list):
        return [s for i, v in enumerate(value) for s in _strings(v, f"{path}[{i}]")]
    return []


def parse_system(data: Any, source: str = "<system>") -> System:
    """Validate already-parsed YAML data; raises SystemFileError naming ``source``."""
    if not isinstance(data, dict):
        raise SystemFileError(f"{source}: a system file must be a mapping "
                              f"(got {type(data).__name__})")
    # Top-level ``x-`` keys hold YAML anchors for reuse, as in compose files.
    data = {k: v for k, v in data.items() if not str(k).startswith("x-")}
    try:
        system = System.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source}: {message(e, System, 'system')}"  # type: ignore[arg-type]
                 for e in exc.errors(include_url=False)]
        raise SystemFileError("\n".join(lines)) from None
    problems = []
    for path, text in _strings(system.model_dump(by_alias=True, exclude={"description"}), ""):
        try:
            compile_template(text)
        except TemplateProblem as exc:
            problems.append(f"{source}: {path}: {exc}")
    if not problems:
        try:
            resolve(system)
        except TemplateProblem as exc:
            problems.append(f"{source}: {exc}")
    if problems:
        raise SystemFileError("\n".join(problems))
    return system


def load_system(path: str | Path) -> System:
    """Read and validate a system file. Raises SystemFileError (file missing or
    unreadable, YAML syntax, validation, a template that does not compile, a member whose
    port or URL does not resolve) whose lines start with the path as given."""
    return parse_system(read_yaml(path, "system file", SystemFileError), str(path))
