"""The chaos token: what changes a replica's health (faults, reports) needs it when set.

``CHAOS_TOKEN`` unset (or empty) means the stack accepts these requests from anyone who
can reach it, as the original system did; set, every such request must carry
``X-Chaos-Token: <token>`` or gets 401 and changes nothing.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from stack.common.errors import ApiError

__all__ = ["TOKEN_HEADER", "require_chaos_token"]

TOKEN_HEADER = "X-Chaos-Token"


def require_chaos_token(request: Request, token: str | None) -> None:
    """Raise ApiError(401) unless ``token`` is None or the request carries it."""
    if token is None:
        return
    given = request.headers.get(TOKEN_HEADER, "")
    if not hmac.compare_digest(given.encode("utf-8", "replace"), token.encode()):
        raise ApiError(401, f"missing or wrong {TOKEN_HEADER} header")
