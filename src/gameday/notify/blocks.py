"""Block Kit primitives that cannot exceed Slack's documented limits.

Limits (Slack Block Kit reference): at most 50 blocks per message; a section's text at
most 3000 characters; at most 10 fields per section, each at most 2000 characters; a
header's plain text at most 150 characters; a context block at most 10 elements.
Every builder here truncates instead of producing a message Slack would reject.
User-supplied text goes through :func:`esc` (Slack's mrkdwn escaping of ``& < >``)
before it is placed in mrkdwn.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "MAX_BLOCKS",
    "SECTION_TEXT_MAX",
    "HEADER_TEXT_MAX",
    "FIELDS_MAX",
    "FIELD_TEXT_MAX",
    "CONTEXT_ELEMENTS_MAX",
    "FALLBACK_TEXT_MAX",
    "Block",
    "esc",
    "truncate",
    "header",
    "section",
    "fields",
    "context",
    "divider",
    "bullet_list",
    "clamp_blocks",
]

MAX_BLOCKS = 50
SECTION_TEXT_MAX = 3000
HEADER_TEXT_MAX = 150
FIELDS_MAX = 10
FIELD_TEXT_MAX = 2000
CONTEXT_ELEMENTS_MAX = 10
#: Slack truncates a message's ``text`` beyond 40,000 characters; a notification's
#: fallback is a one-line summary, so keep it far shorter.
FALLBACK_TEXT_MAX = 3000

Block = dict[str, Any]

ELLIPSIS = "…"
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,4}$")


def esc(value: object) -> str:
    """``value`` as text safe inside mrkdwn: ``&``, ``<`` and ``>`` escaped."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in "…" when cut.

    Never leaves half an HTML entity (``&am``) at the cut.
    """
    if len(text) <= limit:
        return text
    cut = _PARTIAL_ENTITY.sub("", text[: max(limit - len(ELLIPSIS), 0)])
    return cut + ELLIPSIS


def header(text: str) -> Block:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(text, HEADER_TEXT_MAX), "emoji": True},
    }


def section(mrkdwn: str) -> Block:
    text = truncate(mrkdwn, SECTION_TEXT_MAX)
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def fields(pairs: list[tuple[str, str]]) -> list[Block]:
    """Label/value fields, two per row, as many sections as needed (10 fields each).

    ``pairs`` are (label, already-escaped mrkdwn value); each renders "*label*\\nvalue",
    which reads well as a two-column grid on a phone.
    """
    items = [
        {"type": "mrkdwn", "text": truncate(f"*{label}*\n{value}", FIELD_TEXT_MAX)}
        for label, value in pairs
    ]
    return [
        {"type": "section", "fields": items[i : i + FIELDS_MAX]}
        for i in range(0, len(items), FIELDS_MAX)
    ]


def context(*texts: str) -> Block:
    elements = [
        {"type": "mrkdwn", "text": truncate(t, SECTION_TEXT_MAX)}
        for t in texts[:CONTEXT_ELEMENTS_MAX]
    ]
    return {"type": "context", "elements": elements}


def divider() -> Block:
    return {"type": "divider"}


def bullet_list(title: str, lines: list[str], limit: int = SECTION_TEXT_MAX) -> str:
    """``title`` then one line per item, dropping whole lines (with a count) past ``limit``."""
    out = title
    for shown, line in enumerate(lines):
        rest = len(lines) - shown
        more = f"\n{ELLIPSIS} and {rest} more"
        candidate = f"{out}\n{line}"
        # Keep room to say how many were left out, unless this is the last line.
        room = limit if rest == 1 else limit - len(more)
        if len(candidate) > room:
            if len(out) + len(more) > limit:  # the title alone is over the budget
                return truncate(out, limit)
            return out + more
        out = candidate
    return truncate(out, limit)


def clamp_blocks(blocks: list[Block]) -> list[Block]:
    """At most :data:`MAX_BLOCKS` blocks; the last says how many were left out."""
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    kept = blocks[: MAX_BLOCKS - 1]
    omitted = len(blocks) - len(kept)
    return [*kept, context(f"{ELLIPSIS} {omitted} more blocks not shown")]
