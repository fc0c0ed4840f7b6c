"""A run with trials judged per fault type, and what that does to its verdict and score."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gameday.evidence.readable import evidence_rows
from gameday.evidence.trials import evidence_sentences, trial_evidence
from gameday.metrics import resilience_score
from gameday.run_record import Check, FaultRecord, PhaseMetrics, PhaseRecord, Threshold
from gameday.runbook import SloSpec

#: The TTD targets of the fault types below (a runbook gives its own; none is filled in).
SLO = SloSpec(ttd_s={"crash": 0.8, "latency": 1.0})

T0 = datetime(2026, 11, 30, tzinfo=UTC)


def _trial(k: int, ftype: str, ttd: float | None, ttr: float | None = 0.1) -> PhaseRecord:
    checks = [Check(name="availability", target=Threshold(op=">=", value=0.999), value=1.0,
                    passed=True),
              Check(name="ttd_s", target=Threshold(op="<=", value=0.8), value=ttd,
                    passed=ttd is not None and ttd <= 0.8)]
    return PhaseRecord(name=f"{ftype}-t{k}", fault=FaultRecord(type=ftype, component="1"),
                       duration_s=5, start=T0, trial=k, repeats=ftype,
                       metrics=PhaseMetrics(requests=100, availability=1.0, ttd_s=ttd,
                                            ttr_s=ttr if ttd is not None else None),
                       checks=checks, passed=all(c.passed for c in checks))


def test_every_trial_of_a_fault_type_is_judged_with_intervals() -> None:
    phases = [_trial(k, "crash", 0.30 + 0.005 * k) for k in range(1, 41)]
    (ev,) = trial_evidence(phases, SLO)
    assert (ev.fault_type, ev.trials, ev.detected) == ("crash", 40, 40)
    assert ev.phases == [f"crash-t{k}" for k in range(1, 41)]
    checks = {j.name: j for j in ev.checks}
    assert set(checks) == {"detection_rate", "ttd_p95_s", "ttr_p95_s"}
    assert checks["detection_rate"].verdict == "pass"  # 40/40: Wilson low 0.91 ≥ 0.9
    assert checks["ttd_p95_s"].verdict == "pass"
    assert checks["ttd_p95_s"].interval.high <= 0.8


def test_three_trials_cannot_show_a_90_percent_detection_rate() -> None:
    phases = [_trial(k, "crash", 0.3) for k in range(1, 4)]
    (ev,) = trial_evidence(phases, SLO)
    rate = next(j for j in ev.checks if j.name == "detection_rate")
    assert rate.verdict == "inconclusive" and rate.more_trials and rate.more_trials > 10
    assert ev.verdict == "inconclusive"
    (line,) = evidence_sentences([ev], "inconclusive")
    assert line.startswith("crash: detection rate 100% [44%, 100%], target ≥ 90%: "
                           "inconclusive (3/3 detected)")
    assert f"about {rate.more_trials} more trials" in line


def test_undetected_trials_fail_the_detection_and_leave_p95_unbounded() -> None:
    phases = [_trial(k, "latency", None if k % 2 else 0.5) for k in range(1, 11)]
    (ev,) = trial_evidence(phases, SLO)
    checks = {j.name: j for j in ev.checks}
    assert ev.detected == 5 and checks["detection_rate"].verdict == "fail"
    assert checks["ttd_p95_s"].verdict == "fail"  # p95 falls on an undetected trial: +∞
    assert checks["ttd_p95_s"].interval.estimate is None
    row = next(r for r in evidence_rows([ev]) if r["check"] == "TTD p95")
    assert row["estimate [95 % interval]"].startswith("not observed [")
    assert row["detected"] == "5/10" and row["target"] == "≤ 1 s"


def test_single_trial_phases_have_no_evidence() -> None:
    single = _trial(1, "crash", 0.3).model_copy(update={"trial": None, "repeats": None})
    assert trial_evidence([single], SLO) == []


def test_the_score_counts_inconclusive_as_half_and_skips_per_trial_ttd() -> None:
    """One slow trial of 20 fails its own TTD check; with evidence it is a data point of
    the p95, so the score depends on the judgements, not on that check."""
    phases = [_trial(k, "crash", 0.3 if k != 7 else 0.95) for k in range(1, 21)]
    evidence = trial_evidence(phases, SLO)
    without = resilience_score(phases)
    assert without < 100  # the one slow trial's check
    verdicts = [j.verdict for j in evidence[0].checks]
    expected_share = sum({"pass": 1, "inconclusive": 0.5, "fail": 0}[v]
                         for v in verdicts) / len(verdicts)
    # 20 phases of weight 2 whose counted checks (availability) all pass, + the evidence
    assert resilience_score(phases, evidence) == pytest.approx(
        100 * (40 + 2 * expected_share) / 42)


def test_slack_and_the_prefect_summary_carry_an_inconclusive_verdict() -> None:
    from pathlib import Path

    from gameday.journal import read_journal
    from gameday.notify.messages import verdict_message
    from gameday.run_record import Outcome
    from gameday.summary import markdown_summary

    phases = [_trial(k, "crash", 0.3) for k in range(1, 4)]
    evidence = trial_evidence(phases, SLO)
    unsettled = evidence_sentences(evidence, "inconclusive")
    outcome = Outcome(run_id="r1", name="smoke", status="completed", passed=False, score=90,
                      outcome="inconclusive", inconclusive=unsettled, run_dir="/tmp/r1",
                      journal="/tmp/r1/journal.json")
    message = verdict_message(outcome)
    assert "GameDay inconclusive: smoke" in message.text
    blocks = str(message.blocks)
    assert "Not settled by these trials" in blocks and "about" in blocks
    fixture = Path(__file__).resolve().parents[1] / "report" / "fixtures" / "run-smoke"
    journal = read_journal(fixture / "journal.json")
    journal.evidence = evidence
    text = markdown_summary(journal, outcome)
    assert ": INCONCLUSIVE" in text.splitlines()[0]
    assert "**Not settled by these trials**" in text
    assert r"| crash | detection rate | inconclusive \(\~" in text  # escaped Markdown
    single = outcome.model_copy(update={"outcome": None, "inconclusive": [], "passed": True})
    assert ": PASSED" in markdown_summary(journal, single).splitlines()[0]
    assert "GameDay passed" in verdict_message(single).text
