"""The ``POST /orders`` body as a typed model, answering the contract's exact messages (400):

- no body, not a JSON object, ``product_id`` or ``quantity`` missing, null or ``""``:
  ``product_id and quantity are required``;
- ``product_id`` not a string, over 128 characters, control characters: ``product_id
  must be a string of 1 to 128 characters without control characters``;
- ``quantity`` not an integer (``2.0`` counts as 2; NaN, Infinity, ``"2"``, ``true`` do
  not): ``quantity must be an integer``;
- ``quantity`` ≤ 0: ``quantity must be positive``;
- ``quantity`` > ``MAX_QUANTITY`` (1 000 000): ``quantity must be at most 1000000``.

The first three messages are the original system's; the bound is new (a quantity of 2³¹
used to reach Postgres and come back as a 500).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter
from pydantic_core import ErrorDetails

from stack.common.validation import MAX_ID_LENGTH, Identifier, errors_at, parse_body

__all__ = ["OrderBody", "REQUIRED", "MAX_QUANTITY", "parse_order"]

REQUIRED = "product_id and quantity are required"
MAX_QUANTITY = 1_000_000
_MISSING = {"missing", "none_required"}


def _integral(value: Any) -> Any:
    """JSON ``2.0`` is the integer 2 (as the original accepted); anything else as is."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class OrderBody(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    product_id: Identifier
    quantity: Annotated[
        int, BeforeValidator(_integral), Field(strict=True, gt=0, le=MAX_QUANTITY)
    ]


_ADAPTER: TypeAdapter[OrderBody] = TypeAdapter(OrderBody)


def _missing(errors: list[ErrorDetails], field: str) -> bool:
    return any(
        e["type"] in _MISSING or e.get("input") in (None, "") for e in errors_at(errors, field)
    )


def explain(errors: list[ErrorDetails]) -> str:
    """The contract's sentence for the first thing wrong, in the original's order."""
    if any(not e["loc"] for e in errors) or _missing(errors, "product_id") or _missing(
        errors, "quantity"
    ):
        return REQUIRED
    if errors_at(errors, "product_id"):
        return (f"product_id must be a string of 1 to {MAX_ID_LENGTH} characters without "
                "control characters")
    kinds = {e["type"] for e in errors_at(errors, "quantity")}
    if "greater_than" in kinds:
        return "quantity must be positive"
    if "less_than_equal" in kinds:
        return f"quantity must be at most {MAX_QUANTITY}"
    return "quantity must be an integer"


def parse_order(raw: bytes) -> tuple[str, int]:
    """Validate a POST /orders body: (product_id, quantity); ApiError(400) otherwise."""
    order = parse_body(_ADAPTER, raw, explain)
    return order.product_id, order.quantity
