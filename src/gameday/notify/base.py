"""The notifier contract and the record each notification leaves in the journal.

A notifier is told about a GameDay at four moments, each with its typed record (see
:mod:`gameday.run_record`): ``start(StartNotice)``, ``phase_end(PhaseRecord)``,
``abort(AbortNotice)`` and ``verdict(Outcome)``. Every call returns a
:class:`~gameday.run_record.NotificationRecord` and appends it to ``notifier.records``;
the run adds them to the journal's ``notifications``.

A notifier never raises and never blocks a GameDay for long: delivery failures become
``ok=False`` records, logged without secrets.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, runtime_checkable

from gameday.notify.messages import (
    Message,
    abort_message,
    phase_message,
    start_message,
    verdict_message,
)
from gameday.notify.redact import scrub
from gameday.run_record import AbortNotice, NotificationRecord, Outcome, PhaseRecord, StartNotice

__all__ = [
    "Channel",
    "Kind",
    "NotificationRecord",
    "Notifier",
    "DeliveryError",
    "BaseNotifier",
]

Channel = Literal["slack-bot", "slack-webhook", "console"]
Kind = Literal["start", "phase_end", "abort", "verdict", "report_file"]

logger = logging.getLogger(__name__)


@runtime_checkable
class Notifier(Protocol):
    """What a run calls. Every method takes its typed record and never raises."""

    records: list[NotificationRecord]

    def start(self, run: StartNotice) -> NotificationRecord: ...

    def phase_end(self, phase: PhaseRecord) -> NotificationRecord: ...

    def abort(self, info: AbortNotice) -> NotificationRecord: ...

    def verdict(self, outcome: Outcome) -> NotificationRecord: ...


class DeliveryError(Exception):
    """A message was not delivered; the message is already free of secrets."""


class BaseNotifier:
    """Builds the message for each moment, delivers it, records the outcome.

    Subclasses set ``channel`` and implement :meth:`_deliver`, which raises on failure
    (any exception). Calls are serialised so a thread's replies keep their order.
    """

    channel: Channel

    def __init__(self) -> None:
        self.records: list[NotificationRecord] = []
        self._lock = threading.Lock()

    def start(self, run: StartNotice) -> NotificationRecord:
        return self._notify("start", start_message, run)

    def phase_end(self, phase: PhaseRecord) -> NotificationRecord:
        return self._notify("phase_end", phase_message, phase)

    def abort(self, info: AbortNotice) -> NotificationRecord:
        return self._notify("abort", abort_message, info)

    def verdict(self, outcome: Outcome) -> NotificationRecord:
        return self._notify("verdict", verdict_message, outcome)

    def journal_records(self) -> list[dict[str, Any]]:
        """``records`` as plain JSON (what the journal's ``notifications`` holds)."""
        return [record.to_journal() for record in self.records]

    def _deliver(self, kind: Kind, message: Message) -> None:
        raise NotImplementedError

    def _secrets(self) -> tuple[str, ...]:
        """Strings that must never appear in an error or a log line."""
        return ()

    def _notify(self, kind: Kind, build: Any, data: Any) -> NotificationRecord:
        return self._attempt(kind, lambda: self._deliver(kind, build(data)))

    def _attempt(self, kind: Kind, action: Callable[[], None]) -> NotificationRecord:
        """Run ``action`` (a delivery), record how it went; never raises."""
        at = datetime.now(UTC).isoformat()
        error: str | None = None
        with self._lock:
            try:
                action()
            except Exception as exc:  # a notification must never fail the GameDay
                error = scrub(_describe(exc), self._secrets())
                logger.warning("%s notification %r not delivered: %s", self.channel, kind, error)
        record = NotificationRecord(
            at=at, channel=self.channel, kind=kind, ok=error is None, error=error  # type: ignore[arg-type]
        )
        self.records.append(record)
        return record

    def __repr__(self) -> str:
        return f"{type(self).__name__}(records={len(self.records)})"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, DeliveryError):
        return str(exc)
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
