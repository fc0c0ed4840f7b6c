"""The ``POST /reports`` body (the voter's report of a replica) as a typed model.

``instance_id`` is a string or an integer (``2`` and ``"2"`` name the same replica);
``reason`` one of ``REPORT_REASONS``; ``product_id`` an id or null; ``detail`` free text of
at most ``MAX_DETAIL`` characters or null. Unknown fields are ignored.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter
from pydantic_core import ErrorDetails

from stack.common.validation import MAX_ID_LENGTH, Identifier, errors_at, parse_body
from stack.monitor.checker import REPORT_REASONS

__all__ = ["ReportBody", "parse_report", "MAX_DETAIL"]

MAX_DETAIL = 2000
BODY_RULE = "body must be a JSON object with instance_id and reason"


def _int_as_text(value: object) -> object:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class ReportBody(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    instance_id: Annotated[Identifier, BeforeValidator(_int_as_text)]
    reason: Literal[REPORT_REASONS]  # type: ignore[valid-type]
    product_id: Identifier | None = None
    detail: Annotated[str, Field(strict=True, max_length=MAX_DETAIL)] | None = None


_ADAPTER: TypeAdapter[ReportBody] = TypeAdapter(ReportBody)


def explain(errors: list[ErrorDetails]) -> str:
    if any(not e["loc"] for e in errors) or errors_at(errors, "instance_id"):
        return BODY_RULE
    if errors_at(errors, "reason"):
        return f"reason must be one of: {', '.join(REPORT_REASONS)}"
    if errors_at(errors, "product_id"):
        return (f"product_id must be null or a string of 1 to {MAX_ID_LENGTH} characters "
                "without control characters")
    return f"detail must be null or a string of at most {MAX_DETAIL} characters"


def parse_report(raw: bytes) -> ReportBody:
    return parse_body(_ADAPTER, raw, explain)
