"""The notifier used when Slack is not configured: the same messages, printed readably.

The blocks Slack would get are rendered as plain text (headers underlined, fields as
``label: value`` lines, mrkdwn markers removed), so the console and Slack never say
different things.
"""

from __future__ import annotations

import re
import sys
from typing import Any, TextIO

from gameday.notify.base import BaseNotifier, Kind
from gameday.notify.blocks import Block
from gameday.notify.messages import Message

__all__ = ["ConsoleNotifier", "render_plain"]

_LINK = re.compile(r"<([^|>]+)\|([^>]+)>")


def _plain(mrkdwn: str) -> str:
    text = _LINK.sub(r"\2 (\1)", mrkdwn)
    text = text.replace("*", "").replace("`", "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def render_plain(message: Message) -> str:
    """``message``'s blocks as plain text lines (its fallback text if it has none)."""
    lines: list[str] = []
    for block in message.blocks:
        lines.extend(_block_lines(block))
    return "\n".join(lines) if lines else message.text


def _block_lines(block: Block) -> list[str]:
    kind = block.get("type")
    if kind == "header":
        title = block["text"]["text"]
        return [title, "=" * min(len(title), 60)]
    if kind == "section":
        out: list[str] = []
        if "text" in block:
            out.extend(_plain(block["text"]["text"]).splitlines())
        for item in block.get("fields", []):
            label, _, value = _plain(item["text"]).partition("\n")
            out.append(f"  {label}: {value.replace(chr(10), ' ')}")
        return out
    if kind == "context":
        return [_plain(" · ".join(e.get("text", "") for e in block.get("elements", [])))]
    if kind == "divider":
        return ["-" * 40]
    return []


class ConsoleNotifier(BaseNotifier):
    """Prints each message to ``stream`` (stdout when the call happens by default)."""

    channel = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self._stream = stream

    def _deliver(self, kind: Kind, message: Message) -> None:
        stream: Any = self._stream or sys.stdout
        stream.write(f"\n[gameday {kind}]\n{render_plain(message)}\n")
        stream.flush()
