"""Figures as people read them: units, precision, and never a rounding that lies."""

from __future__ import annotations

import pytest

from gameday.run_record import Check, Threshold
from gameday.units import check_sentence, fmt_delta, fmt_seconds, fmt_target, fmt_value, slo_lines

AT_LEAST_999 = Threshold(op=">=", value=0.999)


@pytest.mark.parametrize(("metric", "value", "shown"), [
    ("availability", 0.9745762711864406, "97.46 %"),
    ("availability", 1.0, "100 %"),
    ("availability", 0.0, "0 %"),
    ("quorum_rate", 0.9642857142857143, "96.43 %"),
    ("latency_p95_ms", 816.1499999994239, "816 ms"),
    ("latency_p50_ms", 27.499999999690772, "27.5 ms"),
    ("latency_p50_ms", 7.00530001, "7.01 ms"),
    ("ttd_s", 0.2286219596862793, "0.23 s"),
    ("ttr_s", 12.3456, "12.3 s"),
    ("wrong_answers", 0, "0"),
    ("requests", 12345, "12,345"),
    ("achieved_rate", 19.59285542427983, "19.6 req/s"),
    ("ttd_s", None, "—"),
    ("availability", float("nan"), "—"),
])
def test_values_carry_their_unit_and_a_sensible_precision(
    metric: str, value: float | None, shown: str
) -> None:
    assert fmt_value(metric, value) == shown


def test_a_share_short_of_whole_never_reads_100_percent() -> None:
    assert fmt_value("availability", 0.99996) == "99.996 %"
    assert fmt_value("availability", 0.0000004).startswith("0.0000")


def test_a_missed_target_is_never_rounded_onto_its_passing_side() -> None:
    # 99.899 % at two decimals prints 99.9 %, which meets ≥ 99.9 %: show more digits
    assert fmt_value("availability", 0.99899, target=AT_LEAST_999) == "99.899 %"
    at_most = Threshold(op="<=", value=261.375)
    assert fmt_value("latency_p95_ms", 261.4, target=at_most) == "261.4 ms"
    assert fmt_value("ttd_s", 0.8004, target=Threshold(op="<=", value=0.8)) == "0.8004 s"
    # a met target keeps the short form
    assert fmt_value("availability", 0.9995, target=AT_LEAST_999) == "99.95 %"


def test_targets_read_as_people_say_them() -> None:
    assert fmt_target("availability", AT_LEAST_999) == "≥ 99.9 %"
    assert fmt_target("quorum_rate", Threshold(op=">=", value=0.99)) == "≥ 99 %"
    assert fmt_target("latency_p95_ms", Threshold(op="<=", value=261.375)) == "≤ 261.4 ms"
    assert fmt_target("ttd_s", Threshold(op="<=", value=0.8)) == "≤ 0.8 s"
    assert fmt_target("ttr_s", Threshold(op="<=", value=5.0)) == "≤ 5 s"
    assert fmt_target("wrong_answers", Threshold(op="<=", value=0)) == "≤ 0"


def test_durations_and_differences() -> None:
    assert fmt_seconds(41.23) == "41.2 s"
    assert fmt_seconds(185) == "3 min 05 s"
    assert fmt_seconds(3725) == "1 h 02 min"
    assert fmt_delta("latency_p95_ms", 641.9) == "+642 ms"
    assert fmt_delta("latency_p95_ms", -93.2) == "−93.2 ms"
    assert fmt_delta("availability", -2.54237) == "−2.54 pts"
    assert fmt_delta("availability", 0.0) == "±0 pts"


def test_a_failed_check_reads_as_a_sentence() -> None:
    check = Check(name="availability", target=AT_LEAST_999, value=0.9745762711864406,
                  passed=False)
    assert check_sentence("incorrect_response", check) == (
        "incorrect_response: availability 97.46 %, target ≥ 99.9 %")
    missed = Check(name="ttd_s", target=Threshold(op="<=", value=0.5), value=None,
                   passed=False, detail="the monitor never marked it OFF")
    assert check_sentence("latency", missed) == (
        "latency: time to detect (TTD) not observed, target ≤ 0.5 s "
        "(the monitor never marked it OFF)")


def test_slos_read_as_sentences_not_a_dict() -> None:
    slo = {"availability": 0.999, "latency_p95_ratio": 1.5, "latency_p95_min_ms": 50.0,
           "latency_p99_ms": None, "ttd_s": {"crash": 0.8, "incorrect_response": 0.5},
           "ttr_s": 5.0, "quorum_rate": 0.99, "wrong_answers": 0, "extra_knob": 3}
    lines = slo_lines(slo)
    assert lines == [
        "availability ≥ 99.9 %", "quorum rate ≥ 99 %", "wrong answers ≤ 0",
        "p95 latency during a fault ≤ 1.5 × the baseline's p95 (never below 50 ms)",
        "time to detect (TTD) ≤ 0.8 s (crash), 0.5 s (incorrect response)",
        "time to recover (TTR) ≤ 5 s", "extra knob: 3"]
    assert not any("{" in line or "None" in line for line in lines)
