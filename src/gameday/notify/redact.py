"""Keep Slack secrets (bot tokens, webhook URLs) out of errors and log lines.

``scrub`` removes known secret strings, anything shaped like a Slack token, and every
URL (a webhook URL *is* a secret, and error strings from urllib may quote the URL).
:data:`SDK_LOGGER` is the logger handed to slack-sdk's clients: its filter scrubs each
record, and its level (WARNING) keeps the SDK from dumping request URLs and bodies,
which it does whenever its logger's own level is DEBUG or unset.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

__all__ = ["scrub", "SDK_LOGGER", "REDACTED"]

REDACTED = "[redacted]"

_TOKEN = re.compile(r"\bxox[a-z]-[A-Za-z0-9-]+")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>)\]]+", re.IGNORECASE)
_WEBHOOK_PATH = re.compile(r"/services/[A-Za-z0-9_-]+/[A-Za-z0-9_-]+/[A-Za-z0-9_-]+")


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret, token-shaped string and URL replaced by a marker."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _TOKEN.sub(REDACTED, text)
    text = _URL.sub("[url]", text)
    return _WEBHOOK_PATH.sub(REDACTED, text)


class _ScrubFilter(logging.Filter):
    """Rewrites a record's message in place so no handler ever sees a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: drop its arguments rather than leak them
            message = str(record.msg)
        record.msg = scrub(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            # Tracebacks may quote URLs; keep the fact of the error, not its text.
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


SDK_LOGGER = logging.getLogger("gameday.notify.slack_sdk")
SDK_LOGGER.setLevel(logging.WARNING)
if not any(isinstance(f, _ScrubFilter) for f in SDK_LOGGER.filters):
    SDK_LOGGER.addFilter(_ScrubFilter())
