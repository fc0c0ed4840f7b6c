"""Trials spread over workers: a runbook's repetitions run as separate GameDays, gathered.

A runbook with ``trials: N`` (or a fixed ``sweep:`` with ``sweep.trials: N``) repeats its
fault phases N times. **Repetition k** is the phases of trial k (``trial == k`` or
``dose_trial == k``) with the phases every repetition shares (those without a trial:
baseline, recovery), in the runbook's order: a whole GameDay of its own
(:func:`repetition`), which a worker runs on its own stack. :func:`gather` then writes one
run folder whose journal holds

- the shared phases of repetition 1 and the repeated phases of every repetition, in the
  order the one-process run has them, each record as its child wrote it;
- the evidence, the sweeps and the verdict, by the function the one-process run uses
  (:func:`gameday.conclusion.judge_phases`);
- ``children``: each repetition's own run (run id, folder, flow run, stack, status).

The merge is exact: a phase's load schedule is drawn from (seed, phase name) alone
(:mod:`gameday.load_schedule`) and its target from its trial number (``rotate_targets``),
so a phase sends the same requests to the same component whichever worker runs it; its
figures are those of the system that ran it. ``requests.csv`` holds the kept phases'
requests; the detectors' transitions stay in each child's folder (each system has its own
components of the same names: one file would mix them). A search (``sweep.between``) picks its
next dose from what it saw, so it cannot be split (:class:`~gameday.errors.GameDayError`).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from gameday import metrics
from gameday.conclusion import judge_phases
from gameday.errors import GameDayError
from gameday.evidence.trials import sentence
from gameday.fingerprint import (
    chaos_toolkit_identity,
    environment_fingerprint,
    new_run_id,
    utc_time,
)
from gameday.frames import requests_frame, transitions_frame
from gameday.journal import (
    JOURNAL_FILE,
    REQUESTS_FILE,
    TRANSITIONS_FILE,
    Journal,
    JournalUnreadable,
    atomic_write,
    load_run,
)
from gameday.records import REQUEST_COLUMNS
from gameday.run_record import (
    ChildRun,
    Environment,
    JournalRecord,
    JudgementLine,
    Outcome,
    PhaseRecord,
    RunProcess,
    RunStatus,
)
from gameday.runbook import Phase, Runbook, runbook_sha256

__all__ = ["repetitions", "repetition", "gather", "child_from_journal", "crosscheck_run",
           "outcome_from_journal", "CHILDREN_DIR"]

#: Where, inside the gathered run's folder, each repetition's own run folder goes.
CHILDREN_DIR = "trials"
#: A child's failed checks that are not recomputed from its phases when gathering.
_RUN_LEVEL = ("consistency:", "run ")


def _rep(ph: Phase | PhaseRecord) -> int | None:
    return ph.trial if ph.trial is not None else ph.dose_trial


def repetitions(runbook: Runbook) -> int:
    """How many repetitions ``runbook`` (loaded: expanded) has; raises GameDayError when it
    has nothing to spread (one trial) or holds a search, which cannot be split."""
    searches = [p.name for p in runbook.phases
                if p.sweep is not None and p.dose is None and p.sweep.between is not None]
    if searches:
        raise GameDayError(
            f"phase {searches[0]!r} searches for a breaking point (sweep.between): each "
            "dose depends on the last, so its trials cannot run on several workers; "
            "use sweep.values, or run it without spreading")
    reps = {r for r in map(_rep, runbook.phases) if r is not None}
    if len(reps) < 2:
        raise GameDayError(
            f"runbook {runbook.name!r} has one trial: nothing to spread over workers (give "
            "it trials: N, or a sweep with sweep.trials: N, N ≥ 2)")
    return max(reps)


def repetition(runbook: Runbook, k: int) -> Runbook:
    """Repetition ``k`` of ``runbook`` (module docstring) as a runbook of its own."""
    count = repetitions(runbook)
    if not 1 <= k <= count:
        raise GameDayError(f"repetition must be between 1 and {count} (got {k})")
    return runbook.model_copy(update={"phases": [p for p in runbook.phases
                                                 if _rep(p) in (None, k)]})


def gather(runbook: Runbook, runbook_path: Path, children: Sequence[ChildRun],
           journals: dict[int, JournalRecord], *, reports_dir: Path, seed: int,
           run_id: str | None = None, flow_run_id: str | None = None,
           started: float | None = None) -> Outcome:
    """One run folder (``reports_dir/<run_id>/``) from the repetitions' runs: ``children``
    (one per repetition, in order) and the ``journals`` of those that wrote one (by
    repetition). Returns the gathered run's outcome."""
    run_id = run_id or new_run_id(runbook.name)
    run_dir = Path(reports_dir) / run_id
    phases, requests, also = _merge(runbook, children, journals)
    first = next(iter(journals.values()), None)
    record = JournalRecord(
        start=utc_time(started), run_id=run_id, seed=seed,
        target=first.target if first else "local",
        runbook=runbook.model_dump(mode="json", by_alias=True), runbook_path=str(runbook_path),
        runbook_sha256=runbook_sha256(runbook_path),
        environment=Environment(**environment_fingerprint(
            first.target if first else "local", runbook_path)),
        process=RunProcess(pid=os.getpid(), host=socket.gethostname(), flow_run_id=flow_run_id),
        children=list(children), phases=phases, **chaos_toolkit_identity())
    journal = Journal(record)
    judged = judge_phases(runbook, phases, also)
    journal.update(evidence=judged.evidence, sweeps=judged.sweeps)
    journal.verdict(judged.passed, judged.score, judged.failing, outcome=judged.outcome,
                    inconclusive=judged.inconclusive)
    statuses = {c.status for c in children}
    status: RunStatus = ("aborted" if "aborted" in statuses else
                         "failed" if judged.failing else "completed")
    journal.end(status, deviated=not judged.passed)
    run_dir.mkdir(parents=True, exist_ok=True)
    frame = requests_frame(pd.concat(requests) if requests else [])
    rank = {p.name: i for i, p in enumerate(phases)}  # phase by phase, as in one process
    frame = frame.iloc[frame["phase"].map(rank).argsort(kind="stable")]
    atomic_write(run_dir / REQUESTS_FILE, frame[list(REQUEST_COLUMNS)].to_csv(index=False))
    atomic_write(run_dir / TRANSITIONS_FILE, transitions_frame([]).to_csv(index=False))
    journal.write(run_dir, raw=False)
    return outcome_from_journal(journal.record, run_dir)


def _merge(runbook: Runbook, children: Sequence[ChildRun],
           journals: dict[int, JournalRecord]
           ) -> tuple[list[PhaseRecord], list[pd.DataFrame], list[str]]:
    """The kept phase records in the runbook's order, their requests, and what failed
    beyond the phases' own checks (a repetition that did not run, or did not end well)."""
    also: list[str] = []
    for child in children:
        jr = journals.get(child.repetition)
        if jr is None:
            also.append(f"trial {child.repetition}: no run "
                        f"({child.error or child.state or 'never started'})")
            continue
        also += [f"trial {child.repetition}: {c}" for c in
                 (jr.verdict.failing_checks if jr.verdict else [])
                 if c.startswith(_RUN_LEVEL) or ": cross-check: " in c]
        if jr.verdict is None:
            also.append(f"trial {child.repetition}: run {jr.status}")
    shared = min(journals) if journals else None
    by_rep = {k: {p.name: p for p in jr.phases} for k, jr in journals.items()}
    phases: list[PhaseRecord] = []
    kept: dict[int, list[str]] = {}
    for ph in runbook.phases:
        k = _rep(ph) or shared
        record = by_rep.get(k, {}).get(ph.name) if k is not None else None
        if record is not None and k is not None:
            phases.append(record)
            kept.setdefault(k, []).append(ph.name)
    run_dirs = {c.repetition: c.run_dir for c in children}
    requests = []
    for k, names in kept.items():
        path = Path(run_dirs.get(k) or "") / REQUESTS_FILE
        if path.is_file():
            df = requests_frame(path)
            requests.append(df[df["phase"].isin(names)])
    return phases, requests, also


def child_from_journal(child: ChildRun, journal: JournalRecord) -> ChildRun:
    """``child`` completed with what its journal says (run, folder, stack, times)."""
    proc = journal.process
    return child.model_copy(update=dict(
        run_id=journal.run_id, status=journal.status, target_key=journal.target_key,
        host=proc.host if proc else None, pid=proc.pid if proc else None,
        start=journal.start, end=journal.end, error=journal.error))


def outcome_from_journal(journal: JournalRecord, run_dir: Path) -> Outcome:
    """What a run says, read from its journal (a gathered run's, or a child's whose flow
    result stays in the worker's process); a run that never concluded did not pass."""
    v = journal.verdict
    return Outcome(
        run_id=journal.run_id, name=str(journal.runbook.get("name") or ""),
        status=journal.status, passed=bool(v and v.passed), score=v.score if v else 0.0,
        failing_checks=list(v.failing_checks) if v else [f"run {journal.status}"],
        outcome=v.outcome if v else None, inconclusive=list(v.inconclusive) if v else [],
        judgements=[JudgementLine(verdict=j.verdict, text=sentence(ev, j))
                    for ev in journal.evidence for j in ev.checks],
        duration_s=journal.duration, run_dir=str(run_dir), journal=str(run_dir / JOURNAL_FILE))


def _child_dir(run_dir: Path, child: ChildRun) -> Path | None:
    """Where ``child``'s run folder is: as recorded, else below ``run_dir`` (moved)."""
    moved = run_dir / CHILDREN_DIR / f"t{child.repetition}" / (child.run_id or "")
    for path in (Path(child.run_dir or ""), moved):
        if child.run_id and (path / JOURNAL_FILE).is_file():
            return path
    return None


def crosscheck_run(run_dir: str | Path, journal: JournalRecord, requests: pd.DataFrame,
                   transitions: pd.DataFrame) -> dict[str, list[str]]:
    """:func:`gameday.metrics.crosscheck` of a run folder. A gathered run's phases are
    checked against the raw data of the child that recorded each (its own stack's
    monitor transitions, which the gathered folder does not hold)."""
    if not journal.children:
        return metrics.crosscheck(journal.phases, requests, transitions)
    out: dict[str, list[str]] = {}
    by_rep = {c.repetition: c for c in journal.children}
    shared = min(by_rep)
    for ph in journal.phases:
        child = by_rep.get(_rep(ph) or shared)
        where = _child_dir(Path(run_dir), child) if child else None
        if where is None:
            out[ph.name] = ["the raw data of the trial that recorded it is missing"]
            continue
        try:
            _, req, tr = load_run(where)
        except JournalUnreadable as exc:
            out[ph.name] = [f"the trial's journal is unreadable: {exc}"]
            continue
        out.update(metrics.crosscheck([ph], req, tr))
    return out
