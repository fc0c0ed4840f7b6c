"""A data file's problems as sentences: YAML reading, and pydantic validation errors with
the field path and what is allowed.

Used by :mod:`gameday.runbook` and :mod:`gameday.systems`; e.g.
``phases[2].fault.latency_ms: must be ≥ 0 (got -5)``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

__all__ = ["message", "read_yaml"]


def read_yaml(path: str | Path, what: str, error: type[Exception]) -> Any:
    """The parsed YAML of ``path``; raises ``error`` starting with the path as given on a
    missing or unreadable file or a syntax error (with its line and column)."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise error(f"{source}: cannot read the {what} ({reason})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise error(f"{source}: YAML syntax error at {where}{problem}") from None

_ALLOWED = {
    "greater_than_equal": "must be ≥ {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be ≤ {le}",
    "less_than": "must be < {lt}",
    "literal_error": "must be one of {expected}",
    "missing": "is required",
    "too_short": "must have at least {min_length} item(s)",
    "string_too_short": "must not be empty",
    "string_pattern_mismatch": "must match {pattern}",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "dict_type": "must be a mapping",
    "list_type": "must be a list",
    "model_type": "must be a mapping",
}


def _loc(loc: tuple[Any, ...]) -> str:
    """``phases[2].fault.latency_ms``; a mapping key that is not a plain name is quoted
    (``expect.json["a["]``), and pydantic's ``[key]`` marker (the key itself is wrong) is
    left out: the quoted key says which."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            continue
        elif re.fullmatch(r"[\w-]+", str(part)):
            out += ("." if out else "") + str(part)
        else:
            out += f"[{json.dumps(str(part), ensure_ascii=False)}]"
    return out


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation holds: itself, or inside Optional, unions, lists, dicts."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()) or ():
        found.extend(m for m in _models_in(arg) if m not in found)
    return found


def _tagged(models: list[type[BaseModel]], tag: str) -> list[type[BaseModel]]:
    """The union members whose discriminator (a Literal field) is ``tag``."""
    return [m for m in models
            if any(tag in getattr(f.annotation, "__args__", ()) for f in m.model_fields.values())]


def _fields_of(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Allowed field names of the model at ``loc`` (for 'unknown field' messages). Parts of
    ``loc`` that are list indexes, mapping keys or a union's tag lead to the same models."""
    models = [model]
    for part in loc:
        if isinstance(part, int):
            continue
        inner = [m for c in models if (f := c.model_fields.get(str(part))) is not None
                 for m in _models_in(f.annotation)]
        if inner:
            models = inner
        elif any(str(part) in c.model_fields for c in models):
            return []  # a field that holds no model
        else:
            models = _tagged(models, str(part)) or models
    names: list[str] = []
    for m in models[:1]:
        internal = getattr(m, "INTERNAL_FIELDS", ())  # set by the harness, never written
        names = [f.alias or n for n, f in m.model_fields.items() if n not in internal]
    return names


def message(err: dict[str, Any], root: type[BaseModel], what: str = "runbook") -> str:
    """One line for one pydantic error: ``field.path: what is allowed (got value)``."""
    loc = tuple(err["loc"])
    etype = err["type"]
    ctx = err.get("ctx") or {}
    if etype == "extra_forbidden":
        allowed = _fields_of(root, loc[:-1])
        return f"{_loc(loc)}: unknown field; allowed: {', '.join(allowed)}"
    if etype == "value_error":
        text = str(ctx.get("error", err["msg"]))
        if ":" in text.split(" ")[0]:  # the validator named the field itself
            prefix = _loc(loc)
            return f"{prefix}.{text}" if prefix else text
        return f"{_loc(loc) or what}: {text}"
    if etype in ("union_tag_invalid", "union_tag_not_found"):
        field = str(ctx.get("discriminator", "kind")).strip("'")
        where = f"{_loc(loc)}.{field}" if loc else field
        if etype == "union_tag_not_found":
            return f"{where}: is required"
        return (f"{where}: must be one of {ctx.get('expected_tags')} "
                f"(got {ctx.get('tag')!r})")
    if etype == "literal_error":
        # "Input should be 'a', 'b' or 'c'" → "'a', 'b', 'c'"
        expected = str(ctx.get("expected", "")).replace(" or ", ", ")
        return f"{_loc(loc)}: must be one of {expected} (got {err.get('input')!r})"
    template = _ALLOWED.get(etype)
    nums = {k: (f"{v:g}" if isinstance(v, float) else v) for k, v in ctx.items()}
    text = template.format(**nums) if template else err["msg"]
    got = "" if etype == "missing" else f" (got {err.get('input')!r})"
    return f"{_loc(loc)}: {text}{got}"
