"""Load spread over Prefect workers: one flow run per shard of the seeded schedule.

- ``load-shard`` runs one shard (:mod:`gameday.load_schedule`) from its worker, starting
  at the common ``start_at`` (epoch s), and writes its records to
  ``<out_dir>/<phase>-shard-<k>-of-<n>.csv``.
- ``sharded-load`` creates one ``load-shard`` flow run per shard through the deployment
  ``load-shard/default`` (:func:`build_load_deployments`; served, or registered with a
  work pool), all with the same start time ``start_delay_s`` ahead (time for workers to
  pick the runs up), waits for them, merges their records exactly
  (:func:`gameday.load_shards.merge`) into ``<out_dir>/<phase>-requests.csv`` and judges
  whether together they kept the schedule (:func:`gameday.load_check.check_load`; a shard
  that started late shows as send lag). It ends Failed when a shard failed, and returns
  the check otherwise, flagged when the load machine(s) fell behind.

What is sent: a system's load (``runbook``: a runbook naming a system file, its load and
seed as the runbook says, resolved at ``base_port`` on each worker:
:class:`gameday.load_shards.SystemLoad`).

``out_dir`` must be a folder every worker and the ``sharded-load`` run can read and write
(the same machine, or a shared mount). Shards share no truth oracle and no owed-cancel
ledger (see :mod:`gameday.load_shards`).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.deployments import run_deployment
from prefect.deployments.runner import EntrypointType, RunnerDeployment

from flows.runs import wait_for_runs
from gameday.load_check import check_load
from gameday.load_schedule import Shard
from gameday.load_shards import SystemLoad, follow_ups_s, generator, merge
from gameday.metrics import requests_frame
from gameday.records import REQUEST_COLUMNS, RequestRecord
from gameday.runbook import LoadSpec

__all__ = ["SHARD_DEPLOYMENT", "build_load_deployments", "load_shard", "sharded_load"]

SHARD_DEPLOYMENT = "load-shard/default"


def _shard_file(out_dir: str, phase: str, shard: Shard) -> Path:
    return Path(out_dir) / f"{phase}-shard-{shard.index}-of-{shard.count}.csv"


def _records(path: Path) -> list[RequestRecord]:
    df = requests_frame(path).astype(object).where(lambda d: d.notna(), None)
    return [RequestRecord(*row) for row in df[list(REQUEST_COLUMNS)].itertuples(index=False)]


@flow(name="load-shard", log_prints=True)
def load_shard(load: dict[str, Any], seed: int, phase: str, duration_s: float, shard: int,
               shards: int, start_at: float, out_dir: str,
               system: dict[str, Any]) -> dict[str, Any]:
    """Send shard ``shard`` of ``shards`` of ``phase``'s schedule; write its records.
    What is sent: ``system`` (a :class:`SystemLoad` as a dict)."""
    part = Shard(shard, shards)
    gen = generator(SystemLoad(**system), LoadSpec(**load), seed, part)
    late = time.time() - start_at
    if late > 0:
        print(f"shard {shard} of {shards} starts {late:.1f} s after the common start: "
              "its first requests go out late (recorded as send lag)")
    records = gen.run_sync(phase, duration_s, start_at=start_at)
    path = _shard_file(out_dir, phase, part)
    path.parent.mkdir(parents=True, exist_ok=True)
    requests_frame(records)[list(REQUEST_COLUMNS)].to_csv(path, index=False)
    print(f"shard {shard} of {shards}: {gen.counts['scheduled']} requests sent, "
          f"{gen.achieved_rate:.1f} req/s, records in {path}")
    return {"shard": shard, "sent": gen.counts["scheduled"],
            "achieved_rate": round(gen.achieved_rate, 3), "path": str(path)}


@flow(name="sharded-load", log_prints=True)
def sharded_load(phase: str, duration_s: float, shards: int, out_dir: str, runbook: str,
                 base_port: int | None = None, rate: float | None = None,
                 seed: int | None = None, start_delay_s: float = 30.0,
                 deployment: str = SHARD_DEPLOYMENT) -> dict[str, Any]:
    """One ``load-shard`` flow run per shard, started together; the merged check.

    What is sent: ``runbook``'s load (a runbook naming a system file: its load and seed,
    resolved at ``base_port``, default the file's; ``rate`` and ``seed`` replace the
    runbook's)."""
    source, spec, rb_seed = SystemLoad.of(runbook, base_port=base_port)
    seed = rb_seed if seed is None else seed
    where = {"system": dataclasses.asdict(source)}
    if rate is not None:
        spec = spec.model_copy(update={"rate": rate})
    print(f"sharded load of {phase!r}: {shards} shard(s), {spec.rate:g} req/s for "
          f"{duration_s:g} s, seed {seed or 0}, starting in {start_delay_s:g} s")
    start_at = time.time() + start_delay_s
    runs = [run_deployment(deployment, timeout=0, parameters={
        **where, "load": spec.model_dump(mode="json"), "seed": seed or 0, "phase": phase,
        "duration_s": duration_s, "shard": k, "shards": shards, "start_at": start_at,
        "out_dir": out_dir})
        for k in range(shards)]
    budget = start_delay_s + duration_s + follow_ups_s(spec) + 120.0
    states = wait_for_runs([r.id for r in runs], budget)  # type: ignore[union-attr]
    failed = [f"shard {k}: {s}" for k, s in enumerate(states) if s != "COMPLETED"]
    if failed:
        raise RuntimeError(f"sharded load of {phase!r}: not every shard completed "
                           f"({', '.join(failed)})")
    records = merge(_records(_shard_file(out_dir, phase, Shard(k, shards)))
                    for k in range(shards))
    merged = Path(out_dir) / f"{phase}-requests.csv"
    requests_frame(records)[list(REQUEST_COLUMNS)].to_csv(merged, index=False)
    check = check_load(requests_frame(records), duration_s, shards=shards)
    if check is not None and not check.kept_up:
        print(f"sharded load of {phase!r} fell behind: {check.reason}")
    return {"requests": len(records), "path": str(merged),
            "check": check.model_dump(mode="json") if check else None}


def build_load_deployments() -> list[RunnerDeployment]:
    """``load-shard/default`` (what ``sharded-load`` starts) and ``sharded-load/default``."""
    return [
        fl.to_deployment("default", description=description, tags=["gameday", "load"],
                         entrypoint_type=EntrypointType.MODULE_PATH)
        for fl, description in (
            (load_shard, "One shard of a seeded open-loop load schedule (flows/load.py)."),
            (sharded_load, "A load phase spread over workers: one load-shard run per shard."),
        )
    ]
