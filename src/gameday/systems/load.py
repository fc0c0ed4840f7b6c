"""Open-loop load from a system file's request templates.

:class:`SystemLoadGenerator` is :class:`~gameday.load.LoadGenerator` (the same open-loop
schedule, latency from the intended send time, live window statistics, one keep-alive
pool) sending the system's own mix instead of the inventory stack's:

- the schedule of a phase is drawn from ``Random(f"{seed}:{phase}")``, per request in
  this order: the request kind (``choices`` by ``weight``), one value of each of the
  load's ``values`` lists (in file order), then the gap to the next request (as
  :mod:`gameday.load_schedule`: ``uniform`` or ``poisson`` at the runbook's rate); the
  same seed sends the same sequence;
- each request is rendered from its template (URL, headers, JSON body) with the drawn
  values, and is a success when its answer meets ``expect`` (status, JSON paths); a
  timeout, a refused connection or an unexpected answer is a failure;
- the record's ``kind`` is the request's name, ``product_id`` the values drawn (joined
  by ``,``); ``quorum``, ``value`` and ``wrong`` stay empty: a system without a voter
  or an oracle has no quorum rate and no wrong answers (the report says "not
  applicable").

Follow-up requests, ``answer``/``change`` and the ``oracle`` are not sent or judged by
this generator yet: :func:`unsupported` names them, and the system driver refuses such a
system before anything starts.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from gameday.load import LoadGenerator
from gameday.load_schedule import WHOLE, Shard
from gameday.records import RequestRecord
from gameday.runbook import LoadSpec
from gameday.systems.probe import expect_problems, template_context
from gameday.systems.render import TemplateProblem, render, render_value
from gameday.systems.resolve import ResolvedSystem

__all__ = ["SystemLoadGenerator", "SystemPlanned", "system_schedule", "unsupported"]


@dataclass(frozen=True, slots=True)
class SystemPlanned:
    """One scheduled request: its index, intended offset (s), request name, drawn values."""

    index: int
    offset_s: float
    kind: str
    values: dict[str, Any]


def system_schedule(resolved: ResolvedSystem, spec: LoadSpec, seed: int, phase: str,
                    shard: Shard = WHOLE) -> Iterator[SystemPlanned]:
    """The requests of ``shard`` in intended-time order; endless (module docstring)."""
    mix = resolved.system.load
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


def unsupported(resolved: ResolvedSystem) -> list[str]:
    """The parts of the system's load this generator does not run yet, as field paths."""
    load = resolved.system.load
    out = ["load.oracle"] if load.oracle is not None else []
    for name, req in load.requests.items():
        out += [f"load.requests.{name}.{f}" for f in ("answer", "change", "follow_up")
                if getattr(req, f)]
    return out


class SystemLoadGenerator(LoadGenerator):
    """Open-loop load of a resolved system's request templates (module docstring)."""

    def __init__(self, resolved: ResolvedSystem, spec: LoadSpec, seed: int, *,
                 shard: Shard = WHOLE) -> None:
        super().__init__(None, spec, seed, shard=shard)  # type: ignore[arg-type]
        self.resolved = resolved
        self._context = template_context(resolved)

    def _plan(self, phase: str) -> Iterator[Any]:
        return system_schedule(self.resolved, self.spec, self.seed, phase, self.shard)

    def _request(self, planned: Any, http: aiohttp.ClientSession,
                 timeout: aiohttp.ClientTimeout, phase: str, intended: float,
                 intended_mono: float, lag: float, records: list[RequestRecord],
                 cancels: set[asyncio.Task[None]], flush: asyncio.Event) -> Any:
        return self._send_template(planned, http, timeout, phase, intended, intended_mono,
                                   lag, records)

    async def _send_template(self, planned: SystemPlanned, http: aiohttp.ClientSession,
                             timeout: aiohttp.ClientTimeout, phase: str, intended: float,
                             intended_mono: float, lag: float,
                             records: list[RequestRecord]) -> None:
        req = self.resolved.system.load.requests[planned.kind]
        ctx = {**self._context, **planned.values}
        drawn = ",".join(str(v) for v in planned.values.values())[:200]
        try:
            url = render(req.url, ctx)
            headers = {k: render(v, ctx) for k, v in req.headers.items()}
            body = render_value(req.json_, ctx)
        except TemplateProblem:
            status, ok, err = 0, False, "template"
        else:
            status, answer, err = await self._send(http, timeout, req.method, url, body,
                                                   headers or None)
            ok = status != 0 and not expect_problems(req.expect, status, answer)
            if status != 0 and not ok and not err:
                err = "unexpected"  # a 2xx whose JSON is not what `expect` says
        latency = time.perf_counter() - intended_mono
        self._finish(RequestRecord(phase, planned.kind, drawn, intended, latency, status, ok,
                                   "" if ok else err, send_lag_s=lag), records)
