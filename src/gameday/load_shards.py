"""One phase's load spread over several processes: one shard of the seeded schedule each.

:func:`run_sharded` starts ``shards`` processes (spawned, never forked: the caller may run
threads), waits until every one has imported the harness, then gives them one common
start time, so that each shard's intended times are on the same clock as the others' and
:func:`merge` is a plain ordered union (latency already runs from the intended time).
A shard process ends when its phase ends, when :func:`run_sharded` is left early (the
parent sends stop), and when the parent dies (its pipe closes): none outlives the run.

What a shard sends: a system's load (:class:`SystemLoad`: a runbook naming a system file,
resolved again in each shard process at the same base port and target, its load as the
runbook adjusts it: :class:`~gameday.systems.load.SystemLoadGenerator`).

Shards share no state, so there is no truth oracle across them (a read's ``wrong`` stays
None) and no record of owed follow-ups: sharding is for measuring how much load a system takes,
the GameDay engine keeps one process (150 req/s is a small share of one).
"""

from __future__ import annotations

import contextlib
import heapq
import multiprocessing as mp
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gameday.errors import GameDayError
from gameday.load_check import check_load
from gameday.load_schedule import WHOLE, Shard
from gameday.metrics import requests_frame
from gameday.quiet_gc import watch_gc
from gameday.records import REQUEST_COLUMNS, RequestRecord
from gameday.run_record import LoadCheck
from gameday.runbook import LoadSpec
from gameday.systems.model import MAX_FOLLOW_UPS

if TYPE_CHECKING:
    from gameday.load import LoadGenerator
    from gameday.runbook import Runbook
    from gameday.runbook_target import RunbookSystem

__all__ = ["ShardedRun", "SystemLoad", "generator", "merge", "run_sharded",
           "follow_ups_s"]

#: How long the shard processes get to start and import the harness.
_READY_TIMEOUT_S = 60.0
#: Between "all ready" and the common start: time for the start message to arrive.
_START_MARGIN_S = 0.2


@dataclass(frozen=True)
class ShardedRun:
    """The merged records of every shard, the load check over them, and per shard the
    requests it sent and its own achieved rate."""

    records: list[RequestRecord]
    check: LoadCheck | None
    per_shard: list[dict[str, float]]


@dataclass(frozen=True)
class SystemLoad:
    """A system's load for shard processes: the runbook naming the system file, and the
    base port and target it resolves at (:meth:`of` checks it here first)."""

    runbook: str
    base_port: int
    target: str = "local"

    @classmethod
    def of(cls, runbook: str | Path, *, base_port: int | None = None,
           target: str | None = None) -> tuple[SystemLoad, LoadSpec, int]:
        """The runbook's system load, its load spec and seed. Raises RunbookError for a
        runbook that cannot run."""
        from gameday.lifecycle import resolve_runbook

        path = resolve_runbook(runbook).resolve()  # as given, else in the repository
        rb, system = _bound(path, base_port, target)
        resolved = system.resolved
        return cls(str(path), resolved.base_port, resolved.target), rb.load, rb.seed

    def generator(self, spec: LoadSpec, seed: int, shard: Shard) -> LoadGenerator:
        """The shard's generator of the system's requests (in the shard's process)."""
        from gameday.systems.load import SystemLoadGenerator

        _, system = _bound(Path(self.runbook), self.base_port, self.target)
        return SystemLoadGenerator(system.resolved, spec, seed, shard=shard)


def _bound(path: Path, base_port: int | None, target: str | None
           ) -> tuple[Runbook, RunbookSystem]:
    """The runbook at ``path`` and its system resolved at ``base_port`` on ``target``
    (default: the runbook's)."""
    from gameday.runbook import load_runbook
    from gameday.runbook_target import RunbookSystem

    rb = load_runbook(path)
    overrides: dict[str, Any] = {"target": target or rb.target}
    if base_port:
        overrides["base_port"] = base_port
    return rb, RunbookSystem.of(rb, path, overrides)


def follow_ups_s(spec: LoadSpec) -> float:
    """How long a phase's load may still take after its last scheduled send: the
    follow-ups still waiting go when the phase ends, one after another, a timeout each."""
    return (1 + MAX_FOLLOW_UPS) * spec.timeout_s


def merge(shards: Iterable[list[RequestRecord]]) -> list[RequestRecord]:
    """Every shard's records in one list ordered by intended time (stable: a follow-up
    stays after its request when both share an instant)."""
    return list(heapq.merge(*(sorted(s, key=_intended) for s in shards), key=_intended))


def _intended(rec: RequestRecord) -> float:
    return rec.intended_s


def run_sharded(source: SystemLoad, spec: LoadSpec, seed: int, phase: str,
                duration_s: float, shards: int) -> ShardedRun:
    """Send ``phase``'s load for ``duration_s`` s from ``shards`` processes; return the
    merged records and whether together they kept the schedule. ``source``: the
    system's load. Raises
    :class:`~gameday.errors.GameDayError` when a shard fails to start or dies."""
    ctx = mp.get_context("spawn")
    procs: list[tuple[Any, Connection]] = []
    try:
        for shard in WHOLE.split(shards):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_shard_main, name=f"gameday-load-shard-{shard.index}",
                               args=(child, source, spec, seed, phase, duration_s, shard),
                               daemon=True)
            proc.start()
            child.close()
            procs.append((proc, parent))
        for i, (_, conn) in enumerate(procs):
            _expect(conn, "ready", i, _READY_TIMEOUT_S)
        start_at = time.time() + _START_MARGIN_S
        for _, conn in procs:
            conn.send(("start", start_at))
        results = [_expect(conn, "done", i, duration_s + follow_ups_s(spec)
                           + _READY_TIMEOUT_S)
                   for i, (_, conn) in enumerate(procs)]
    finally:
        for _, conn in procs:
            with contextlib.suppress(OSError):  # a shard already gone needs no stop
                conn.send(("stop", None))
            conn.close()
        for proc, _ in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()
    records = merge([RequestRecord(*row) for row in rows] for rows, _ in results)
    return ShardedRun(records, check_load(requests_frame(records), duration_s, shards=shards),
                      [stats for _, stats in results])


def _expect(conn: Connection, what: str, shard: int, timeout_s: float) -> Any:
    if not conn.poll(timeout_s):
        raise GameDayError(f"load shard {shard} sent no {what!r} within {timeout_s:.0f} s")
    try:
        kind, payload = conn.recv()
    except EOFError as exc:
        raise GameDayError(f"load shard {shard} died before {what!r}") from exc
    if kind == "error":
        raise GameDayError(f"load shard {shard} failed: {payload}")
    return payload


def generator(source: SystemLoad, spec: LoadSpec, seed: int, shard: Shard) -> LoadGenerator:
    """The generator of ``shard`` for ``source`` (a shard process's, or a Prefect
    worker's: flows/load.py)."""
    return source.generator(spec, seed, shard)


def _shard_main(conn: Connection, source: SystemLoad, spec: LoadSpec, seed: int,
                phase: str, duration_s: float,
                shard: Shard) -> None:  # pragma: no cover - child process
    try:
        gen = generator(source, spec, seed, shard)
        conn.send(("ready", None))
        kind, start_at = conn.recv()
        if kind != "start":
            return

        def watch_parent() -> None:  # "stop" or the parent's death ends the shard early
            with contextlib.suppress(EOFError, OSError):
                conn.recv()
            gen.stop()

        threading.Thread(target=watch_parent, daemon=True).start()
        cpu0 = time.process_time()
        with watch_gc() as pauses:
            records = gen.run_sync(phase, duration_s, start_at=start_at)
        # how the process spent itself: CPU per request (robust to a busy machine, unlike
        # the send lag) and its garbage collections (ms of CPU)
        stats = {"shard": shard.index, "sent": float(gen.counts["scheduled"]),
                 "achieved_rate": round(gen.achieved_rate, 3),
                 "cpu_ms_per_request": round(1000.0 * (time.process_time() - cpu0)
                                             / max(len(records), 1), 3),
                 "gc_full": float(pauses.count[2]), "gc_full_max_ms": round(pauses.max_ms[2], 2),
                 "gc_young": float(pauses.count[0] + pauses.count[1]),
                 "gc_young_max_ms": round(max(pauses.max_ms[:2]), 2)}
        conn.send(("done", ([_row(r) for r in records], stats)))
    except (EOFError, OSError):
        return  # the parent is gone: nobody to report to
    except Exception as exc:  # reported to the parent, which raises it as a GameDayError
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _row(rec: RequestRecord) -> tuple[Any, ...]:
    """A record as a plain tuple, cheap to send between processes."""
    return tuple(getattr(rec, col) for col in REQUEST_COLUMNS)
