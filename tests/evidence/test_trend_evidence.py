"""The trends' regression test on synthetic histories with known truth (seeded)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from synth_history import TTD, history, old_rule_flags

from gameday.evidence.trends import trend_cells

NULL_HISTORIES = 200
POWER_HISTORIES = 200
#: Bootstrap resamples where only the verdicts are counted (they do not depend on it).
FAST = 50


def _flagged(cells: list, verdict: str = "regression") -> set[tuple[str, str]]:
    return {(c.phase, c.metric) for c in cells if c.verdict == verdict}


def test_no_change_is_flagged_in_at_most_5_percent_of_histories() -> None:
    rng = np.random.default_rng(14)
    false_new = false_old = false_old_any = 0
    for _ in range(NULL_HISTORIES):
        h = history(rng)
        cells = trend_cells(h, seed=int(rng.integers(1 << 30)), n_resamples=FAST)
        false_new += bool(_flagged(cells) | _flagged(cells, "improvement"))
        false_old += old_rule_flags(h, last=5) > 0
        false_old_any += old_rule_flags(h) > 0
    print(f"\nnull histories: {NULL_HISTORIES} (12 runs, 13 cells each); with any flag: "
          f"new test {false_new / NULL_HISTORIES:.1%}, old median+25 % rule "
          f"{false_old / NULL_HISTORIES:.1%} in the last 5 runs, "
          f"{false_old_any / NULL_HISTORIES:.1%} anywhere")
    assert false_new / NULL_HISTORIES <= 0.05
    assert false_old > false_new  # the rule replaced was noisier on the same histories


@pytest.mark.parametrize("fault", ["crash", "latency"])
def test_a_50_percent_slower_detection_in_the_last_5_of_12_runs_is_found(fault: str) -> None:
    rng = np.random.default_rng(50)
    found = elsewhere = 0
    for _ in range(POWER_HISTORIES):
        cells = trend_cells(history(rng, shift={fault: 1.5}),
                            seed=int(rng.integers(1 << 30)), n_resamples=FAST)
        flagged = _flagged(cells)
        found += (fault, "ttd_s") in flagged
        elsewhere += bool(flagged - {(fault, "ttd_s")})
    power = found / POWER_HISTORIES
    print(f"\n+50 % TTD on {fault} (run-to-run σ {TTD[fault][1]:.0%}): found in {power:.1%} "
          f"of {POWER_HISTORIES} histories; another cell flagged in "
          f"{elsewhere / POWER_HISTORIES:.1%}")
    assert power >= 0.80
    assert elsewhere / POWER_HISTORIES <= 0.05


def test_power_on_noisy_cells_is_reported_not_promised() -> None:
    """Intermittent and incorrect-response TTD vary by 40–55 % from run to run: 12 runs
    cannot tell a +50 % shift there from noise reliably (printed for docs/statistics.md).
    What holds: a slower detection is never called an improvement."""
    rng = np.random.default_rng(51)
    for fault in ("intermittent", "incorrect_response"):
        found = 0
        for i in range(50):
            cells = trend_cells(history(rng, shift={fault: 1.5}), seed=i, n_resamples=FAST)
            found += (fault, "ttd_s") in _flagged(cells)
            assert (fault, "ttd_s") not in _flagged(cells, "improvement")
        print(f"\n+50 % TTD on {fault} (σ {TTD[fault][1]:.0%}): "
              f"found in {2 * found}% of 50 histories")


def test_a_cell_says_its_effect_and_interval_in_the_metrics_unit() -> None:
    rng = np.random.default_rng(3)
    h = history(rng, shift={"latency": 2.0})
    cell = next(c for c in trend_cells(h) if (c.phase, c.metric) == ("latency", "ttd_s"))
    assert cell.verdict == "regression"
    assert cell.n_before == 7 and cell.n_recent == 5
    assert cell.recent_runs == [f"run-{r:02d}" for r in range(7, 12)]
    assert cell.effect == pytest.approx(cell.recent - cell.before)
    assert cell.low <= cell.effect <= cell.high and cell.low > 0
    assert cell.p_adjusted >= cell.p_value


def test_a_fault_no_longer_detected_is_a_regression_and_an_improvement_is_named() -> None:
    rng = np.random.default_rng(4)
    h = history(rng, shift={"crash": 0.5})
    h.loc[(h["phase"] == "latency") & (h["metric"] == "ttd_s")
          & (h["run_id"] >= "run-07"), "value"] = np.nan  # never detected
    cells = {(c.phase, c.metric): c for c in trend_cells(h)}
    gone = cells[("latency", "ttd_s")]
    assert gone.verdict == "regression" and gone.recent is None and gone.effect is None
    assert cells[("crash", "ttd_s")].verdict == "improvement"


def test_availability_falls_with_evidence_only_beyond_its_run_to_run_bursts() -> None:
    rng = np.random.default_rng(5)
    h = history(rng)
    cells = {(c.phase, c.metric): c for c in trend_cells(h)}
    assert cells[("crash", "availability")].test == "quasi-binomial"
    late = (h["metric"] == "availability") & (h["phase"] == "crash") & (h["run_id"] >= "run-07")
    h.loc[late, "value"] = 0.97  # 3 % of requests failing in every recent run
    cell = next(c for c in trend_cells(h) if (c.phase, c.metric) == ("crash", "availability"))
    assert cell.verdict == "regression"
    assert cell.effect < 0 and cell.high < 0  # availability fell: recent − before < 0


def test_short_histories_and_other_runbooks_are_not_compared() -> None:
    rng = np.random.default_rng(6)
    h = history(rng, runs=3)
    assert {c.verdict for c in trend_cells(h)} == {"too few runs"}
    other = history(rng, runs=12).assign(runbook="other")
    slower = other["value"].where(other["metric"] != "ttd_s", other["value"] * 3)
    mixed = pd.concat([history(rng, runs=12), other.assign(value=slower)])
    assert not [c for c in trend_cells(mixed) if c.verdict == "regression"]


def test_unknown_metric_and_bad_window_are_refused() -> None:
    h = history(np.random.default_rng(0), runs=4)
    with pytest.raises(ValueError, match="window must be at least 1"):
        trend_cells(h, window=0)
    with pytest.raises(ValueError, match="no test for metric"):
        trend_cells(h.assign(metric="wrong_answers"))
