"""A numeric target: ``{"op": "<=", "value": 0.8}`` (numbers stay numbers).

Its own module so that the run record and the evidence's records can both use it.
"""

from __future__ import annotations

import operator
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["Op", "Number", "Threshold"]

Op = Literal["<=", ">=", "<", ">", "=="]
Number = float | int
_OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt,
        "==": operator.eq}
_SIGNS = {"<=": "≤", ">=": "≥", "<": "<", ">": ">", "==": "="}


class Threshold(BaseModel):
    """A numeric SLO target: the value must satisfy ``value_measured <op> value``."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    op: Op
    value: Number

    def holds(self, measured: Number | None) -> bool:
        """Whether ``measured`` meets the target; a missing value (None) never does."""
        return measured is not None and bool(_OPS[self.op](measured, self.value))

    def __str__(self) -> str:
        return f"{_SIGNS[self.op]} {self.value:g}"

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        """Version 1 wrote targets as text: "≥ 0.999", "≤ 261.4", "no abort"."""
        if not isinstance(data, str):
            return data
        if data.strip() == "no abort":
            return {"op": "==", "value": 0}
        m = re.fullmatch(r"\s*(≤|≥|<=|>=|<|>|=)\s*(-?[0-9.eE+-]+)\s*", data)
        if not m:
            raise ValueError(f"a target is {{op, value}} (got {data!r})")
        op = {"≤": "<=", "≥": ">=", "=": "=="}.get(m.group(1), m.group(1))
        return {"op": op, "value": float(m.group(2))}
