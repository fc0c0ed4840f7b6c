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


@pytest.fixture
def twelve_runs(
    tmp_path: Path,
    copy_run: Callable[[Path], Path],
    shifted_copy: Callable[..., Path],
) -> Path:
    """reports/ with 12 runs of the test run; the last 5 detect 3x slower (a few % of
    jitter on every run, as between real runs)."""
    reports = tmp_path / "reports"
    first = copy_run(reports / "run-00")
    for i in range(1, 12):
        shifted_copy(first, reports / f"run-{i:02d}", days=i,
                     ttd_factor=(3.0 if i >= 7 else 1.0) * (1 + 0.01 * (i % 4)))
    return reports


def test_trends_flag_the_slower_detection_with_evidence_and_match_the_journals(
    twelve_runs: Path,
) -> None:
    page = render_trends(twelve_runs, window=5, fdr=0.05)
    assert page == twelve_runs / "trends.html"
    assert check_offline(page.read_text()) == []
    summary = read_summary(twelve_runs / "trends.ipynb")
    assert summary["runs"] == 12 and summary["window"] == 5 and summary["fdr"] == 0.05
    journals = {d.name: json.loads((d / "journal.json").read_text())
                for d in twelve_runs.iterdir() if d.is_dir()}
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
    flagged = {(c["phase"], c["metric"]) for c in summary["regressions"]}
    detected = [p["name"] for p in journals["run-11"]["phases"]
                if p.get("fault") and (p["metrics"].get("ttd_s") or 0) > 0.02]
    assert detected, "the test run should have detected at least one fault"
    assert flagged == {(name, "ttd_s") for name in detected}  # nothing else changed
    for cell in summary["regressions"]:
        assert cell["recent_runs"] == [f"run-{i:02d}" for i in range(7, 12)]
        assert cell["n_before"] == 7 and cell["effect"] > 0 and cell["low"] > 0
        assert cell["p_adjusted"] <= 0.05
    marked = {r["run_id"] for r in summary["rows"] if r["verdict"] == "regression"}
    assert marked == {f"run-{i:02d}" for i in range(7, 12)}
    html_text = page.read_text()
    assert "regression" in html_text and "change [95 % interval]" in html_text
    assert 'href="trends.html"' in (twelve_runs / "index.html").read_text()


def test_one_slow_run_after_two_is_not_evidence(three_runs: Path) -> None:
    """run-c detects 3x slower than run-a and run-b: the old median + 25 % rule flagged it;
    one run against two cannot tell a change from noise, and the page says so."""
    from gameday.evidence.trends import trend_cells
    from gameday.report import trend_table

    cells = trend_cells(trend_table(three_runs))
    assert cells and {c.verdict for c in cells} == {"too few runs"}


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


def test_a_fault_no_longer_detected_is_a_regression_and_other_runbooks_are_apart(
    tmp_path: Path, copy_run: Callable[[Path], Path], shifted_copy: Callable[..., Path]
) -> None:
    from gameday.evidence.trends import trend_cells
    from gameday.report import trend_table

    reports = tmp_path / "reports"
    first = copy_run(reports / "run-00")
    fault_phase = next(p["name"] for p in json.loads((first / "journal.json").read_text())
                       ["phases"] if p.get("fault") and p["metrics"].get("ttd_s"))
    for i in range(1, 12):
        run = shifted_copy(first, reports / f"run-{i:02d}", days=i,
                           ttd_factor=1 + 0.01 * (i % 4))
        journal = json.loads((run / "journal.json").read_text())
        if i >= 7:  # the monitor never saw this fault in the last 5 runs
            next(p for p in journal["phases"] if p["name"] == fault_phase)[
                "metrics"]["ttd_s"] = None
        (run / "journal.json").write_text(json.dumps(journal))
    for i in range(3):  # another runbook, 10x slower: its first runs, nothing to compare
        other = shifted_copy(first, reports / f"other-{i}", days=20 + i, ttd_factor=10.0)
        journal = json.loads((other / "journal.json").read_text())
        journal["runbook"]["name"] = "another-runbook"
        (other / "journal.json").write_text(json.dumps(journal))

    history = trend_table(reports)
    assert history[(history["run_id"] == "run-11") & (history["phase"] == fault_phase)
                   & (history["metric"] == "ttd_s")]["value"].isna().all()
    cells = trend_cells(history)
    regressions = {(c.runbook, c.phase, c.metric) for c in cells if c.verdict == "regression"}
    name = json.loads((first / "journal.json").read_text())["runbook"]["name"]
    assert regressions == {(name, fault_phase, "ttd_s")}
    gone = next(c for c in cells if (c.runbook, c.phase, c.metric) == (name, fault_phase,
                                                                         "ttd_s"))
    assert gone.recent is None and gone.effect is None  # never detected: +∞
    assert {c.verdict for c in cells if c.runbook == "another-runbook"} == {"too few runs"}


def test_cli_trends_refuses_the_old_margin_and_bad_windows(
    three_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for args, said in ((["--margin", "0.25"], "--margin is gone"),
                       (["--window", "0"], "a whole number of runs ≥ 1"),
                       (["--fdr", "1.5"], "a rate between 0 and 1")):
        with pytest.raises(SystemExit) as exc:
            main(["report", "--reports-dir", str(three_runs), "--trends", *args])
        assert exc.value.code == 2
        assert said in capsys.readouterr().err


def test_index_and_runs_say_inconclusive_for_a_run_with_trials(
    tmp_path: Path, copy_run: Callable[[Path], Path]
) -> None:
    from gameday.runs import list_runs as runs_rows

    reports = tmp_path / "reports"
    run = copy_run(reports / "run-trials")
    journal = json.loads((run / "journal.json").read_text())
    journal["verdict"].update(passed=False, outcome="inconclusive",
                              inconclusive=["crash: detection rate 100% [72%, 100%] …"])
    (run / "journal.json").write_text(json.dumps(journal))
    page = render_index(reports).read_text()
    assert '<tr class="inconclusive">' in page and ">INCONCLUSIVE<" in page
    assert [r.verdict for r in runs_rows(reports)] == ["inconclusive"]
