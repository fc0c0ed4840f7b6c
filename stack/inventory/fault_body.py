"""The ``POST /inject-failure`` body: one typed model per fault type, with bounds.

Every number is finite and bounded (a NaN latency or a TTL of 1e308 used to be accepted,
or to fail with a 500 after the previous fault was already cleared). Fields that do not
belong to the fault's type are ignored, as the original system did.

| field | types | bound |
|---|---|---|
| ``latency_ms`` | latency | 0 ≤ L ≤ ``MAX_LATENCY_MS`` (60 000), default 1000 |
| ``probability`` | intermittent | 0 ≤ p ≤ 1, default 0.5 |
| ``product_id`` | incorrect_response | an id (1–128 chars, no control chars), default PROD-001 |
| ``events`` | latency, intermittent | bool, default false: also hook event processing |
| ``ttl_s`` | every type | 0 < ttl ≤ ``MAX_TTL_S`` (86 400), default ``FAULT_DEFAULT_TTL_S`` |
| ``seed`` | every type | an integer, −2⁶³ ≤ seed < 2⁶³ |
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, TypeAdapter
from pydantic_core import ErrorDetails

from stack.common.validation import MAX_ID_LENGTH, Identifier, parse_body, short

__all__ = [
    "ALLOWED_TYPES", "MAX_LATENCY_MS", "MAX_TTL_S", "FaultBody", "parse_fault_body", "explain",
]

ALLOWED_TYPES = ("crash", "latency", "intermittent", "incorrect_response", "clear")
ALLOWED_TEXT = ", ".join(ALLOWED_TYPES)
MAX_LATENCY_MS = 60_000
MAX_TTL_S = 86_400
_SEED_LIMIT = 2**63


def _number(low: float, high: float, *, open_low: bool = False) -> Any:
    bound = {"gt": low} if open_low else {"ge": low}
    return Field(strict=True, le=high, allow_inf_nan=False, **bound)


class _Fault(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    # Absent → the default TTL; an explicit null is refused, as the original did.
    ttl_s: Annotated[float, _number(0, MAX_TTL_S, open_low=True)] = None  # type: ignore[assignment]
    seed: Annotated[int | None, Field(strict=True, ge=-_SEED_LIMIT, lt=_SEED_LIMIT)] = None

    def params(self) -> dict[str, Any]:
        """The type's own parameters (what ``GET /inject-failure`` shows)."""
        return self.model_dump(exclude={"type", "ttl_s", "seed", "events"})

    @property
    def hooks_events(self) -> bool:
        return False


class _EventsOption(_Fault):
    events: StrictBool = False

    def params(self) -> dict[str, Any]:
        return super().params() | ({"events": True} if self.events else {})

    @property
    def hooks_events(self) -> bool:
        return self.events


class Crash(_Fault):
    type: Literal["crash"]


class Latency(_EventsOption):
    type: Literal["latency"]
    latency_ms: Annotated[float, _number(0, MAX_LATENCY_MS)] = 1000.0


class Intermittent(_EventsOption):
    type: Literal["intermittent"]
    probability: Annotated[float, _number(0, 1)] = 0.5


class IncorrectResponse(_Fault):
    type: Literal["incorrect_response"]
    product_id: Identifier = "PROD-001"


class Clear(_Fault):
    type: Literal["clear"]


FaultBody = Annotated[
    Crash | Latency | Intermittent | IncorrectResponse | Clear, Field(discriminator="type")
]
_ADAPTER: TypeAdapter[FaultBody] = TypeAdapter(FaultBody)

#: What each field must be: the one sentence answered for any error in it.
FIELD_RULES = {
    "latency_ms": f"latency_ms must be a number between 0 and {MAX_LATENCY_MS}",
    "probability": "probability must be a number between 0 and 1",
    "ttl_s": f"ttl_s must be a number greater than 0 and at most {MAX_TTL_S}",
    "seed": "seed must be an integer between -2^63 and 2^63 - 1",
    "product_id": f"product_id must be a string of 1 to {MAX_ID_LENGTH} characters "
                  "without control characters",
    "events": "events must be true or false",
}


def explain(errors: list[ErrorDetails]) -> str:
    """The sentence for a refused body (the contract: it names the allowed types)."""
    for err in errors:
        if err["type"] == "union_tag_invalid":
            tag = (err.get("ctx") or {}).get("tag")
            return f"unknown failure type {short(tag)}; allowed types: {ALLOWED_TEXT}"
        if err["loc"] and err["loc"][-1] in FIELD_RULES:
            return FIELD_RULES[str(err["loc"][-1])]
    return f"body must be a JSON object with a 'type', one of: {ALLOWED_TEXT}"


def parse_fault_body(raw: bytes) -> FaultBody:
    """The validated body; ApiError(400) with a sentence otherwise."""
    return parse_body(_ADAPTER, raw, explain)
