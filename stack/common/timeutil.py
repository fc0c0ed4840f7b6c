"""Timestamps: always timezone-aware UTC, rendered as ISO 8601."""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = ["utcnow", "iso", "now_iso", "parse_iso"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC, or None."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def now_iso() -> str:
    return utcnow().isoformat()


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 timestamp; a naive one is taken as UTC. Raises ValueError."""
    text = text.strip().replace("Z", "+00:00")
    # An unencoded "+" in a query string arrives as a space: "...T10:00:00 00:00".
    text = re.sub(r" (\d{2}:\d{2})$", r"+\1", text)
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value
