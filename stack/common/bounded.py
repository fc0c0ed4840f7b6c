"""Bound an HTTP call in time without cancelling it.

httpcore 1.0.9 leaks a connection-pool slot for good when a request is cancelled while the
pool is busy (encode/httpcore#1093, #830; httpx#1461). ``asyncio.wait_for`` around
``client.get`` cancels on timeout, so under load the voter's and the monitor's pools filled
up with dead connections until every request waited for a slot and timed out: the voter
answered 503 to everything although every replica was healthy. :func:`bounded` gives the
caller the same deadline but leaves the request running in the background, where it ends
by the client's own (per-phase) timeout and releases its connection properly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

__all__ = ["bounded"]

T = TypeVar("T")
_orphans: set[asyncio.Future] = set()


def _reap(fut: asyncio.Future) -> None:
    _orphans.discard(fut)
    if not fut.cancelled():
        fut.exception()  # retrieved: an orphan's failure is expected, not news


async def bounded(aw: Awaitable[T], timeout_s: float | None) -> T:
    """Await ``aw`` for at most ``timeout_s`` s; raise TimeoutError after that.

    ``aw`` is never cancelled, not on timeout and not when the caller itself is cancelled.
    """
    fut = asyncio.ensure_future(aw)
    if not fut.done():
        _orphans.add(fut)
        fut.add_done_callback(_reap)
        done, _ = await asyncio.wait({fut}, timeout=timeout_s)
        if not done:
            raise TimeoutError(f"no answer within {timeout_s} s")
    return fut.result()
