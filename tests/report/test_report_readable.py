"""The report reads at a glance: the verdict first, figures with units, no Python reprs.

Read from the exported HTML's visible text (what a browser shows outside scripts and
styles); the browser tests (test_report_browser.py) look at the drawn page.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd

from gameday import plots
from gameday.journal import read_journal


class _Text(HTMLParser):
    """The text a reader sees: everything outside <script>, <style> and <head>."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in ("script", "style", "head"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.parts.append(data.strip())


def visible_text(page: Path) -> str:
    parser = _Text()
    parser.feed(page.read_text())
    return "\n".join(parser.parts)


def _no_raw_values(text: str) -> None:
    raw_floats = re.findall(r"(?<![\w.])\d+\.\d{4,}(?![\w.])", text)
    assert not raw_floats, f"raw floats shown: {raw_floats[:5]}"
    for word in ("True", "False", "None", "nan", "NaN"):
        assert not re.search(rf"\b{word}\b", text), f"{word} shown"
    assert "{'" not in text and "':" not in text, "a Python dict repr is shown"


def test_the_failing_report_opens_on_the_verdict_and_what_failed(rendered_run: Path) -> None:
    page = (rendered_run / "report.html").read_text()
    text = visible_text(rendered_run / "report.html")
    _no_raw_values(text)
    banner = page.index("gd-verdict gd-fail")
    headline = re.search(r"<table class=[\"']gd-headline", page)
    # the banner and the headline table come before any explanation, table or chart
    assert headline and banner < headline.start() < page.index("How to read this report")
    assert banner < page.index("class=\"plotly-graph-div")
    assert "FAILED" in text and re.search(r"score\s+83\s*/ 100", text)
    assert "15 of 18 checks passed" in text
    for sentence in ("incorrect_response: availability 97.46 %, target ≥ 99.9 %",
                     "incorrect_response: quorum rate 96.43 %, target ≥ 99 %",
                     "incorrect_response: p95 latency 816 ms, target ≤ 261.4 ms"):
        assert sentence in text, sentence


def test_the_headline_table_sets_each_fault_figure_beside_its_target(rendered_run: Path) -> None:
    page = (rendered_run / "report.html").read_text()
    start = re.search(r"<table class=[\"']gd-headline", page)
    assert start, "no headline table"
    table = page[start.start():]
    table = table[:table.index("</table>")]
    journal = read_journal(rendered_run / "journal.json")
    faults = [p for p in journal.phases if p.fault is not None]
    assert table.count("<tr>") == len(faults) + 1  # the header and one row per fault
    text = re.sub(r"<[^>]+>", " ", table)
    for label in ("time to detect (TTD)", "time to recover (TTR)", "availability",
                  "wrong answers"):
        assert label in text
    assert re.search(r"✔ 0\.23 s\s+target ≤ 0\.8 s", text)  # crash TTD
    assert re.search(r"✘ 97\.46 %\s+target ≥ 99\.9 %", text)  # incorrect_response
    assert re.search(r"✔ 0\s+target ≤ 0", text)  # wrong answers
    assert "✘ 3/6" in text and "✔ 6/6" in text


def test_slos_phases_and_plan_read_in_words(rendered_run: Path) -> None:
    text = visible_text(rendered_run / "report.html")
    for line in ("availability ≥ 99.9 %", "quorum rate ≥ 99 %",
                 "p95 latency during a fault ≤ 1.5 × the baseline",
                 "time to detect (TTD) ≤ 0.8 s (crash)", "time to recover (TTR) ≤ 5 s"):
        assert line in text, line
    assert "4.5–9.6 s" in text  # the crash phase's window on the plots' axis
    assert "✘ 3 of 6 checks failed" in text and "✔ passed" in text


def test_a_passing_report_says_so_first(rendered_pass_run: Path) -> None:
    page = (rendered_pass_run / "report.html").read_text()
    text = visible_text(rendered_pass_run / "report.html")
    _no_raw_values(text)
    assert page.index("gd-verdict gd-pass") < page.index("How to read this report")
    assert "PASSED" in text and "FAILED" not in text
    assert re.search(r"score\s+100\s*/ 100", text)
    assert "Every check met its target." in text
    assert text.count("✘") == 2  # only where the page explains the marks (twice)


def test_an_aborted_report_says_where_and_why(rendered_aborted_run: Path) -> None:
    page = (rendered_aborted_run / "report.html").read_text()
    text = visible_text(rendered_aborted_run / "report.html")
    _no_raw_values(text)
    assert "gd-verdict gd-aborted" in page and "ABORTED" in text
    assert "Aborted in phase incorrect_response" in text
    assert "fell below the floor 90.0%" in text and "run aborted" in text
    # the observations are numbered as the timelines mark them
    assert "✎1" in text and "✎2" in text and "+1.2 s" in text


def test_observations_are_marked_on_every_timeline(rendered_aborted_run: Path) -> None:
    journal = read_journal(rendered_aborted_run / "journal.json")
    t0 = journal.start.timestamp()
    notes = journal.observations
    bands = pd.DataFrame({"t_s": [0.0, 1.0], "p50_ms": [1.0, 2.0], "p95_ms": [2.0, 3.0],
                          "p99_ms": [3.0, 4.0]})
    avail = pd.DataFrame({"t_s": [0.0, 1.0], "availability": [1.0, 1.0]})
    transitions = pd.DataFrame({"instance_id": ["1"], "status": ["OFF"], "at_s": [t0 + 5]})
    for fig in (plots.latency_figure(bands, journal.phases, t0, t0, observations=notes),
                plots.availability_figure(avail, journal.phases, t0, t0, observations=notes),
                plots.component_timeline_figure(transitions, journal.phases, t0, t0 + 30,
                                              observations=notes)):
        marks = [a for a in fig.layout.annotations if (a.text or "").startswith("✎")]
        assert [a.text for a in marks] == ["✎1", "✎2"]
        assert marks[0].hovertext == "observer: orders page shows stale stock"
        lines = {round(s.x0, 3) for s in fig.layout.shapes if s.line.dash == "dot"}
        assert round(notes[0].at.timestamp() - t0, 3) in lines
        names = {t.name for t in fig.data}
        assert any(n and n.startswith("observation") for n in names)
        assert "a person noticed the fault" in names


def test_the_machine_readable_summary_keeps_every_digit(rendered_run: Path) -> None:
    from gameday.report import read_summary

    journal = json.loads((rendered_run / "journal.json").read_text())
    summary = read_summary(rendered_run / "report.ipynb")
    row = next(r for r in summary["verdict_table"] if r["phase"] == "incorrect_response")
    phase = next(p for p in journal["phases"] if p["name"] == "incorrect_response")
    assert isinstance(row["availability"], float)  # a number, not "97.46 %"
    assert abs(row["availability"] - phase["metrics"]["availability"]) < 1e-9


def test_the_prefect_summary_shows_units_and_failing_checks_in_words(
    tmp_path: Path, copy_run: object
) -> None:
    import mistune

    from gameday.run_record import Outcome
    from gameday.summary import markdown_summary

    run_dir = copy_run(tmp_path / "run")  # type: ignore[operator]
    journal = read_journal(run_dir / "journal.json")
    assert journal.verdict is not None
    outcome = Outcome(run_id=journal.run_id, name="smoke", status="failed", passed=False,
                      score=journal.verdict.score,
                      failing_checks=[*journal.verdict.failing_checks, "run aborted"],
                      run_dir=str(run_dir), journal=str(run_dir / "journal.json"))
    page = mistune.create_markdown(plugins=["table"])(markdown_summary(journal, outcome))
    text = re.sub(r"<[^>]+>", " ", page)
    _no_raw_values(text)
    assert "97.46 %" in text and "816 ms" in text and "0.23 s" in text
    assert "incorrect_response: availability 97.46 %, target ≥ 99.9 %" in text
    assert text.count("incorrect_response: availability") == 1  # not twice (raw + words)
    assert "run aborted" in text
