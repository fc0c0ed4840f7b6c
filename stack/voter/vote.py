"""One vote: ask every replica in parallel, answer as soon as two return equal values.

A value is what a reply says about the stock (``available_quantity`` and
``reserved_quantity``; "not found" is a value too). Replies that are errors or time out
count as failures. Requests still open when a majority exists no longer delay the answer:
with ``keep_late`` they are handed back unfinished (``Ballot.late``) so the caller can
still learn, in the background, whether that replica was wrong or failing; otherwise
they are cancelled.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Collection, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from stack.common.bounded import bounded
from stack.voter.retry_budget import RetryBudget

__all__ = ["Reply", "Ballot", "NOT_FOUND", "fan_out", "product_value", "inventory_value"]

NOT_FOUND = ("NOT_FOUND",)
QUORUM = 2


@dataclass(frozen=True)
class Reply:
    instance_id: str
    elapsed_ms: float
    value: Hashable | None = None  # None when the replica failed
    body: dict[str, Any] | None = None
    failure: str | None = None  # "timeout" | "error"
    detail: str = ""
    offset: int | None = None  # the events the replica said it had applied

    @property
    def ok(self) -> bool:
        return self.failure is None


@dataclass
class Ballot:
    replies: list[Reply] = field(default_factory=list)
    winner: Hashable | None = None
    unanswered: list[str] = field(default_factory=list)
    late: list[asyncio.Task[Reply]] = field(default_factory=list)
    reasks: int = 0  # rounds of re-asking disagreeing replicas this vote took
    lag_reasks: int = 0  # of which only the replicas behind were asked (by offset)
    failure_reasks: int = 0  # replicas asked again at once after they failed
    skipped: list[str] = field(default_factory=list)  # standby replicas never asked

    @property
    def answered(self) -> list[Reply]:
        return [r for r in self.replies if r.ok]

    @property
    def failed(self) -> list[Reply]:
        return [r for r in self.replies if not r.ok]

    @property
    def agreeing(self) -> list[Reply]:
        return (
            [r for r in self.answered if r.value == self.winner] if self.winner is not None else []
        )

    @property
    def outliers(self) -> list[Reply]:
        """Answers that differ from the majority's at the same point of the event log:
        wrong, not merely behind or ahead (see :attr:`lagging`)."""
        if self.winner is None:
            return []
        return [r for r in self.answered if r.value != self.winner and not self.lags(r)]

    @property
    def lagging(self) -> list[Reply]:
        """Answers that differ from the majority's and hold other events than it did
        (their applied offset is none of the agreeing replicas'): replication timing,
        not a wrong answer. Under writes, the replica that applied an event first
        disagrees with the two that have not yet, for a moment; counted as an outlier,
        it was reported to the monitor hundreds of times a minute."""
        if self.winner is None:
            return []
        return [r for r in self.answered if r.value != self.winner and self.lags(r)]

    def lags(self, reply: Reply) -> bool:
        """Whether ``reply`` holds other events than every agreeing answer did."""
        held = {r.offset for r in self.agreeing}
        return reply.offset is not None and None not in held and reply.offset not in held

    @property
    def disagreement(self) -> bool:
        """Two or more answers and no majority among them: replicas out of step."""
        return self.winner is None and len(self.answered) >= QUORUM


def product_value(body: dict[str, Any]) -> Hashable:
    return (body["available_quantity"], body["reserved_quantity"])


def inventory_value(body: dict[str, Any]) -> Hashable:
    rows = body["inventory"]
    return tuple(
        sorted((r["product_id"], r["available_quantity"], r["reserved_quantity"]) for r in rows)
    )


def _majority(replies: list[Reply]) -> Hashable | None:
    counts = Counter(r.value for r in replies if r.ok)
    for value, count in counts.most_common(1):
        if count >= QUORUM:
            return value
    return None


def _offset(body: dict[str, Any]) -> int | None:
    """The replica's ``applied_offset`` (events applied), when it says."""
    offset = body.get("applied_offset")
    return offset if isinstance(offset, int) and not isinstance(offset, bool) else None


async def _ask(
    client: Any,
    instance_id: str,
    url: str,
    value_of: Callable[[dict[str, Any]], Hashable],
    timeout_s: float | None,
    delay_s: float = 0.0,
) -> Reply:
    if delay_s > 0:
        await asyncio.sleep(delay_s)
    start = time.perf_counter()

    def ms() -> float:
        return (time.perf_counter() - start) * 1000.0

    try:
        # bounded() bounds the whole request without cancelling it (see stack.common.bounded);
        # httpx's timeout applies to each phase.
        response = await bounded(client.get(url), timeout_s)
    except (httpx.TimeoutException, TimeoutError):
        return Reply(instance_id, ms(), failure="timeout", detail="no answer within the timeout")
    except (httpx.HTTPError, OSError) as exc:  # OSError: Http1Error, connection refused
        return Reply(instance_id, ms(), failure="error", detail=type(exc).__name__)
    if response.status_code == 404:
        return Reply(instance_id, ms(), value=NOT_FOUND)
    try:
        body = response.json()
        if response.status_code != 200:
            return Reply(instance_id, ms(), failure="error", detail=f"HTTP {response.status_code}")
        return Reply(instance_id, ms(), value=value_of(body), body=body, offset=_offset(body))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return Reply(instance_id, ms(), failure="error", detail=f"bad answer: {exc}")


def _tell(on_reply: Callable[[Reply], None]) -> Callable[[asyncio.Task[Reply]], None]:
    """A done-callback handing a finished request's reply to ``on_reply``."""

    def done(task: asyncio.Task[Reply]) -> None:
        if not task.cancelled() and task.exception() is None:
            on_reply(task.result())

    return done


def _with_offset(url: str, offset: int, name: str = "min_offset") -> str:
    return f"{url}{'&' if '?' in url else '?'}{name}={offset}"


async def fan_out(
    clients: httpx.AsyncClient | Mapping[str, Any],
    targets: dict[str, str],
    value_of: Callable[[dict[str, Any]], Hashable],
    *,
    keep_late: bool = False,
    timeout_s: float | None = None,
    reask_after_s: float | None = None,
    max_reasks: int = 1,
    standby: Collection[str] = (),
    budget_s: float | None = None,
    retry_budget: RetryBudget | None = None,
    versioned: bool = False,
    on_reply: Callable[[Reply], None] | None = None,
) -> Ballot:
    """Ask ``targets`` ({instance_id: url}) at once; stop as soon as two values are equal.

    ``clients`` is one client, or one per instance id: anything with ``async get(url)``
    returning a response with ``status_code`` and ``json()`` (the voter uses
    :class:`stack.common.http1.Http1Client`; tests use httpx).

    ``timeout_s`` bounds each request as a whole (httpx's own timeout bounds each phase).

    ``standby``: replicas (the monitor holds them OFF) asked only when the others cannot
    settle the vote alone: fewer than two of them, one failed, or two disagree.

    ``reask_after_s``: when two or more replicas have answered and disagree, ask again,
    up to ``max_reasks`` times:

    - *lag-aware*: when the replicas say which events they hold (``applied_offset``) and
      those differ, the first re-ask (``versioned`` votes) asks the ones ahead for their
      row at the laggard's offset (``?at_offset=N``: no wait, and two healthy replicas
      agree at that point of the log); after that, or when a replica no longer keeps
      that row (409), all are asked again at once for the value once they hold the
      leader's events (``?min_offset=N``: a replica behind waits for them, briefly);
    - otherwise (same offset, or no offsets): every replica that is done (answered or
      failed) after that delay, doubling each time (30, 60, 120 ms).

    A replica not held back that fails is asked again at once, once per vote (within
    the budget).

    ``retry_budget``: each re-ask of one replica takes a token from it; none is made
    without one (a voter overloaded by a burst must not double its own load).

    ``budget_s``: no re-ask starts later than this after the vote began (so a vote ends
    within about ``budget_s + timeout_s``).

    Each replica's latest answer counts (a failed re-ask does not erase an earlier
    answer). A value still needs two replicas that hold it: offsets only choose whom to
    ask again, so a wrong answer is outvoted as before. This is the vote's only retry.

    ``on_reply``: called with every reply as its request finishes, late ones (after the
    vote, ``keep_late``) included; a request cancelled unfinished is not a reply.
    """

    def afford(n: int) -> bool:
        return retry_budget is None or retry_budget.withdraw(n)

    def ask(instance_id: str, delay_s: float = 0.0, min_offset: int | None = None,
            at_offset: int | None = None) -> None:
        client = clients if isinstance(clients, httpx.AsyncClient) else clients[instance_id]
        url = targets[instance_id]
        if min_offset is not None:
            url = _with_offset(url, min_offset)
        if at_offset is not None:
            url = _with_offset(url, at_offset, "at_offset")
        task = asyncio.create_task(_ask(client, instance_id, url, value_of, timeout_s, delay_s))
        if on_reply is not None:
            task.add_done_callback(_tell(on_reply))
        tasks[task] = instance_id
        pending.add(task)

    started = time.perf_counter()
    retried: set[str] = set()  # replicas asked again at once after a failure
    tasks: dict[asyncio.Task[Reply], str] = {}
    pending: set[asyncio.Task[Reply]] = set()
    latest: dict[str, Reply] = {}
    reasks = 0
    at_offset_ok = True  # the first lag re-ask asks the leader for the laggard's offset
    ballot = Ballot()
    held_back = [i for i in targets if i in standby]
    if len(targets) - len(held_back) < QUORUM:
        held_back = []
    ballot.skipped = list(held_back)
    for i in targets:
        if i not in held_back:
            ask(i)
    try:
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            failed_now = []
            for t in done:
                reply = t.result()
                earlier = latest.get(reply.instance_id)
                if reply.ok or earlier is None or not earlier.ok:  # a failed re-ask does
                    latest[reply.instance_id] = reply  # not erase an answer
                if not reply.ok:
                    failed_now.append(reply.instance_id)
            ballot.winner = _majority(list(latest.values()))
            if ballot.winner is not None:
                break
            in_budget = budget_s is None or time.perf_counter() - started < budget_s
            for i in failed_now:
                # A replica the monitor holds ON that failed once is asked again at once
                # (a timeout on a starved machine, an intermittent fault's draw): waiting
                # for the held-off one alone (800 ms late, say) would lose the vote.
                if reask_after_s is not None and in_budget and i not in standby \
                        and i not in retried and afford(1):
                    retried.add(i)
                    ballot.failure_reasks += 1
                    ask(i)
            asking = {tasks[t] for t in pending}
            answered = [r for r in latest.values() if r.ok and r.instance_id not in asking]
            offsets = [r.offset for r in answered]
            lagging = len(answered) >= QUORUM and None not in offsets and (
                min(offsets) < max(offsets)
            )
            can_reask = reask_after_s is not None and reasks < max_reasks and in_budget
            # Re-ask when two answers disagree, or when nothing is left to wait for and
            # one replica answered: a healthy replica that timed out on a starved machine
            # (or failed an intermittent fault's draw) may well answer the second time.
            reask = can_reask and (len(answered) >= QUORUM or bool(answered and not pending))
            if held_back and (
                any(not r.ok for r in latest.values())
                or (len(answered) >= QUORUM and not (lagging and can_reask))
                or not (pending or reask)
            ):
                for i in held_back:  # the others cannot settle it alone
                    ask(i)
                held_back = []
                ballot.skipped = []
            if not reask:
                continue
            if lagging and at_offset_ok and versioned:
                # The leader, for its row at the laggard's offset: one request, no wait,
                # and two healthy replicas then agree at that point of the log (asking
                # "at least the leader's offset" let them leapfrog under steady writes).
                behind = min(answered, key=lambda r: r.offset or 0)
                ahead = [r.instance_id for r in answered if r.offset != behind.offset]
                if afford(len(ahead)):
                    at_offset_ok = False
                    reasks += 1
                    ballot.reasks = reasks
                    ballot.lag_reasks += 1
                    for i in ahead:
                        ask(i, at_offset=behind.offset)
                continue
            if lagging:
                again = [r.instance_id for r in answered]
            else:
                again = [i for i in latest if i not in asking]
            if not afford(len(again)):
                continue
            reasks += 1
            ballot.reasks = reasks
            if lagging:
                # Both again, at once, for the leader's events: the leader answers at
                # once, the one behind as soon as it has caught up, so the two reads are
                # a catch-up apart instead of a whole round (replicas apply events in
                # batches, so they rarely stop at the very same offset).
                lead = max(offsets)
                for i in again:
                    ask(i, min_offset=lead)
                ballot.lag_reasks += 1
                continue
            # No lag explains it: everyone who is done, answered or failed, is asked again
            # (a replica that timed out on a busy machine may answer the second time).
            for i in again:
                ask(i, (reask_after_s or 0.0) * 2 ** (reasks - 1))
    finally:
        for task in pending:
            if keep_late and ballot.winner is not None:
                ballot.late.append(task)
            else:
                task.cancel()
        ballot.unanswered = sorted(tasks[t] for t in pending)
    ballot.replies = sorted(latest.values(), key=lambda r: r.instance_id)
    return ballot
