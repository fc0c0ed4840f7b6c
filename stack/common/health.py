"""The ``GET /health`` payload every service answers."""

from __future__ import annotations

from typing import Any

from stack.common.timeutil import now_iso

__all__ = ["health_payload"]


def health_payload(service: str, **extra: Any) -> dict[str, Any]:
    return {"status": "UP", "service": service, "timestamp": now_iso(), **extra}
