"""Input validation every service shares: identifiers, JSON bodies into typed models.

Bodies are validated by pydantic straight from the raw bytes (``validate_json``), not by
FastAPI's body parameters: those parse with the standard ``json`` module first, which
accepts lone surrogates (that later fail to encode, 500) and raises ``RecursionError`` on
deep nesting. pydantic's own parser refuses invalid UTF-8 and lone surrogates and limits
nesting; the models refuse NaN/Infinity and out-of-range numbers. Each route turns the
validation errors into the one sentence the contract promises (:func:`parse_body`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, Field, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from stack.common.errors import ApiError

__all__ = [
    "MAX_ID_LENGTH", "Identifier", "id_problem", "check_id", "parse_body", "errors_at", "short",
]

#: Longest product, order or instance id any route accepts (the catalogue's are 8).
MAX_ID_LENGTH = 128
T = TypeVar("T")


def id_problem(value: str, name: str) -> str | None:
    """Why ``value`` cannot be an id (too long, empty, control characters), or None.

    Spaces, ``#``, ``é`` are fine (an unknown id is a 404, not a 400); NUL and other
    control characters, CR/LF and lone surrogates are not: Postgres cannot store NUL,
    and no id the stack issues contains any of them.
    """
    if not 1 <= len(value) <= MAX_ID_LENGTH:
        return f"{name} must be 1 to {MAX_ID_LENGTH} characters long"
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        return f"{name} must not contain control characters"
    return None


def check_id(value: str, name: str) -> str:
    """``value`` if it can be an id; else ApiError(400) saying why."""
    problem = id_problem(value, name)
    if problem is not None:
        raise ApiError(400, problem)
    return value


def _valid_id(value: str) -> str:
    problem = id_problem(value, "id")
    if problem is not None:
        raise ValueError(problem)
    return value


#: An id inside a JSON body: a string (never a number or null), same rules as the path.
Identifier = Annotated[str, Field(strict=True), AfterValidator(_valid_id)]


def errors_at(errors: list[ErrorDetails], field: str) -> list[ErrorDetails]:
    """The errors whose location ends at ``field`` (a discriminated union nests it)."""
    return [e for e in errors if e["loc"] and e["loc"][-1] == field]


def parse_body(
    adapter: TypeAdapter[T], raw: bytes, explain: Callable[[list[ErrorDetails]], str]
) -> T:
    """Validate the raw body with ``adapter``; ApiError(400, explain(errors)) when invalid.

    An empty body is validated as ``null`` (a missing body, for the contract's messages).
    """
    try:
        return adapter.validate_json(raw if raw.strip() else b"null")
    except ValidationError as exc:
        raise ApiError(400, explain(exc.errors(include_url=False))) from None


def short(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages that quote input."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
