"""Pydantic validation errors as sentences: the field path and what is allowed.

Used by :mod:`gameday.runbook`; e.g. ``phases[2].fault.latency_ms: must be ≥ 0 (got -5)``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

__all__ = ["message"]

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
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _fields_of(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Allowed field names of the model at ``loc`` (for 'unknown field' messages)."""
    cur: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = cur.model_fields.get(part)
        if field is None:
            return []
        ann = field.annotation
        cur = next(
            (a for a in (ann, *getattr(ann, "__args__", ()))
             if isinstance(a, type) and issubclass(a, BaseModel)),
            None,
        )
        if cur is None:
            return []
    return list(cur.model_fields)


def message(err: dict[str, Any], root: type[BaseModel]) -> str:
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
        return f"{_loc(loc) or 'runbook'}: {text}"
    if etype == "literal_error":
        # "Input should be 'a', 'b' or 'c'" → "'a', 'b', 'c'"
        expected = str(ctx.get("expected", "")).replace(" or ", ", ")
        return f"{_loc(loc)}: must be one of {expected} (got {err.get('input')!r})"
    template = _ALLOWED.get(etype)
    nums = {k: (f"{v:g}" if isinstance(v, float) else v) for k, v in ctx.items()}
    text = template.format(**nums) if template else err["msg"]
    got = "" if etype == "missing" else f" (got {err.get('input')!r})"
    return f"{_loc(loc)}: {text}{got}"
