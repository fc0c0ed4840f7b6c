"""slack-sdk retry handlers that stay inside a time budget.

slack-sdk retries only connection errors by default. We add its
``RateLimitErrorRetryHandler`` (sleeps for ``Retry-After`` plus up to 1 s of jitter)
and ``ServerErrorRetryHandler`` (HTTP 500/503), each with a small retry count, and make
every handler refuse a retry that would not finish within the current call's budget:
the wait plus one more full attempt (the client timeout) must fit in what remains. A
``Retry-After`` longer than that is not waited for. So one notification takes at most
``max(timeout_s, budget_s)`` seconds, whatever Slack does.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_sdk.http_retry import ConnectionErrorRetryHandler, RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

__all__ = ["Deadline", "budgeted_retry_handlers"]

logger = logging.getLogger(__name__)

#: RateLimitErrorRetryHandler sleeps Retry-After + random() seconds.
_RATE_LIMIT_JITTER_S = 1.0


class Deadline:
    """The end of the current call's time budget, shared by one client's handlers."""

    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s
        self._end = time.monotonic() + budget_s

    def restart(self) -> None:
        self._end = time.monotonic() + self.budget_s

    def remaining(self) -> float:
        return self._end - time.monotonic()


def _retry_after(response: Any) -> int | None:
    """The ``Retry-After`` header as whole seconds (what the SDK sleeps), or None."""
    headers = getattr(response, "headers", None) or {}
    for key, value in headers.items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) and value else value
            try:
                return int(str(raw).strip())
            except ValueError:
                return None
    return None


class _BudgetedRateLimit(RateLimitErrorRetryHandler):
    def __init__(self, deadline: Deadline, attempt_s: float, max_retry_count: int) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.deadline, self.attempt_s = deadline, attempt_s

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:  # type: ignore[no-untyped-def]
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        wait = _retry_after(response)
        if wait is None:  # the SDK would crash parsing it; don't retry blind
            logger.warning("Slack answered 429 without a usable Retry-After; not retrying")
            return False
        needed = wait + _RATE_LIMIT_JITTER_S + self.attempt_s
        if needed > self.deadline.remaining():
            logger.warning(
                "Slack rate-limited us for %s s; over the notification budget, not retrying", wait
            )
            return False
        logger.info("Slack rate-limited us; retrying after %s s", wait)
        return True


class _BudgetedServerError(ServerErrorRetryHandler):
    def __init__(
        self, deadline: Deadline, attempt_s: float, max_retry_count: int, interval_s: float
    ) -> None:
        super().__init__(
            max_retry_count=max_retry_count,
            interval_calculator=FixedValueRetryIntervalCalculator(interval_s),
        )
        self.deadline, self.attempt_s, self.interval_s = deadline, attempt_s, interval_s

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:  # type: ignore[no-untyped-def]
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        if self.interval_s + self.attempt_s > self.deadline.remaining():
            return False
        logger.info("Slack answered HTTP %s; retrying", getattr(response, "status_code", "?"))
        return True


class _BudgetedConnectionError(ConnectionErrorRetryHandler):
    def __init__(
        self, deadline: Deadline, attempt_s: float, max_retry_count: int, interval_s: float
    ) -> None:
        super().__init__(
            max_retry_count=max_retry_count,
            interval_calculator=FixedValueRetryIntervalCalculator(interval_s),
        )
        self.deadline, self.attempt_s, self.interval_s = deadline, attempt_s, interval_s

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:  # type: ignore[no-untyped-def]
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        return self.interval_s + self.attempt_s <= self.deadline.remaining()


def budgeted_retry_handlers(
    deadline: Deadline,
    *,
    attempt_s: float,
    max_retry_count: int = 2,
    interval_s: float = 0.5,
) -> list[RetryHandler]:
    """Connection-error, rate-limit and server-error handlers bound to ``deadline``."""
    return [
        _BudgetedConnectionError(deadline, attempt_s, 1, interval_s),
        _BudgetedRateLimit(deadline, attempt_s, max_retry_count),
        _BudgetedServerError(deadline, attempt_s, max_retry_count, interval_s),
    ]
