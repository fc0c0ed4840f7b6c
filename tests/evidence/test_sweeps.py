"""Breaking points: each dose judged on its interval, the threshold named with its range,
the bisection step of a search."""

from __future__ import annotations

import pytest

from gameday.evidence.sweeps import dose_point, next_dose, threshold
from gameday.threshold import Threshold

LE_300 = Threshold(op="<=", value=300)
GE_90 = Threshold(op=">=", value=0.9)


def _latency_sweep(values: dict[float, list[float | None]]) -> list:
    return [dose_point(d, "latency_p95_ms", v, LE_300) for d, v in values.items()]


def test_a_dose_is_judged_on_the_median_of_its_trials_with_a_bootstrap_interval() -> None:
    p = dose_point(200, "latency_p95_ms", [120.0, 140.0, 130.0], LE_300)
    assert p.interval.estimate == pytest.approx(130.0) and p.interval.n == 3
    assert p.verdict == "pass" and p.trials == 3
    assert dose_point(400, "latency_p95_ms", [350.0, 380.0, 420.0], LE_300).verdict == "fail"
    straddles = dose_point(300, "latency_p95_ms", [250.0, 310.0, 330.0], LE_300)
    assert straddles.verdict == "inconclusive"
    rate = dose_point(0.1, "detection_rate", [0.4, None, None], GE_90)  # 1 of 3 detected
    assert rate.interval.method == "wilson" and rate.interval.estimate == pytest.approx(1 / 3)
    assert rate.verdict == "fail"
    with pytest.raises(ValueError, match="has no trial"):
        dose_point(1.0, "ttd_s", [], LE_300)


def test_the_breaking_point_lies_between_the_last_passing_and_first_failing_dose() -> None:
    pts = _latency_sweep({100: [110.0, 112.0, 111.0], 200: [205.0, 210.0, 207.0],
                          250: [255.0, 260.0, 258.0], 300: [290.0, 330.0, 310.0],
                          350: [340.0, 345.0, 350.0], 600: [340.0, 345.0, 342.0]})
    bp = threshold(pts, LE_300)
    assert bp.kind == "crossing" and bp.direction == "up"
    assert (bp.low, bp.high) == (250, 350)  # the inconclusive 300 stays inside the range
    assert bp.estimate is not None and 250 <= bp.estimate <= 350


def test_a_rate_that_improves_with_the_dose_crosses_downwards() -> None:
    ge_60 = Threshold(op=">=", value=0.6)  # 10/10 detected: Wilson 72–100 %, a pass
    pts = [dose_point(d, "detection_rate", v, ge_60) for d, v in {
        0.05: [None] * 10, 0.1: [None] * 5 + [0.5] * 5, 0.3: [0.4] * 10, 0.5: [0.3] * 10,
    }.items()]
    assert [p.verdict for p in pts] == ["fail", "inconclusive", "pass", "pass"]
    bp = threshold(pts, ge_60)
    assert bp.kind == "crossing" and bp.direction == "down"
    assert (bp.low, bp.high) == (0.05, 0.3)  # last failing, first passing dose
    assert bp.estimate is not None and 0.05 <= bp.estimate <= 0.3


def test_no_crossing_in_the_range_says_so() -> None:
    ok = _latency_sweep({100: [110.0, 111.0, 112.0], 200: [210.0, 205.0, 208.0]})
    assert threshold(ok, LE_300).kind == "holds throughout"
    bad = _latency_sweep({400: [410.0, 420.0, 415.0], 500: [510.0, 505.0, 520.0]})
    assert threshold(bad, LE_300).kind == "fails throughout"
    unsure = _latency_sweep({300: [250.0, 310.0, 330.0]})
    assert threshold(unsure, LE_300).kind == "unsettled"


def test_bisection_halves_the_bracket_around_the_target() -> None:
    pts = _latency_sweep({100: [110.0, 112.0, 111.0], 600: [340.0, 345.0, 342.0]})
    assert next_dose(pts, LE_300) == 350
    pts += _latency_sweep({350: [320.0, 330.0, 325.0]})
    assert next_dose(pts, LE_300) == 225
    flat = _latency_sweep({100: [110.0, 112.0, 111.0], 600: [120.0, 121.0, 119.0]})
    assert next_dose(flat, LE_300) is None  # nothing to bracket
