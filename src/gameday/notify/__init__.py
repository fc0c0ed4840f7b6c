"""Notifications of a GameDay's start, phases, abort and verdict (Slack or console).

Usage from a flow::

    notifier = get_notifier(settings)
    notifier.start(notice)         # typed records of gameday.run_record
    notifier.phase_end(phase)
    notifier.verdict(summary)
    journal.add_notifications(notifier.records)

Which notifier: a bot token and a channel → :class:`SlackBotNotifier` (one thread per
GameDay); else a webhook URL → :class:`SlackWebhookNotifier`; else
:class:`ConsoleNotifier`. No notifier ever raises or holds a GameDay up for long.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from gameday.config import Settings
from gameday.notify.base import BaseNotifier, NotificationRecord, Notifier
from gameday.notify.console import ConsoleNotifier
from gameday.notify.messages import Message
from gameday.notify.slack import SlackBotNotifier, SlackWebhookNotifier

__all__ = [
    "get_notifier",
    "Notifier",
    "BaseNotifier",
    "NotificationRecord",
    "Message",
    "ConsoleNotifier",
    "SlackBotNotifier",
    "SlackWebhookNotifier",
]


def get_notifier(settings: Settings, **options: Any) -> BaseNotifier:
    """The notifier ``settings`` call for; ``options`` (timeout_s, budget_s, ...) go to Slack's."""
    if _is_set(settings.slack_bot_token) and settings.slack_channel:
        return SlackBotNotifier(
            settings.slack_bot_token,  # type: ignore[arg-type]  # checked by _is_set
            settings.slack_channel,
            api_url=settings.slack_api_url,
            attach_max_bytes=(int(settings.slack_attach_max_mb * 1_000_000)
                              if settings.slack_attach_report else None),
            **options,
        )
    if _is_set(settings.slack_webhook_url):
        return SlackWebhookNotifier(settings.slack_webhook_url, **options)  # type: ignore[arg-type]
    return ConsoleNotifier()


def _is_set(secret: SecretStr | None) -> bool:
    return secret is not None and bool(secret.get_secret_value().strip())
