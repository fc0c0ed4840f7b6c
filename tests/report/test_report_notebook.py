from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

from gameday import metrics
from gameday.errors import ReportError
from gameday.journal import load_run, read_journal
from gameday.paths import NOTEBOOKS_DIR
from gameday.report import check_offline, read_summary, render_report


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)


def test_verdict_table_equals_the_journal_phase_metrics(rendered_run: Path) -> None:
    journal = json.loads((rendered_run / "journal.json").read_text())
    summary = read_summary(rendered_run / "report.ipynb")
    table = {row["phase"]: row for row in summary["verdict_table"]}
    assert list(table) == [ph["name"] for ph in journal["phases"]]
    for ph in journal["phases"]:
        row = table[ph["name"]]
        for key in ("availability", "latency_p95_ms", "latency_p99_ms", "quorum_rate",
                    "wrong_answers", "ttd_s", "ttr_s", "requests"):
            assert _close(row[key], ph["metrics"][key]), (ph["name"], key)
        assert row["passed"] == ph["passed"]


def test_checks_table_lists_every_journal_check_with_its_result(rendered_run: Path) -> None:
    journal = json.loads((rendered_run / "journal.json").read_text())
    summary = read_summary(rendered_run / "report.ipynb")
    expected = [(ph["name"], c["name"], "PASS" if c["passed"] else "FAIL")
                for ph in journal["phases"] for c in ph["checks"]]
    got = [(c["phase"], c["check"], c["result"]) for c in summary["checks"]]
    assert got == expected


def test_score_equals_the_journal_verdict_and_its_recomputation(rendered_run: Path) -> None:
    journal = json.loads((rendered_run / "journal.json").read_text())
    summary = read_summary(rendered_run / "report.ipynb")
    assert summary["score"] == journal["verdict"]["score"]
    assert summary["passed"] == journal["verdict"]["passed"]
    assert _close(summary["recomputed_score"],
                  metrics.resilience_score(read_journal(rendered_run / "journal.json").phases))
    # the journal keeps the score rounded to two decimals
    assert summary["recomputed_score"] == pytest.approx(journal["verdict"]["score"], abs=0.01)
    assert 0 <= summary["score"] <= 100


def test_metrics_recomputed_from_raw_data_match_the_journal(rendered_run: Path) -> None:
    journal, requests, transitions = load_run(rendered_run)
    summary = read_summary(rendered_run / "report.ipynb")
    for ph, again in zip(journal.phases, summary["recomputed"], strict=True):
        direct = metrics.phase_metrics(requests, transitions, ph)
        for key in ("availability", "latency_p95_ms", "ttd_s", "ttr_s", "wrong_answers"):
            assert _close(again[key], getattr(direct, key)), (ph.name, key)
            assert _close(again[key], getattr(ph.metrics, key)), (ph.name, key)
    assert [row["result"] for row in summary["crosscheck"]] == ["matches"] * len(journal.phases)


def test_detection_and_baseline_deltas_come_from_the_journal(rendered_run: Path) -> None:
    journal = json.loads((rendered_run / "journal.json").read_text())
    summary = read_summary(rendered_run / "report.ipynb")
    faults = [ph for ph in journal["phases"] if ph.get("fault")]
    assert [d["phase"] for d in summary["detection"]] == [ph["name"] for ph in faults]
    base = next(ph for ph in journal["phases"] if not ph.get("fault"))["metrics"]
    for ph, det, delta in zip(faults, summary["detection"], summary["deltas"], strict=True):
        assert _close(det["ttd_s"], ph["metrics"]["ttd_s"])
        assert _close(det["ttr_s"], ph["metrics"]["ttr_s"])
        assert det["ttd_target_s"] == journal["runbook"]["slo"]["ttd_s"][ph["fault"]["type"]]
        assert _close(delta["latency_p95_delta_ms"],
                      ph["metrics"]["latency_p95_ms"] - base["latency_p95_ms"])
        assert _close(delta["availability_delta_pp"],
                      (ph["metrics"]["availability"] - base["availability"]) * 100)


def test_html_is_offline_hides_code_and_shows_every_chart(rendered_run: Path) -> None:
    page = (rendered_run / "report.html").read_text()
    assert check_offline(page) == []
    assert not re.search(r"<script[^>]+src=[\"']?https?:", page)
    assert not re.search(r"<link[^>]+href=[\"']?https?:", page)
    # plotly.js is inlined once; five charts: latency, availability, replicas, TTD/TTR, deltas
    assert page.count("Plotly.newPlot(") >= 5
    assert "load_run(" not in page and "plots.latency_figure" not in page
    assert "GameDay verdict" in page and "resilience score" in page
    journal = json.loads((rendered_run / "journal.json").read_text())
    assert journal["seed"] is not None and journal["runbook_sha256"] in page
    for obs in journal.get("observations") or []:
        assert obs["text"].split("<")[0][:30] in page


def test_notebook_is_committed_clean_with_one_parameters_cell() -> None:
    for name in ("report.ipynb", "trends.ipynb"):
        nb = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), name
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, name


def test_failing_cell_raises_report_error_naming_it_and_keeps_the_journal(
    tmp_path: Path, copy_run: Callable[[Path], Path]
) -> None:
    run_dir = copy_run(tmp_path / "reports" / "run-broken")
    before = hashlib.sha256((run_dir / "journal.json").read_bytes()).hexdigest()
    nb = nbformat.read(NOTEBOOKS_DIR / "report.ipynb", as_version=4)
    bad = nbformat.v4.new_code_cell("phase_count = len(phases)\nraise KeyError('p95_ms')")
    nb.cells.insert(4, bad)
    broken = tmp_path / "broken.ipynb"
    nbformat.write(nb, broken)

    with pytest.raises(ReportError) as err:
        render_report(run_dir, notebook=broken)

    message = str(err.value)
    assert "cell 4" in message
    assert "phase_count = len(phases)" in message
    assert "KeyError" in message and "p95_ms" in message
    assert hashlib.sha256((run_dir / "journal.json").read_bytes()).hexdigest() == before
    assert not (run_dir / "report.html").exists()
    assert (run_dir / "report.ipynb").exists()  # kept for reading the traceback


def test_a_folder_without_journal_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no journal.json"):
        render_report(tmp_path)


def test_report_error_is_final_for_the_flow() -> None:
    from gameday.errors import GameDayError

    assert issubclass(ReportError, GameDayError)
    assert not issubclass(ReportError, OSError | TimeoutError | ConnectionError)


def test_render_report_works_from_any_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, copy_run: Callable[[Path], Path]
) -> None:
    run_dir = copy_run(tmp_path / "reports" / "run-cwd")
    monkeypatch.chdir(tmp_path)
    shutil.rmtree(tmp_path / "reports" / "run-cwd" / "report.html", ignore_errors=True)
    page = render_report("reports/run-cwd", refresh_index=False)
    assert page == (run_dir / "report.html").resolve()
    assert not (tmp_path / "reports" / "index.html").exists()


def test_observations_are_shown_when_the_journal_has_some(
    tmp_path: Path, copy_run: Callable[[Path], Path]
) -> None:
    run_dir = copy_run(tmp_path / "reports" / "run-notes")
    journal = json.loads((run_dir / "journal.json").read_text())
    journal["observations"] = [{"at": journal["start"], "role": "scribe", "phase": "crash",
                                "text": "Replica 3 vanished; voter kept answering"}]
    (run_dir / "journal.json").write_text(json.dumps(journal))
    page = render_report(run_dir, refresh_index=False).read_text()
    assert "Replica 3 vanished; voter kept answering" in page and "scribe" in page


def test_a_phase_whose_load_generator_fell_behind_is_flagged(
    tmp_path: Path, copy_run: Callable[[Path], Path]
) -> None:
    run_dir = copy_run(tmp_path / "reports" / "run-behind")
    journal = json.loads((run_dir / "journal.json").read_text())
    phase = journal["phases"][1]
    phase["name"] = "<b>crash</b>"
    phase["load"] = {"scheduled_rate": 150.0, "achieved_rate": 120.0, "send_lag_p99_ms": 840.0,
                     "shards": 1, "kept_up": False,
                     "reason": "sent 120.0 req/s of the 150.0 scheduled (-20.0%, allowed ±2%)"}
    (run_dir / "journal.json").write_text(json.dumps(journal))
    page = render_report(run_dir, refresh_index=False).read_text()
    assert page.count("The load generator fell behind.") == 1
    assert "Phase &lt;b&gt;crash&lt;/b&gt;: sent 120.0 req/s of the 150.0 scheduled" in page


def test_a_half_written_run_renders_and_says_what_is_missing(tmp_path: Path) -> None:
    """The defect: a killed run's journal (status running, no end) failed the report with a
    TypeError in a cell. Here: the journal as written right after an injection, and no
    raw data at all."""
    from gameday.fingerprint import utc_time
    from gameday.journal import write_journal
    from gameday.paths import RUNBOOKS_DIR
    from gameday.run_record import ActivityRun, JournalRecord
    from gameday.runbook import load_runbook

    run_dir = tmp_path / "reports" / "20260101-000000-smoke-half"
    run_dir.mkdir(parents=True)
    t0 = utc_time()
    write_journal(run_dir, JournalRecord(
        run_id=run_dir.name, start=t0, target_key="local:5001",
        runbook=load_runbook(RUNBOOKS_DIR / "smoke.yaml").model_dump(mode="json"),
        run=[ActivityRun(activity={"name": "inject crash on inventory/3", "phase": "crash"},
                         start=t0, end=t0, duration=0.1, status="succeeded")]))
    page = render_report(run_dir).read_text()
    summary = read_summary(run_dir / "report.ipynb")
    assert summary["status"] == "running" and summary["passed"] is None
    assert summary["missing"] == [
        "the run did not finish: still marked running: its process may have died",
        "phase baseline: not run",
        "phase crash: interrupted while it ran; its requests and metrics were not recorded",
        "phase incorrect_response: not run", "phase recovery: not run",
        "no verdict (the run never concluded)",
        "no check of the system's invariants", "no steady-state check after the run",
        "requests.csv was never written", "transitions.csv was never written"]
    assert "record is incomplete" in page and "requests.csv was never written" in page
