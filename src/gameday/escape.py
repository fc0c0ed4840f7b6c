"""Escaping what a run recorded before it is rendered: Markdown, HTML, table cells.

A run records text the project did not write: role names and notes typed in a session,
the system under test's error bodies quoted in ``error``, abort reasons, check names, a
runbook path. Rendered as is, ``<script>`` or ``<img onerror=…>`` in any of them would run
when someone opens the report, the index, the trends page or a Prefect artifact. So
every such value goes through one of these before it meets markup:

- :func:`md` for Markdown (report cells, the Prefect summary): HTML-special characters as
  entities, every other ASCII punctuation backslash-escaped (no emphasis, link, table
  cell or heading can be smuggled in), line breaks as spaces.
- :func:`html_text` for HTML text and attribute values.
- :func:`styler` for pandas tables: a Styler that escapes every cell (pandas' Styler does
  not by default).

Slack's mrkdwn has its own rules: :func:`gameday.notify.blocks.esc`.
"""

from __future__ import annotations

import html
import string
from typing import Any

__all__ = ["md", "html_text", "styler"]

_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"}
_MD = {c: "\\" + c for c in string.punctuation if c not in _ENTITIES}
_TABLE = str.maketrans({**_ENTITIES, **_MD, "\n": " ", "\r": " "})


def md(value: Any) -> str:
    """``value`` as Markdown text that renders exactly as the text (None → "—")."""
    if value is None:
        return "—"
    return str(value).translate(_TABLE)


def html_text(value: Any) -> str:
    """``value`` as HTML text or attribute value (quotes escaped too)."""
    return html.escape("" if value is None else str(value), quote=True)


def styler(df: Any, *, precision: int = 4, na_rep: str = "—") -> Any:
    """``df.style`` with every cell HTML-escaped, the index hidden, numbers formatted."""
    return (df.style.hide(axis="index")
            .format(precision=precision, na_rep=na_rep, escape="html")
            .format_index(escape="html", axis="columns"))
