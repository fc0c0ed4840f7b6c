"""Open-loop load from a system file's request templates.

:class:`SystemLoadGenerator` is :class:`~gameday.load.LoadGenerator` (the same open-loop
schedule, latency from the intended send time, live window statistics, one keep-alive
pool) sending the system's own mix:

- the file's load as the runbook adjusts it (:func:`adjusted_load`: ``load.mix``,
  ``load.values``, ``load.follow_up_after_s``);
- the schedule of a phase is drawn from ``Random(f"{seed}:{phase}")``, per request in
  this order: the request kind (``choices`` by ``weight``), one value of each of the
  load's ``values`` lists (in file order), then the gap to the next request (``uniform``
  or ``poisson`` at the runbook's rate; shards: :mod:`gameday.load_schedule`); the same
  seed sends the same sequence;
- each request is rendered from its template (URL, headers, JSON body) with the drawn
  values, and is a success when its answer meets ``expect`` (status, JSON paths); a
  timeout, a refused connection or an unexpected answer is a failure;
- the record's ``kind`` is the request's name, ``key`` the values drawn (joined
  by ``,``); ``quorum`` is what the answer says at the request's ``quorum`` path (a
  failed request: false), empty for a request without one (no quorum rate);
- with an ``oracle`` (a :class:`~gameday.truth.Truth` read by the driver): a request with
  ``change`` puts it in force when sent (``by`` < 0 takes off, > 0 adds); a 4xx answer
  withdraws it, any other failure keeps it in force for good (nobody knows); a request
  with ``answer`` records the ``value`` read and whether it is ``wrong``;
- ``follow_up`` requests go ``after_s`` after their request succeeded (or at once when
  the phase ends, and are awaited), with ``response`` (the first answer's JSON) in their
  templates; they are recorded as ``<request>><n>`` (the n-th follow-up: not a scheduled
  request, so not in the achieved rate); one with ``ends_change`` ends the change when it
  succeeds, and keeps it in force for good when its outcome is unknown.

With ``owed`` (:class:`~gameday.owed.OwedRequests`, the run's ``follow-ups-owed.jsonl``),
every follow-up is written down, rendered (method, URL, body, headers; a header reading
``env()`` as its template), when its request succeeded, and again when it was answered
(an expected status or a 4xx): a run killed in between leaves it owed, and
:mod:`gameday.recovery` sends it when it finds the run interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gameday.load import LoadGenerator
from gameday.load_schedule import WHOLE, Shard
from gameday.owed import OwedRequest, OwedRequests
from gameday.records import RequestRecord
from gameday.runbook import LoadSpec
from gameday.systems.model import FollowUp, LoadMix, RequestTemplate
from gameday.systems.probe import expect_problems, search, template_context
from gameday.systems.render import TemplateProblem, render, render_value
from gameday.systems.resolve import ResolvedSystem
from gameday.truth import Truth

__all__ = ["SystemLoadGenerator", "SystemPlanned", "adjusted_load", "system_schedule"]

#: A header template that reads the harness's environment (a token): kept unrendered.
_READS_ENV = re.compile(r"\benv\s*\(")


@dataclass(frozen=True, slots=True)
class SystemPlanned:
    """One scheduled request: its index, intended offset (s), request name, drawn values."""

    index: int
    offset_s: float
    kind: str
    values: dict[str, Any]


def adjusted_load(load: LoadMix, spec: LoadSpec) -> LoadMix:
    """The system file's ``load`` with the runbook's adjustments: ``mix`` weights (a
    request at 0 is left out), ``values`` lists replaced, and each named request's
    follow-ups moved so the first goes ``follow_up_after_s`` after it (the rest keep
    their spacing)."""
    weights = spec.mix or {}
    delays = spec.follow_up_after_s or {}
    requests = {}
    for name, req in load.requests.items():
        weight = weights.get(name, req.weight)
        if weight <= 0:
            continue
        follow = req.follow_up
        if name in delays and follow:
            shift = delays[name] - follow[0].after_s
            follow = [f.model_copy(update={"after_s": max(0.0, f.after_s + shift)})
                      for f in follow]
        requests[name] = req.model_copy(update={"weight": weight, "follow_up": follow})
    return load.model_copy(update={"requests": requests,
                                   "values": {**load.values, **(spec.values or {})}})


def system_schedule(mix: LoadMix, spec: LoadSpec, seed: int, phase: str,
                    shard: Shard = WHOLE) -> Iterator[SystemPlanned]:
    """The requests of ``shard`` in intended-time order, drawn from ``mix`` (the file's
    load as :func:`adjusted_load` gives it); endless (module docstring)."""
    names = list(mix.requests)
    weights = [mix.requests[n].weight for n in names]
    lists = list(mix.values.items())
    rng = random.Random(f"{seed}:{phase}")
    poisson = spec.arrival == "poisson"
    offset, i = 0.0, 0
    while True:
        kind = rng.choices(names, weights)[0]
        values = {k: v[rng.randrange(len(v))] for k, v in lists}
        if i % shard.count == shard.index:
            yield SystemPlanned(i, offset, kind, values)
        i += 1
        offset = offset + rng.expovariate(spec.rate) if poisson else i / spec.rate


class SystemLoadGenerator(LoadGenerator):
    """Open-loop load of a resolved system's request templates (module docstring)."""

    def __init__(self, resolved: ResolvedSystem, spec: LoadSpec, seed: int, *,
                 truth: Truth | None = None, shard: Shard = WHOLE,
                 owed: OwedRequests | None = None) -> None:
        super().__init__(spec, seed, truth=truth, shard=shard, owed=owed)
        self.resolved = resolved
        self.mix = adjusted_load(resolved.system.load, spec)
        self._context = template_context(resolved)

    def _plan(self, phase: str) -> Iterator[Any]:
        return system_schedule(self.mix, self.spec, self.seed, phase, self.shard)

    def _begin(self, planned: Any, phase: str, intended: float, intended_mono: float,
               lag: float, records: list[RequestRecord], follow_ups: set[asyncio.Task[None]],
               flush: asyncio.Event) -> None:
        self._send_template(planned, phase, intended, intended_mono, lag, records,
                            follow_ups, flush)

    @staticmethod
    def _render(req: RequestTemplate | FollowUp, ctx: dict[str, Any]
                ) -> tuple[str, dict[str, str] | None, Any] | None:
        """``(url, headers or None, JSON body)`` rendered; None when a template fails."""
        try:
            url = render(req.url, ctx)
            headers = {k: render(v, ctx) for k, v in req.headers.items()}
            return url, headers or None, render_value(req.json_, ctx)
        except TemplateProblem:
            return None

    @staticmethod
    def _judged(req: RequestTemplate | FollowUp, status: int, answer: Any, err: str
                ) -> tuple[str, bool]:
        """``(error class, ok)`` of an answer by the request's ``expect``."""
        ok = status != 0 and not expect_problems(req.expect, status, answer)
        if status != 0 and not ok and not err:
            err = "unexpected"  # a 2xx whose JSON is not what `expect` says
        return ("" if ok else err), ok

    async def _exchange(self, req: RequestTemplate | FollowUp, ctx: dict[str, Any]
                        ) -> tuple[int, Any, str, bool]:
        """Render and send one follow-up: ``(status, JSON answer, error class, ok)``."""
        rendered = self._render(req, ctx)
        if rendered is None:
            return 0, None, "template", False
        url, headers, body = rendered
        status, answer, err = await self._send(req.method, url, body, headers)
        return (status, answer, *self._judged(req, status, answer, err))

    def _change(self, req: RequestTemplate, ctx: dict[str, Any]) -> int | None:
        """Put the request's change to the truth in force now; its token."""
        if req.change is None or self.truth is None:
            return None
        try:
            key = render(req.change.key, ctx)
            by = float(render_value(req.change.by, ctx))
        except (TemplateProblem, TypeError, ValueError):
            return None
        return self.truth.change_sent(key, by, time.time())

    def _send_template(self, planned: SystemPlanned, phase: str, intended: float,
                       intended_mono: float, lag: float, records: list[RequestRecord],
                       follow_ups: set[asyncio.Task[None]], flush: asyncio.Event) -> None:
        req = self.mix.requests[planned.kind]
        ctx = {**self._context, **planned.values}
        drawn = ",".join(str(v) for v in planned.values.values())[:200]
        token = self._change(req, ctx)
        sent_wall = time.time()

        def answered(status: int, answer: Any, err: str) -> None:
            err, ok = self._judged(req, status, answer, err)
            latency = time.perf_counter() - intended_mono
            if token is not None and self.truth is not None and not ok:
                if 400 <= status < 500:
                    self.truth.change_refused(token)
                else:
                    self.truth.change_unknown(token)
            value, wrong = self._judge(req, ctx, answer, ok, sent_wall)
            quorum = None if req.quorum is None else (
                status != 0 and search(req.quorum, answer) is True)
            self._finish(RequestRecord(phase, planned.kind, drawn, intended, latency, status,
                                       ok, err, quorum, value=value, wrong=wrong,
                                       send_lag_s=lag), records)
            if ok and req.follow_up:
                answered_ctx = {**ctx, "response": answer}
                owed = self._owe(req, answered_ctx, f"{phase}/{planned.index}")
                task = asyncio.get_running_loop().create_task(self._follow_ups(
                    req, answered_ctx, planned.kind, drawn, token, phase, records, flush,
                    owed))
                follow_ups.add(task)
                task.add_done_callback(follow_ups.discard)

        rendered = self._render(req, ctx)
        if rendered is None:
            answered(0, None, "template")
            return
        url, headers, body = rendered
        self._call(req.method, url, answered, body, headers)

    def _judge(self, req: RequestTemplate, ctx: dict[str, Any], answer: Any, ok: bool,
               sent_wall: float) -> tuple[float | None, bool | None]:
        """The value an ``answer`` request read, and whether it is wrong (None: not
        judged: no oracle, a failed request, or a key the oracle does not know)."""
        if req.answer is None or not ok:
            return None, None
        raw = search(req.answer.value, answer)
        number = float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) \
            else None
        if self.truth is None:
            return number, None
        try:
            key = render(req.answer.key, ctx)
        except TemplateProblem:
            return number, None
        if self.truth.window(key, sent_wall, time.time()) is None:
            return number, None
        return number, self.truth.is_wrong(key, number, sent_wall, time.time())

    def _owe(self, req: RequestTemplate, ctx: dict[str, Any], key: str
             ) -> dict[int, tuple[str, OwedRequest]]:
        """Write down ``req``'s follow-ups as owed (n → key, request); one that cannot be
        rendered is not owed: it could never be sent."""
        if self.owed is None:
            return {}
        out = {}
        for n, follow in enumerate(req.follow_up, 1):
            try:
                request = OwedRequest(
                    method=follow.method, url=render(follow.url, ctx),
                    json=render_value(follow.json_, ctx),
                    headers={k: render(v, ctx) for k, v in follow.headers.items()
                             if not _READS_ENV.search(v)},
                    env_headers={k: v for k, v in follow.headers.items()
                                 if _READS_ENV.search(v)},
                    expect=follow.expect.status)
            except TemplateProblem:
                continue
            self.owed.owe(f"{key}>{n}", request)
            out[n] = (f"{key}>{n}", request)
        return out

    async def _follow_ups(self, req: RequestTemplate, ctx: dict[str, Any], kind: str,
                          drawn: str, token: int | None, phase: str,
                          records: list[RequestRecord], flush: asyncio.Event,
                          owed: dict[int, tuple[str, OwedRequest]]) -> None:
        waited = 0.0
        for n, follow in enumerate(req.follow_up, 1):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(flush.wait(), max(follow.after_s - waited, 0.0))
            waited = max(waited, follow.after_s)
            intended_mono, intended = time.perf_counter(), time.time()
            status, _, err, ok = await self._exchange(follow, ctx)
            latency = time.perf_counter() - intended_mono
            if n in owed and self.owed is not None and owed[n][1].settled_by(status):
                self.owed.paid(owed[n][0])
            if follow.ends_change and token is not None and self.truth is not None:
                if ok:
                    self.truth.change_ended(token, time.time())
                else:
                    self.truth.change_unknown(token)
            self._finish(RequestRecord(phase, f"{kind}>{n}", drawn, intended, latency,
                                       status, ok, err), records)
