"""Slack notifiers: a bot token posting one thread per GameDay, or an incoming webhook.

Bot token + channel: the start message is posted with ``chat.postMessage``; every
later message replies in its thread (``thread_ts``); the abort alert and the verdict
are also broadcast to the channel (``reply_broadcast``). A webhook cannot thread, so it
posts the same messages one after another.

Bounded cost: each client has a timeout (``timeout_s``) and retry handlers bound to a
per-message budget (``budget_s``, see :mod:`gameday.notify.retry`). After
``breaker_after`` consecutive failures, phase messages are no longer attempted (they
are recorded as not sent); start, abort and verdict always are.

Attaching the report (bot only, scope ``files:write``, ``GAMEDAY_SLACK_ATTACH_REPORT``):
after the verdict, ``report.html`` is uploaded into the thread with ``files_upload_v2``
(``files.getUploadURLExternal``, the upload itself, ``files.completeUploadExternal``) when
it is at most ``attach_max_bytes``; a larger report is not sent. Either outcome is one
``report_file`` record; a failed upload never fails the GameDay.

Secrets stay ``SecretStr`` until the client is built; they never appear in a record,
an error we raise, a log line or a repr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import SecretStr
from slack_sdk import WebClient, WebhookClient
from slack_sdk.errors import SlackApiError

from gameday.notify.base import BaseNotifier, DeliveryError, Kind
from gameday.notify.blocks import esc
from gameday.notify.messages import Message
from gameday.notify.redact import SDK_LOGGER, scrub
from gameday.notify.retry import Deadline, budgeted_retry_handlers
from gameday.run_record import NotificationRecord, Outcome

__all__ = ["SlackBotNotifier", "SlackWebhookNotifier", "DEFAULT_TIMEOUT_S", "DEFAULT_BUDGET_S"]

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_BUDGET_S = 15.0
DEFAULT_BREAKER_AFTER = 3
#: An upload carries megabytes: its HTTP calls get longer than a message's.
DEFAULT_UPLOAD_TIMEOUT_S = 60.0
#: Messages still attempted when Slack has failed repeatedly: they matter most.
_ALWAYS_ATTEMPTED: frozenset[Kind] = frozenset({"start", "abort", "verdict"})


class _SlackNotifier(BaseNotifier):
    def __init__(
        self,
        *,
        timeout_s: float,
        budget_s: float,
        max_retry_count: int,
        breaker_after: int,
    ) -> None:
        super().__init__()
        self.timeout_s = timeout_s
        self._deadline = Deadline(max(budget_s, timeout_s))
        self._retry_handlers = budgeted_retry_handlers(
            self._deadline, attempt_s=timeout_s, max_retry_count=max_retry_count
        )
        self._breaker_after = breaker_after
        self._consecutive_failures = 0

    def _deliver(self, kind: Kind, message: Message) -> None:
        if self._consecutive_failures >= self._breaker_after and kind not in _ALWAYS_ATTEMPTED:
            raise DeliveryError(
                f"not sent: Slack failed {self._consecutive_failures} times in a row"
            )
        self._deadline.restart()
        try:
            self._send(kind, message)
        except Exception:
            self._consecutive_failures += 1
            raise
        self._consecutive_failures = 0

    def _send(self, kind: Kind, message: Message) -> None:
        raise NotImplementedError


class SlackBotNotifier(_SlackNotifier):
    """Posts with a bot token to ``channel``; one thread per GameDay."""

    channel = "slack-bot"

    def __init__(
        self,
        token: SecretStr,
        channel: str,
        *,
        api_url: str = "https://slack.com/api/",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        budget_s: float = DEFAULT_BUDGET_S,
        max_retry_count: int = 2,
        breaker_after: int = DEFAULT_BREAKER_AFTER,
        attach_max_bytes: int | None = None,
        upload_timeout_s: float = DEFAULT_UPLOAD_TIMEOUT_S,
    ) -> None:
        super().__init__(
            timeout_s=timeout_s,
            budget_s=budget_s,
            max_retry_count=max_retry_count,
            breaker_after=breaker_after,
        )
        self._token = token
        #: Attach report.html to the thread when it is at most this big (None: never).
        self.attach_max_bytes = attach_max_bytes
        self._api_url = api_url if api_url.endswith("/") else api_url + "/"
        self._upload_timeout_s = upload_timeout_s
        self.slack_channel = channel
        #: ``ts`` and channel id of the thread's first message, once posted.
        self.thread_ts: str | None = None
        self.thread_channel: str | None = None
        self._client = WebClient(
            token=token.get_secret_value(),
            base_url=api_url if api_url.endswith("/") else api_url + "/",
            timeout=timeout_s,  # type: ignore[arg-type]  # urllib takes a float
            logger=SDK_LOGGER,
            retry_handlers=self._retry_handlers,
        )

    def _secrets(self) -> tuple[str, ...]:
        return (self._token.get_secret_value(),)

    def verdict(self, outcome: Outcome) -> NotificationRecord:
        """The verdict message, then (when configured) the report attached to the thread."""
        record = super().verdict(outcome)
        if self.attach_max_bytes is not None and outcome.report:
            self._attempt("report_file", lambda: self._attach(outcome))
        return record

    def _attach(self, outcome: Outcome) -> None:
        path = Path(str(outcome.report))
        size = path.stat().st_size
        if size > int(self.attach_max_bytes or 0):
            raise DeliveryError(
                f"report not attached: {path.name} is {size / 1e6:.1f} MB, over the "
                f"{(self.attach_max_bytes or 0) / 1e6:g} MB limit (GAMEDAY_SLACK_ATTACH_MAX_MB)")
        self._deadline.restart()
        uploader = WebClient(
            token=self._token.get_secret_value(), base_url=self._api_url,
            timeout=self._upload_timeout_s,  # type: ignore[arg-type]
            logger=SDK_LOGGER, retry_handlers=self._retry_handlers)
        args: dict[str, Any] = {
            "file": str(path), "filename": f"gameday-{outcome.run_id}.html",
            "title": f"GameDay report {outcome.run_id}",
            "channel": self.thread_channel or self.slack_channel,
            "initial_comment": f"📎 Report of GameDay {esc(outcome.name)} "
                               f"(run {esc(outcome.run_id)}): open it in a browser"}
        if self.thread_ts:
            args["thread_ts"] = self.thread_ts
        try:
            uploader.files_upload_v2(**args)
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            raise DeliveryError(
                f"report not attached: Slack answered {scrub(str(error or 'an error'))}"
                + (" (the bot needs the files:write scope)" if error == "missing_scope"
                   else "")) from None

    def _send(self, kind: Kind, message: Message) -> None:
        args: dict[str, Any] = {
            "channel": self.thread_channel or self.slack_channel,
            "text": message.text,
            "blocks": message.blocks,
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if self.thread_ts and kind != "start":
            args["thread_ts"] = self.thread_ts
            if kind in ("abort", "verdict"):
                args["reply_broadcast"] = True
        try:
            response = self._client.chat_postMessage(**args)
        except SlackApiError as exc:
            status = getattr(exc.response, "status_code", "?")
            error = exc.response.get("error") if exc.response is not None else None
            raise DeliveryError(
                f"Slack API answered HTTP {status}: {scrub(str(error or 'no error code'))}"
            ) from None
        # The first message delivered starts the thread (normally the start message;
        # if that failed, the next one that gets through).
        if kind == "start" or self.thread_ts is None:
            self.thread_ts = response.get("ts")
            self.thread_channel = response.get("channel") or self.thread_channel


class SlackWebhookNotifier(_SlackNotifier):
    """Posts to an incoming webhook; no threads (webhooks cannot reply)."""

    channel = "slack-webhook"

    def __init__(
        self,
        url: SecretStr,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        budget_s: float = DEFAULT_BUDGET_S,
        max_retry_count: int = 2,
        breaker_after: int = DEFAULT_BREAKER_AFTER,
    ) -> None:
        super().__init__(
            timeout_s=timeout_s,
            budget_s=budget_s,
            max_retry_count=max_retry_count,
            breaker_after=breaker_after,
        )
        self._url = url
        self._client = WebhookClient(
            url=url.get_secret_value(),
            timeout=timeout_s,  # type: ignore[arg-type]
            logger=SDK_LOGGER,
            retry_handlers=self._retry_handlers,
        )

    def _secrets(self) -> tuple[str, ...]:
        return (self._url.get_secret_value(),)

    def _send(self, kind: Kind, message: Message) -> None:
        # WebhookClient does not raise on 4xx/5xx: the status is the only signal.
        response = self._client.send(
            text=message.text, blocks=message.blocks, unfurl_links=False, unfurl_media=False
        )
        if response.status_code != 200:
            body = scrub(str(response.body or "")[:200], self._secrets())
            raise DeliveryError(f"Slack webhook answered HTTP {response.status_code}: {body}")
