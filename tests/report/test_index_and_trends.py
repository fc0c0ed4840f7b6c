from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from gameday.cli import main
from gameday.report import check_offline, list_runs, read_summary, render_index, render_trends


@pytest.fixture
def three_runs(
    tmp_path: Path,
    copy_run: Callable[[Path], Path],
    shifted_copy: Callable[..., Path],
) -> Path:
    """reports/ with the test run and two later copies; the last detects 3x slower."""
    reports = tmp_path / "reports"
    first = copy_run(reports / "run-a")
    shifted_copy(first, reports / "run-b", days=1)
    shifted_copy(first, reports / "run-c", days=2, ttd_factor=3.0)
    return reports


def test_index_lists_runs_newest_first_with_relative_links(three_runs: Path) -> None:
    (three_runs / "run-b" / "report.html").write_text("<html></html>")
    page = render_index(three_runs).read_text()
    first_id = json.loads((three_runs / "run-a" / "journal.json").read_text())["run_id"]
    rows = re.findall(r"<tr class=.*?</tr>", page)
    assert len(rows) == 3
    assert "run-c" in rows[0] and "run-b" in rows[1] and first_id in rows[2]
    assert 'href="run-b/report.html"' in page
    assert "run-a/report.html" not in page  # no report rendered for it yet
    assert check_offline(page) == [] and "http" not in page
    journal = json.loads((three_runs / "run-a" / "journal.json").read_text())
    row = next(r for r in list_runs(three_runs) if r["dir"] == "run-a")
    assert row["score"] == journal["verdict"]["score"]
    assert row["passed"] == journal["verdict"]["passed"]
    assert row["status"] == journal["status"]


def test_trends_flag_the_slower_detection_and_match_the_journals(three_runs: Path) -> None:
    page = render_trends(three_runs, margin=0.25)
    assert page == three_runs / "trends.html"
    assert check_offline(page.read_text()) == []
    summary = read_summary(three_runs / "trends.ipynb")
    assert summary["runs"] == 3
    journals = {d.name: json.loads((d / "journal.json").read_text())
                for d in three_runs.iterdir() if d.is_dir()}
    journals = {j["run_id"]: j for j in journals.values()} | journals
    for row in summary["rows"]:
        journal = journals[row["run_id"]]
        if row["metric"] == "score":
            assert row["value"] == pytest.approx(journal["verdict"]["score"])
            continue
        ph = next(p for p in journal["phases"] if p["name"] == row["phase"])
        expected = ph["metrics"][row["metric"]]
        assert (row["value"] is None) if expected is None else (
            row["value"] == pytest.approx(expected))
    flagged = {(r["run_id"], r["phase"], r["metric"]) for r in summary["regressions"]}
    detected = [p["name"] for p in journals["run-c"]["phases"]
                if p.get("fault") and (p["metrics"].get("ttd_s") or 0) > 0.02]
    assert detected, "the test run should have detected at least one fault"
    for name in detected:
        assert ("run-c", name, "ttd_s") in flagged
    assert not any(run == "run-b" for run, _, _ in flagged)  # an identical run is no regression
    first_id = journals["run-a"]["run_id"]
    assert not any(run == first_id for run, _, _ in flagged)  # the first run has no baseline
    assert 'href="trends.html"' in (three_runs / "index.html").read_text()


def test_cli_report_renders_a_run_by_id_and_the_index(
    three_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--reports-dir", str(three_runs), "run-b"]) == 0
    out = capsys.readouterr().out
    assert "executing notebook" in out and "exporting HTML" in out
    assert (three_runs / "run-b" / "report.html").is_file()
    assert 'href="run-b/report.html"' in (three_runs / "index.html").read_text()
    assert main(["report", "--reports-dir", str(three_runs), "--index", "-q"]) == 0
    assert capsys.readouterr().out.strip() == str(three_runs / "index.html")


def test_cli_report_names_an_unknown_run(
    three_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--reports-dir", str(three_runs), "no-such-run"]) == 1
    assert "'no-such-run' is neither a run folder nor a run id" in capsys.readouterr().err


def test_trend_table_flags_a_fault_no_longer_detected_and_not_other_runbooks(
    tmp_path: Path, copy_run: Callable[[Path], Path], shifted_copy: Callable[..., Path]
) -> None:
    from gameday.report import trend_table

    reports = tmp_path / "reports"
    first = copy_run(reports / "run-a")
    shifted_copy(first, reports / "run-b", days=1)
    late = shifted_copy(first, reports / "run-c", days=2)
    other = shifted_copy(first, reports / "run-d", days=3, ttd_factor=10.0)
    journal = json.loads((late / "journal.json").read_text())
    fault_phase = next(p for p in journal["phases"] if p.get("fault"))
    fault_phase["metrics"]["ttd_s"] = None  # the monitor never saw this fault
    (late / "journal.json").write_text(json.dumps(journal))
    journal = json.loads((other / "journal.json").read_text())
    journal["runbook"]["name"] = "another-runbook"
    (other / "journal.json").write_text(json.dumps(journal))

    trends = trend_table(reports, margin=0.25)
    flagged = trends[trends["regression"]]
    assert set(zip(flagged["run_id"], flagged["phase"], flagged["metric"], strict=True)) == {
        ("run-c", fault_phase["name"], "ttd_s")
    }
    # run-d is the first run of its runbook: 10x slower, but nothing to compare with
    assert trends[trends["run_id"] == "run-d"]["baseline"].isna().all()
