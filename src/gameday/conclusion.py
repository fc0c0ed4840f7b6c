"""The end of a GameDay: steady state after, consistency, the cross-check, the verdict.

:func:`conclude` runs after :func:`gameday.engine.rollback_everything`. Every phase's
recorded figures are recomputed from the raw data files the run just wrote
(:func:`gameday.metrics.crosscheck`): a figure that does not hold up is a failed check of
the verdict, not a footnote of the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from gameday import metrics
from gameday.engine import GameDayRun
from gameday.evidence.models import FaultEvidence, SweepResult, Verdict3, counted_check
from gameday.evidence.trials import evidence_sentences, trial_evidence
from gameday.junit import write_junit
from gameday.run_record import Consistency, PhaseRecord, RunStatus
from gameday.runbook import Runbook
from gameday.sweep import sweep_results
from gameday.units import check_sentence

__all__ = ["Conclusion", "Judged", "conclude", "judge_phases"]


@dataclass(frozen=True)
class Conclusion:
    """What :func:`conclude` decided."""

    passed: bool
    score: float
    failing_checks: list[str]
    status: RunStatus
    #: With trials: pass / fail / inconclusive, and what is not settled yet, in words.
    outcome: Verdict3 | None = None
    inconclusive: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Judged:
    """The verdict over a run's phase records (:func:`judge_phases`)."""

    evidence: list[FaultEvidence]
    sweeps: list[SweepResult]
    failing: list[str]
    inconclusive: list[str]
    passed: bool
    outcome: Verdict3 | None
    score: float


def judge_phases(runbook: Runbook, phases: Sequence[PhaseRecord],
                 also_failing: Sequence[str] = ()) -> Judged:
    """The evidence, sweeps and verdict over ``phases``; ``also_failing``: what else
    failed (cross-check, consistency, the run's status), in words. Used by
    :func:`conclude` and by the gathering of trials run on several workers
    (:mod:`gameday.spread`), so both judge alike."""
    evidence = trial_evidence(phases, runbook.slo, seed=runbook.seed)
    sweeps = sweep_results(runbook, phases)
    # In words with units (Slack, the console, the journal): the value itself is in checks.
    # With trials, a trial's TTD/TTR is a data point of the evidence, not a verdict alone;
    # a sweep's dose pushes TTD, TTR and latency past their targets on purpose.
    failing = [check_sentence(p.name, c) for p in phases for c in p.checks
               if not c.passed and counted_check(p, c.name, bool(evidence))]
    failing += evidence_sentences(evidence, "fail")
    inconclusive = evidence_sentences(evidence, "inconclusive")
    failing += also_failing
    passed = not failing and not inconclusive
    outcome: Verdict3 | None = None
    if evidence:
        outcome = "fail" if failing else "inconclusive" if inconclusive else "pass"
    return Judged(evidence, sweeps, failing, inconclusive, passed, outcome,
                  metrics.resilience_score(phases, evidence))


def conclude(run: GameDayRun, status: RunStatus, *,
             consistency_timeout_s: float = 30.0) -> Conclusion:
    """Steady state after, consistency, the cross-check of every phase's figures against
    the raw data, the verdict; writes the journal. Returns the verdict."""
    consistency: Consistency | None = None
    if status in ("completed", "aborted"):
        with run.journal.activity("consistency check", "probe") as out:
            consistency = run.driver.consistency(timeout_s=consistency_timeout_s)
            out.update(ok=consistency.ok, mismatches=consistency.mismatches)
        run.journal.update(consistency=consistency)
        after = run.driver.steady_after(timeout_s=15)  # not ok: recorded, judged below
        run.journal.steady_state("after", after)
    run.owed.close()
    run.journal.write(run.run_dir)  # the raw data the cross-check reads back
    also = _crosscheck(run)
    if consistency is not None and not consistency.ok:
        also.append(f"consistency: {run.driver.invariant_failure}")
    if status != "completed":
        also.append(f"run {status}")
    j = judge_phases(run.runbook, run.phases, also)
    run.journal.update(evidence=j.evidence, sweeps=j.sweeps)
    run.journal.verdict(j.passed, j.score, j.failing, outcome=j.outcome,
                        inconclusive=j.inconclusive)
    # inconclusive is not a failure of the system: the run completed, it just did not settle
    final: RunStatus = "failed" if status == "completed" and j.failing else status
    run.journal.end(final, deviated=not j.passed)
    run.journal.write(run.run_dir, raw=False)
    write_junit(run.run_dir, run.journal.record)
    return Conclusion(j.passed, round(j.score, 2), j.failing, final, j.outcome, j.inconclusive)


def _crosscheck(run: GameDayRun) -> list[str]:
    """Every phase's recorded figures against the same figures recomputed from the raw
    data files just written: a difference is a failed check, not a footnote."""
    from gameday.journal import load_run

    _, requests, transitions = load_run(run.run_dir)
    differ = metrics.crosscheck(run.phases, requests, transitions)
    return [f"{name}: cross-check: {d}" for name, diffs in differ.items() for d in diffs]
