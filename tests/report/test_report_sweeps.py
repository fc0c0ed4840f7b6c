"""A report of a run with a swept phase: the breaking point in words, its chart (metric
against dose, intervals, the target, the breaking range), its table; escaped; looked at
in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from gameday.evidence.models import SweepResult
from gameday.evidence.sweeps import dose_point, threshold
from gameday.threshold import Threshold

HOSTILE = "lat<script>alert(1)</script>"
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)


def _sweep() -> SweepResult:
    target = Threshold(op="<=", value=300)
    trials = {100: [105.0, 108.0, 104.0], 200: [204.0, 210.0, 199.0],
              250: [251.0, 262.0, 255.0], 350: [305.0, 312.0, 309.0],
              400: [306.0, 311.0, None], 600: [308.0, 310.0, 309.0]}
    points = [dose_point(d, "latency_p99_ms", v, target, seed=i)
              for i, (d, v) in enumerate(trials.items())]
    return SweepResult(phase=HOSTILE, fault_type="latency", param="latency_ms",
                       metric="latency_p99_ms", target=target, points=points,
                       breaking_point=threshold(points, target))


@pytest.fixture(scope="module")
def swept_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import importlib.util

    from gameday.report import render_report

    spec = importlib.util.spec_from_file_location("report_conftest",
                                                  Path(__file__).with_name("conftest.py"))
    assert spec and spec.loader
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)
    run_dir = conftest.copy_run(tmp_path_factory.mktemp("reports") / "run-swept")
    journal = json.loads((run_dir / "journal.json").read_text())
    journal["sweeps"] = [_sweep().model_dump(mode="json")]
    (run_dir / "journal.json").write_text(json.dumps(journal, indent=2))
    render_report(run_dir)
    return run_dir


def test_the_breaking_point_is_named_with_its_range_and_charted(swept_report: Path) -> None:
    page = (swept_report / "report.html").read_text()
    assert "Breaking points: the metric against the dose" in page
    assert "p99 latency ≤ 300 ms breaks between 250 ms and 350 ms" in page
    assert "injected latency (ms)" in page  # the chart's dose axis
    assert "<script>alert(1)</script>" not in page
    assert "lat&lt;script&gt;alert(1)&lt;/script&gt;" in page or \
        "lat\\u003cscript\\u003e" in page
    for dose in ("100 ms", "250 ms", "600 ms"):
        assert f">{dose}<" in page  # the table's rows


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium)")
def test_the_sweep_chart_draws_in_a_browser(swept_report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "sweep.png"
    page = (swept_report / "report.html").as_uri()
    base = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
            "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=15000"]
    dom = subprocess.run([*base, "--dump-dom", page], capture_output=True, text=True,
                         timeout=120).stdout
    assert "injected latency (ms)" in dom and 'class="main-svg"' in dom
    assert "<script>alert(1)" not in dom
    if os.environ.get("GAMEDAY_KEEP_SCREENSHOTS"):
        subprocess.run([*base, "--window-size=1400,6000", f"--screenshot={shot}", page],
                       capture_output=True, timeout=120)
        shutil.copy(shot, os.environ["GAMEDAY_KEEP_SCREENSHOTS"])


def test_a_system_faults_own_parameter_labels_its_doses_by_name_and_unit() -> None:
    """A system's fault may sweep any numeric parameter: the axis and the sentences name it,
    with the unit its name carries, and a name from the journal is escaped."""
    from gameday.evidence.readable import fmt_dose, sweep_sentence
    from gameday.plot_sweeps import dose_axis, sweep_figure

    assert [fmt_dose("latency_ms", 250), fmt_dose("probability", 0.3)] == ["250 ms", "p = 0.3"]
    assert [fmt_dose("delay_ms", 1500), fmt_dose("hold_s", 2.5),
            fmt_dose("connections", 8)] == ["1,500 ms", "2.5 s", "connections = 8"]
    assert [dose_axis("latency_ms"), dose_axis("delay_ms"), dose_axis("hold_s"),
            dose_axis("connections")] == ["injected latency (ms)", "delay_ms (ms)",
                                          "hold_s (s)", "connections"]
    result = _sweep().model_copy(update={"param": "connections"})
    assert "between connections = 250 and connections = 350" in sweep_sentence(result)
    hostile = _sweep().model_copy(update={"param": HOSTILE})
    axis = sweep_figure(hostile).layout.xaxis.title.text
    assert "<script>" not in axis and "&lt;script&gt;" in axis
