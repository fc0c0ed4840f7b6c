from __future__ import annotations

import pandas as pd
import pytest

from gameday import metrics
from gameday.records import RequestRecord
from gameday.run_record import PhaseMetrics, PhaseRecord
from gameday.runbook import SloSpec

T0 = 1_700_000_000.0


def _req(i: int, latency: float, ok: bool = True, kind: str = "read", phase: str = "p",
         quorum: bool | None = True, wrong: bool | None = False, status: int = 200,
         error: str = "") -> RequestRecord:
    return RequestRecord(phase, kind, "PROD-001", T0 + i * 0.1, latency, status, ok, error,
                         quorum if kind == "read" else None, 1000.0 if ok else None,
                         wrong if kind == "read" else None)


@pytest.fixture
def ten() -> pd.DataFrame:
    # latencies 10..90 ms ok, plus one 1 s timeout (a failure at its elapsed time)
    rows = [_req(i, (i + 1) / 100) for i in range(9)]
    rows.append(_req(9, 1.0, ok=False, quorum=False, wrong=None, status=0, error="timeout"))
    return metrics.requests_frame(rows)


def test_availability_counts_a_timeout_as_a_failure(ten: pd.DataFrame) -> None:
    assert metrics.availability(ten) == pytest.approx(0.9)


def test_availability_of_nothing_is_none() -> None:
    assert metrics.availability(metrics.requests_frame([])) is None


def test_one_percentile_definition_linear_between_closest_ranks() -> None:
    values = [10, 20, 30, 40, 50, 60, 70, 80, 90, 1000]
    assert metrics.percentile(values, 0.95) == pytest.approx(590.5)
    assert metrics.percentile(values, 0.5) == pytest.approx(55.0)
    assert metrics.percentile([7.0], 0.99) == 7.0
    assert metrics.percentile([], 0.95) is None
    # the same as pandas' (and numpy's) default, which the journal used to call directly
    assert metrics.percentile(values, 0.99) == pytest.approx(pd.Series(values).quantile(0.99))


def test_the_live_panel_uses_the_same_percentile_as_the_journal(tmp_path) -> None:
    from system_load_app import app_generator

    gen = app_generator(tmp_path, "http://127.0.0.1:9")  # never run: its window is filled
    latencies_s = [i / 100 for i in range(1, 10)] + [1.0]
    gen._done.extend((1e12, True, lat) for lat in latencies_s)  # completed "now"
    # nearest rank would say 1000 ms; the project's definition says 590.5 ms
    assert gen.window_latency_ms(1e13, 0.95) == pytest.approx(590.5)


def test_percentiles_include_failures_at_their_elapsed_time(ten: pd.DataFrame) -> None:
    # sorted ms: 10,20,...,90,1000; linear interpolation at q·(n−1):
    # p50 at 4.5 → 50+0.5·10 = 55; p95 at 8.55 → 90+0.55·910 = 590.5;
    # p99 at 8.91 → 90+0.91·910 = 918.1
    p = metrics.latency_percentiles(ten)
    assert p["p50"] == pytest.approx(55.0)
    assert p["p95"] == pytest.approx(590.5)
    assert p["p99"] == pytest.approx(918.1)


def test_quorum_rate_counts_failed_reads_as_no_quorum(ten: pd.DataFrame) -> None:
    assert metrics.quorum_rate(ten) == pytest.approx(0.9)


def test_quorum_rate_ignores_writes() -> None:
    df = metrics.requests_frame([_req(0, 0.01), _req(1, 0.01, quorum=False),
                                 _req(2, 0.01, kind="write", status=201)])
    assert metrics.quorum_rate(df) == pytest.approx(0.5)


def test_quorum_rate_counts_a_systems_requests_that_record_a_quorum() -> None:
    """A system's request is named by its file (``look``), not ``read``: what counts is
    that it recorded whether a quorum served it."""
    rows = [RequestRecord("p", "look", "apple", T0 + i, 0.01, 200, True, "", i != 3)
            for i in range(4)]
    rows.append(RequestRecord("p", "take", "apple", T0 + 5, 0.01, 201, True))  # says nothing
    assert metrics.quorum_rate(metrics.requests_frame(rows)) == pytest.approx(0.75)


def test_wrong_answers_counts_flagged_reads() -> None:
    df = metrics.requests_frame([_req(0, 0.01, wrong=True), _req(1, 0.01),
                                 _req(2, 0.01, wrong=True), _req(3, 0.01, kind="write")])
    assert metrics.wrong_answers(df) == 2


def test_achieved_rate_is_the_schedule_when_the_generator_keeps_up(ten: pd.DataFrame) -> None:
    # window = span · n/(n−1) = 0.9 · 10/9 = 1 s; all 10 sent in it → 10 req/s
    assert metrics.achieved_rate(ten) == pytest.approx(10.0)
    assert metrics.achieved_rate(ten, 0.5) == pytest.approx(10.0)  # 5 sent in [0, 0.5)


def test_achieved_rate_drops_when_requests_are_sent_late(ten: pd.DataFrame) -> None:
    late = ten.assign(send_lag_s=[0.0] * 5 + [0.6] * 5)  # the last 5 left after 1.1 s+
    assert metrics.achieved_rate(late) == pytest.approx(5.0)


TRANS = metrics.transitions_frame([
    {"service_name": "inventory-svc", "instance_id": "1", "status": "OFF", "at_s": T0 + 1.0},
    {"service_name": "inventory-svc", "instance_id": "1", "status": "ON", "at_s": T0 + 3.0},
    {"service_name": "inventory-svc", "instance_id": "2", "status": "OFF", "at_s": T0 + 10.6},
    {"service_name": "inventory-svc", "instance_id": "2", "status": "ON", "at_s": T0 + 23.5},
    {"service_name": "inventory-svc", "instance_id": "2", "status": "OFF", "at_s": T0 + 30.0},
])


def test_ttd_is_the_first_off_of_that_replica_after_injection() -> None:
    # replica 1's earlier OFF and transitions before injection are ignored
    assert metrics.ttd(TRANS, "2", T0 + 10.0) == pytest.approx(0.6)
    assert metrics.ttd(TRANS, "3", T0 + 10.0) is None
    assert metrics.ttd(TRANS, "2", None) is None


def test_ttr_and_outage_run_to_the_on_that_ends_the_outage() -> None:
    assert metrics.ttr(TRANS, "2", T0 + 22.0, T0 + 10.0) == pytest.approx(1.5)
    assert metrics.outage(TRANS, "2", T0 + 10.0, T0 + 22.0) == pytest.approx(13.5)
    # without an injection time: the first ON after the rollback
    assert metrics.ttr(TRANS, "2", T0 + 22.0) == pytest.approx(1.5)
    assert metrics.ttr(TRANS, "2", T0 + 24.0) is None


def test_ttd_and_ttr_look_only_inside_the_phase_window() -> None:
    # replica 2 went OFF at +10.6 and came back at +23.5: with the window closed at +20
    # (the phase stopped watching), it did not recover in its phase
    assert metrics.ttr(TRANS, "2", T0 + 15.0, T0 + 10.0, until_s=T0 + 20.0) is None
    assert metrics.outage(TRANS, "2", T0 + 10.0, until_s=T0 + 20.0) is None
    assert metrics.ttd(TRANS, "2", T0 + 11.0, until_s=T0 + 29.0) is None  # OFF at 30: later


def _crash_phase(until: float) -> PhaseRecord:
    return PhaseRecord(name="crash", fault={"type": "crash", "component": "2"},
                       duration_s=12, start=T0 + 9.9, end=T0 + 22.0, injected_at=T0 + 10.0,
                       rolled_back_at=T0 + 22.0, observed_until=until)


def test_a_later_phase_cannot_change_a_phase_recorded_before_it() -> None:
    """The defect: the crash row said `ttr_s 0.0 vs 39.55` because the recompute found the
    replica's ON at the end of a *later* phase. Live and recomputed figures must agree."""
    # crash on 2: OFF +10.6, back ON +13 (supervisor restart), rollback at +22,
    # observed until +23; then a later phase faults replica 2 again: OFF +55, ON +61.5
    live = metrics.transitions_frame([
        {"instance_id": "2", "status": "OFF", "at_s": T0 + 10.6},
        {"instance_id": "2", "status": "ON", "at_s": T0 + 13.0},
    ])
    later = pd.concat([live, metrics.transitions_frame([
        {"instance_id": "2", "status": "OFF", "at_s": T0 + 55.0},
        {"instance_id": "2", "status": "ON", "at_s": T0 + 61.5},
    ])], ignore_index=True)
    reqs = metrics.requests_frame([_req(i, 0.01, phase="crash") for i in range(5)])
    phase = _crash_phase(T0 + 23.0)
    now, again = (metrics.phase_metrics(reqs, t, phase) for t in (live, later))
    assert now == again
    assert now.ttr_s == 0.0 and now.outage_s == pytest.approx(3.0)
    recorded = phase.model_copy(update={"metrics": now})
    assert metrics.crosscheck([recorded], reqs, later) == {"crash": []}


def test_crosscheck_names_every_figure_that_differs() -> None:
    reqs = metrics.requests_frame([_req(i, 0.01, phase="crash") for i in range(5)])
    phase = _crash_phase(T0 + 30.0)
    m = metrics.phase_metrics(reqs, TRANS, phase)
    tampered = phase.model_copy(update={"metrics": m.model_copy(update={"ttr_s": 9.0,
                                                                        "requests": 4})})
    diffs = metrics.crosscheck([tampered], reqs, TRANS)["crash"]
    assert diffs == ["requests recorded 4, recomputed 5", "ttr_s recorded 9.0, recomputed 1.5"]


def test_a_replica_back_on_before_rollback_recovered_at_once() -> None:
    # replica 2: OFF at +10.6, ON at +23.5 (a supervisor restarted it), rollback at +25
    assert metrics.ttr(TRANS, "2", T0 + 25.0, T0 + 10.0) == 0.0
    assert metrics.outage(TRANS, "2", T0 + 10.0, T0 + 25.0) == pytest.approx(13.5)
    # without the injection time nothing says it was out: no ON after rollback → None
    assert metrics.ttr(TRANS, "2", T0 + 25.0) is None
    # never detected OFF after injection: not "recovered"
    assert metrics.ttr(TRANS, "1", T0 + 5.0, T0 + 4.0) is None


def test_transitions_read_iso_or_epoch_times_and_sort_by_time() -> None:
    df = metrics.transitions_frame([
        {"instance_id": "web/b", "status": "on", "at_s": T0 + 2.0},
        {"instance_id": 2, "status": "off", "at": "2023-11-14T22:13:20.5+00:00",
         "reason": "health"},
    ])
    assert df.to_dict("records") == [
        {"instance_id": "2", "status": "OFF", "at_s": T0 + 0.5, "reason": "health"},
        {"instance_id": "web/b", "status": "ON", "at_s": T0 + 2.0, "reason": ""}]


def test_phase_metrics_of_a_fault_phase() -> None:
    rows = [_req(i, 0.01, phase="crash") for i in range(20)] + [_req(0, 0.5, phase="other")]
    df = metrics.requests_frame(rows)
    record = PhaseRecord(name="crash", fault={"type": "crash", "component": "2"},
                         duration_s=2.0, start=T0, end=T0 + 4.0, injected_at=T0 + 10.0,
                         rolled_back_at="2023-11-14T22:13:42+00:00",  # T0 + 22
                         observed_until=T0 + 25.0)
    m = metrics.phase_metrics(df, TRANS, record)
    assert m.requests == 20
    assert m.availability == 1.0
    assert m.latency_p95_ms == pytest.approx(10.0)
    assert m.ttd_s == pytest.approx(0.6)
    assert m.ttr_s == pytest.approx(1.5)
    assert m.outage_s == pytest.approx(13.5)
    assert m.achieved_rate == pytest.approx(10.0)  # 20 in 2 s (the span, not end − start)
    assert m.wrong_answers == 0 and m.quorum_rate == 1.0


def _by_name(checks: list) -> dict:
    return {c.name: c for c in checks}


def test_evaluate_a_fault_phase_against_the_slo_and_the_baseline() -> None:
    m = PhaseMetrics(availability=0.9995, quorum_rate=1.0, wrong_answers=0,
                     latency_p95_ms=16.0, latency_p99_ms=40.0, ttd_s=0.9, ttr_s=2.0)
    checks = _by_name(metrics.evaluate(m, SloSpec(ttd_s={"crash": 0.8}), "crash",
                                       PhaseMetrics(latency_p95_ms=10.0)))
    assert checks["availability"].passed
    assert not checks["latency_p95_ms"].passed  # 16 > 1.5 × 10
    # targets are numbers, not text: {"op": "<=", "value": 15.0}
    assert checks["latency_p95_ms"].target.model_dump() == {"op": "<=", "value": 15.0}
    assert str(checks["latency_p95_ms"].target) == "≤ 15"
    assert not checks["ttd_s"].passed  # 0.9 > 0.8 for a crash
    assert checks["ttd_s"].target.value == 0.8
    assert checks["ttr_s"].passed
    assert "latency_p99_ms" not in checks  # no p99 target in the SLO


def test_evaluate_an_undetected_fault_fails_ttd_and_skips_ttr() -> None:
    m = PhaseMetrics(availability=1.0, quorum_rate=1.0, wrong_answers=3, latency_p95_ms=5.0)
    checks = _by_name(metrics.evaluate(m, SloSpec(ttd_s={"incorrect_response": 0.5}),
                                       "incorrect_response", None))
    assert not checks["ttd_s"].passed and not checks["wrong_answers"].passed
    assert "ttr_s" not in checks and "latency_p95_ms" not in checks


def test_evaluate_a_phase_without_fault_checks_only_service_levels() -> None:
    checks = metrics.evaluate(PhaseMetrics(availability=0.99, quorum_rate=0.98,
                                           wrong_answers=0), SloSpec(), None)
    assert [(c.name, c.passed) for c in checks] == [
        ("availability", False), ("quorum_rate", False), ("wrong_answers", True)]


def test_resilience_score_weighs_fault_phases_double() -> None:
    def phase(fault: dict | None, *passed: bool) -> PhaseRecord:
        return PhaseRecord(name="p", fault=fault, duration_s=1, start=T0, checks=[
            {"name": "c", "target": {"op": ">=", "value": 1}, "value": 1, "passed": p}
            for p in passed])

    phases = [
        phase(None, True, True),                                              # 1 × 1
        phase({"type": "crash", "component": "1"}, True, False),               # 2 × .5
        phase({"type": "latency", "component": "2"}),                          # 2 × 0
    ]
    assert metrics.resilience_score(phases) == pytest.approx(100 * 2 / 5)
    assert metrics.resilience_score([]) == 0.0


def test_rolling_availability_over_a_time_window() -> None:
    rows = [_req(i, 0.01, ok=i != 2) for i in range(5)]  # at 0, .1, .2 (fail), .3, .4 s
    out = metrics.rolling_availability(metrics.requests_frame(rows), window_s=0.25)
    # window (t−0.25, t]: t=.2 → {0, .1, .2} → 2/3; t=.3 → {.1, .2, .3} → 2/3;
    # t=.4 → {.2, .3, .4} → 2/3
    assert list(out["availability"].round(4)) == [1.0, 1.0, 0.6667, 0.6667, 0.6667]
    assert list(out["t_s"].round(6)) == [0.0, 0.1, 0.2, 0.3, 0.4]


def test_latency_over_time_bins_by_intended_time() -> None:
    rows = [_req(i, (i + 1) / 1000) for i in range(20)]  # 2 s, 1..20 ms
    out = metrics.latency_over_time(metrics.requests_frame(rows), bin_s=1.0)
    assert list(out["t_s"]) == [0.0, 1.0]
    assert list(out["requests"]) == [10, 10]
    assert out["p50_ms"].tolist() == pytest.approx([5.5, 15.5])


def test_requests_frame_reads_back_its_csv(tmp_path, ten: pd.DataFrame) -> None:
    path = tmp_path / "r.csv"
    ten.to_csv(path, index=False)
    back = metrics.requests_frame(path)
    pd.testing.assert_frame_equal(back, ten)
