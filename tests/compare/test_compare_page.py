"""The comparison's page and its inputs: verdicts people can read, every text escaped,
the interleaved order, and the checks ``prepare`` makes before anything is touched."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from gameday.compare.models import CompareResult, CompareRun, CompareSide
from gameday.compare.page import write_page
from gameday.compare.runner import Comparison, interleaved
from gameday.errors import GameDayError, RunbookError
from gameday.evidence.comparison import Row, compare_cells

REPO = Path(__file__).resolve().parents[2]
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)


def _result(tmp_path: Path, *, slower: float) -> CompareResult:
    rng = np.random.default_rng(2)
    rows: list[Row] = []
    for k in range(6):
        for side, scale in (("a", 1.0), ("b", slower)):
            run = f"{side}-{k}"
            rows.append(Row(side=side, run_id=run, phase="(run)", metric="score", value=100.0))
            rows.append(Row(side=side, run_id=run, phase="baseline", metric="availability",
                            value=1.0, requests=200))
            for phase in ("crash", HOSTILE):
                ttd = rng.lognormal(np.log(0.3), 0.06) * scale
                rows += [Row(side=side, run_id=run, phase=phase, fault="crash",
                             metric="ttd_s", value=None if (side, k) == ("b", 5) else ttd),
                         Row(side=side, run_id=run, phase=phase, fault="crash",
                             metric="latency_p95_ms", value=rng.lognormal(np.log(15), 0.1))]
    side = {"label": HOSTILE, "path": f"/tmp/{HOSTILE}", "spec": HOSTILE}
    runs = [CompareRun(order=i + 1, side=s, seed=7 + k, run_id=f"run-{i}",
                       run_dir=str(tmp_path / "runs" / f"run-{i}"), status="completed",
                       passed=True, score=100.0, duration_s=31.0,
                       error=HOSTILE if i == 2 else None)
            for i, (s, k) in enumerate(interleaved(6))]
    return CompareResult(
        compare_id="compare-x", runbook="compare", runbook_path=HOSTILE, trials=6, seed=7,
        fdr=0.05, start="2026-11-30T07:00:00Z", end="2026-11-30T07:10:00Z",
        a=CompareSide(name="a", base_port=5101, **side),
        b=CompareSide(name="b", base_port=5111, **side),
        order=[s for s, _ in interleaved(6)], runs=runs, cells=compare_cells(rows),
        load_average=[2.5, 3.1])


def test_runs_are_interleaved_a_b_b_a_with_one_seed_per_pair() -> None:
    assert interleaved(3) == [("a", 0), ("b", 0), ("b", 1), ("a", 1), ("a", 2), ("b", 2)]
    assert interleaved(1) == [("a", 0), ("b", 0)]


def test_the_page_names_the_regression_and_escapes_every_text(tmp_path: Path) -> None:
    result = _result(tmp_path, slower=2.0)
    assert {(c.phase, c.metric) for c in result.regressions} == {
        ("crash", "ttd_s"), (HOSTILE, "ttd_s")}
    page = write_page(tmp_path, result).read_text()
    assert "<script" not in page and "<img" not in page and "onerror=alert(1)>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "REGRESSION: B is worse than A in 2 metric(s)" in page
    assert re.search(r'<tr class="regression"><td>crash</td><td>crash</td>'
                     r"<td>time to detect \(TTD\)</td>", page)
    assert "not observed" in page  # B's undetected trial, in the dots' title
    assert 'href="runs/run-0/journal.json"' in page
    assert "2.50 → 3.10" in page  # the load average beside the figures


def test_a_spread_comparison_says_where_each_run_ran_escaped(tmp_path: Path) -> None:
    result = _result(tmp_path, slower=1.0)
    result.spread_over = HOSTILE
    result.a.base_port = result.b.base_port = None
    result.runs[0].target_key = HOSTILE
    page = write_page(tmp_path, result).read_text()
    assert "<script" not in page and "<img" not in page
    assert "Each run was a sub-flow run of <code>&lt;script&gt;" in page
    assert "<td>each worker&#x27;s</td>" in page
    assert "completed on &lt;script&gt;" in page


def test_a_against_itself_says_no_regression(tmp_path: Path) -> None:
    result = _result(tmp_path, slower=1.0)
    assert not result.regressions
    page = write_page(tmp_path, result).read_text()
    assert "NO REGRESSION with evidence" in page


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium)")
def test_the_page_renders_in_a_browser_with_its_dots(tmp_path: Path) -> None:
    write_page(tmp_path, _result(tmp_path, slower=2.0))
    shot = tmp_path / "compare.png"
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
           "--window-size=1500,1100", "--host-resolver-rules=MAP * ~NOTFOUND",
           f"--screenshot={shot}", (tmp_path / "index.html").as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and shot.stat().st_size > 10_000, done.stderr[-2000:]
    if os.environ.get("GAMEDAY_KEEP_SCREENSHOTS"):
        shutil.copy(shot, os.environ["GAMEDAY_KEEP_SCREENSHOTS"])
    dom = subprocess.run([*cmd[:-2], "--dump-dom", cmd[-1]], capture_output=True, text=True,
                         timeout=120).stdout
    assert dom.count("<circle") >= 2 * 12 * 2  # both sides' dots on the TTD rows
    assert "<script" not in dom and "<img" not in dom  # the hostile text stayed text
    assert "REGRESSION: B is worse than A" in dom


def test_prepare_checks_everything_before_touching_anything(tmp_path: Path) -> None:
    smoke = REPO / "runbooks" / "smoke.yaml"
    with pytest.raises(GameDayError, match="--b nope-not-a-ref: neither a directory"):
        Comparison.prepare(smoke, str(REPO), "nope-not-a-ref")
    with pytest.raises(GameDayError, match="--base-ports 7701,7705: both sides' stacks of "
                                           "system systems/inventory.yaml would use port "
                                           "7705; give base ports further apart"):
        Comparison.prepare(smoke, str(REPO), str(REPO), base_ports=(7701, 7705))
    with pytest.raises(GameDayError, match="--trials must be between 1 and 100"):
        Comparison.prepare(smoke, str(REPO), str(REPO), trials=0)
    with pytest.raises(RunbookError, match="missing.yaml"):
        Comparison.prepare(tmp_path / "missing.yaml", str(REPO), str(REPO))
    ok = Comparison.prepare(smoke, "HEAD", str(REPO), trials=2, seed=3)
    assert ok.seed == 3 and ok.runbook.name == "smoke"
    assert not list(tmp_path.iterdir())  # nothing written


def test_a_system_runbooks_sides_must_hold_its_system_file(tmp_path: Path) -> None:
    """A side of a runbook with a system runs that checkout's version of the system file:
    a checkout with the stack's code but without the file is refused before anything."""
    compare = REPO / "runbooks" / "compare.yaml"
    stack_only = tmp_path / "stack-only"
    shutil.copytree(REPO / "stack", stack_only / "stack",
                    ignore=shutil.ignore_patterns("__pycache__"))
    with pytest.raises(GameDayError, match=r"--b .*stack-only does not hold the system "
                                           r"\(missing systems/inventory.yaml\)"):
        Comparison.prepare(compare, str(REPO), str(stack_only))
    ok = Comparison.prepare(compare, "HEAD", str(REPO))
    assert ok.needs == ("systems/inventory.yaml",) and ok.repo == REPO
    legacy = tmp_path / "legacy.yaml"  # the older form: refused, saying what to name
    legacy.write_text("name: legacy\nload: {rate: 1}\nphases: [{name: b, duration_s: 1}]\n")
    with pytest.raises(RunbookError, match="legacy.yaml: system: is required"):
        Comparison.prepare(legacy, str(stack_only), str(REPO))
