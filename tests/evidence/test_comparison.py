"""Build A against build B: journals to rows, rows to judged cells; null and power
simulations in the shape ``gameday compare`` produces (docs/statistics.md quotes them)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from gameday.evidence.comparison import Row, compare_cells, journal_rows
from gameday.run_record import FaultRecord, JournalRecord, PhaseMetrics, PhaseRecord, Verdict

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def _phase(name: str, fault: str | None, ttd: float | None, *, trial: int | None = None,
           aborted: str | None = None) -> PhaseRecord:
    return PhaseRecord(
        name=f"{name}-t{trial}" if trial else name, repeats=name if trial else None,
        trial=trial, duration_s=3, start=NOW, aborted=aborted,
        fault=FaultRecord(type=fault, component="inventory-1") if fault else None,
        metrics=PhaseMetrics(requests=100, availability=0.99, latency_p95_ms=12.0,
                             ttd_s=ttd, ttr_s=0.0 if ttd is not None else None))


def test_a_journal_gives_one_row_per_phase_metric_and_trials_pool_under_their_phase() -> None:
    journal = JournalRecord(start=NOW, run_id="r1", verdict=Verdict(passed=True, score=97),
                            phases=[_phase("baseline", None, None),
                                    _phase("crash", "crash", 0.3, trial=1),
                                    _phase("crash", "crash", None, trial=2),
                                    _phase("latency", "latency", 0.5, trial=1,
                                           aborted="availability below the floor")])
    rows = journal_rows(journal, "b")
    assert {(r.phase, r.metric) for r in rows} == {
        ("(run)", "score"), ("baseline", "availability"), ("baseline", "latency_p95_ms"),
        ("crash", "ttd_s"), ("crash", "ttr_s"), ("crash", "availability"),
        ("crash", "latency_p95_ms")}  # the aborted phase is left out
    ttd = [r.value for r in rows if r.metric == "ttd_s"]
    assert ttd == [0.3, None]  # both trials, the undetected one as "not observed"
    assert all(r.side == "b" and r.run_id == "r1" for r in rows)
    assert next(r for r in rows if r.metric == "score").value == 97
    swept = _phase("slow", "latency", 0.4, trial=None)
    swept = swept.model_copy(update={"name": "slow-d2-t1", "repeats": "slow", "dose": 250.0})
    journal.phases = [swept]
    assert {r.phase for r in journal_rows(journal, "a")} == {"(run)", "slow @ 250"}


def _rows(side: str, run: str, rng: np.random.Generator, ttd_scale: float = 1.0,
          trials: int = 3) -> list[Row]:
    """One run in the shape of the compare test's runbook: crash and latency, 3 trials."""
    rows = [Row(side=side, run_id=run, phase="(run)", metric="score",
                value=100.0 if rng.random() > 0.1 else 95.0)]
    for _ in range(trials):
        for fault, median, sigma in (("crash", 0.30, 0.06), ("latency", 0.50, 0.12)):
            ttd = rng.lognormal(np.log(median), sigma) * ttd_scale
            rows += [Row(side=side, run_id=run, phase=fault, fault=fault, metric="ttd_s",
                         value=ttd),
                     Row(side=side, run_id=run, phase=fault, fault=fault, metric="ttr_s",
                         value=0.0 if rng.random() < 0.5 else rng.lognormal(np.log(0.3), 0.3)),
                     Row(side=side, run_id=run, phase=fault, fault=fault,
                         metric="availability", value=1 - rng.binomial(100, 0.002) / 100,
                         requests=100),
                     Row(side=side, run_id=run, phase=fault, fault=fault,
                         metric="latency_p95_ms", value=rng.lognormal(np.log(20), 0.2))]
    return rows


def _compare(rng: np.random.Generator, runs: int, ttd_scale: float) -> list:
    rows: list[Row] = []
    for k in range(runs):
        rows += _rows("a", f"a{k}", rng) + _rows("b", f"b{k}", rng, ttd_scale)
    return compare_cells(rows, n_resamples=200, seed=int(rng.integers(1 << 30)))


def test_a_doubled_ttd_is_a_regression_with_its_effect_and_nothing_else_moves() -> None:
    cells = _compare(np.random.default_rng(3), runs=2, ttd_scale=2.0)
    by = {(c.phase, c.metric): c for c in cells}
    for fault in ("crash", "latency"):
        c = by[(fault, "ttd_s")]
        assert c.verdict == "regression", c
        assert (c.n_a, c.n_b) == (6, 6) and len(c.values_b) == 6
        assert c.effect is not None and c.low is not None and c.high is not None
        assert 0 < c.low <= c.effect <= c.high
        assert c.p_adjusted is not None and c.p_adjusted <= 0.05
    assert [c for c in cells if c.verdict != "no evidence" and c.metric != "ttd_s"] == []


def test_b_faster_is_an_improvement_not_a_regression() -> None:
    cells = _compare(np.random.default_rng(4), runs=2, ttd_scale=0.5)
    verdicts = {(c.phase, c.metric): c.verdict for c in cells}
    assert verdicts[("crash", "ttd_s")] == "improvement"
    assert "regression" not in verdicts.values()


def test_a_against_a_flags_nothing_in_at_least_95_percent_of_comparisons() -> None:
    """The null: both sides the same build. Benjamini–Hochberg over the 9 cells keeps the
    chance that any cell is called a regression or an improvement at ≤ 5 %."""
    rng = np.random.default_rng(11)
    flagged = sum(any(c.verdict in ("regression", "improvement") for c in
                      _compare(rng, runs=2, ttd_scale=1.0)) for _ in range(300))
    assert flagged / 300 <= 0.05, flagged


def test_power_a_doubled_crash_ttd_is_found_with_two_runs_a_side() -> None:
    rng = np.random.default_rng(12)
    found = 0
    for _ in range(100):
        rows: list[Row] = []
        for k in range(2):
            rows += _rows("a", f"a{k}", rng) + _rows("b", f"b{k}", rng)
        # only crash TTD doubles on B
        rows = [r.model_copy(update={"value": r.value * 2}) if (
            r.side == "b" and r.phase == "crash" and r.metric == "ttd_s") else r for r in rows]
        cells = compare_cells(rows, n_resamples=100)
        found += any(c.phase == "crash" and c.metric == "ttd_s" and c.verdict == "regression"
                     for c in cells)
    assert found >= 95, found


def test_one_run_a_side_without_trials_is_too_few_and_unknown_metrics_are_refused() -> None:
    rng = np.random.default_rng(5)
    cells = compare_cells(_rows("a", "a0", rng, trials=1) + _rows("b", "b0", rng, trials=1))
    assert {c.verdict for c in cells} == {"too few runs"}
    with pytest.raises(ValueError, match="no test for metric"):
        compare_cells([Row(side="a", run_id="x", phase="p", metric="quorum", value=1.0)])
    with pytest.raises(ValueError, match="fdr must be between"):
        compare_cells(_rows("a", "a0", rng), fdr=1.5)
