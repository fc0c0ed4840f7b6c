"""The exported report opened in headless Chromium with every network path closed."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
    None,
)


def _closed_port() -> int:
    """A loopback port nothing listens on: a proxy there refuses every request."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium)")
def test_report_renders_every_chart_as_svg_with_no_network(
    rendered_run: Path, tmp_path: Path
) -> None:
    page = rendered_run / "report.html"
    html = page.read_text()
    # nothing in the page points a browser at the network
    assert not re.search(r"<(script|img|iframe)[^>]+src=[\"']?(https?:)?//", html)
    assert not re.search(r"<link[^>]+href=[\"']?(https?:)?//", html)

    cmd = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--proxy-server=http://127.0.0.1:{_closed_port()}",
        "--virtual-time-budget=15000", "--dump-dom", page.as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    dom = done.stdout
    assert done.returncode == 0, done.stderr[-2000:]

    containers = re.findall(r'<div[^>]*class="plotly-graph-div[^"]*"', dom)
    assert len(containers) >= 5, "latency, availability, replicas, TTD/TTR and deltas charts"
    # plotly draws each chart into an <svg class="main-svg">: one per container at least
    assert dom.count('class="main-svg"') >= len(containers)
    # the plot areas hold drawn traces (lines, bars), not only empty axes
    assert dom.count('class="trace scatter') >= 3 and dom.count('class="trace bars"') >= 2
    assert "GameDay verdict" in dom


# ------------------------------------------------ as a person sees it (Playwright)
#: Desktop and laptop screens; the screenshots land in .gameday/screenshots/.
SCREENS = {"desktop": (1440, 900), "laptop": (1366, 768)}
SHOTS = Path(__file__).resolve().parents[2] / ".gameday" / "screenshots"
#: The background each verdict's banner is drawn on (gameday.headline).
BANNER_BACKGROUND = {"pass": "rgb(218, 251, 225)", "fail": "rgb(255, 235, 233)",
                     "aborted": "rgb(255, 248, 197)"}

_LOOK = """() => {
  const box = (el) => el ? el.getBoundingClientRect().toJSON() : null;
  const banner = document.querySelector('.gd-verdict');
  const table = document.querySelector('table.gd-headline');
  const plots = [...document.querySelectorAll('.plotly-graph-div')].map((div) => ({
    svg: div.querySelectorAll('svg.main-svg').length,
    traces: div.querySelectorAll('g.trace').length,
    marks: [...div.querySelectorAll('g.annotation-text-g text')]
      .map((t) => t.textContent).filter((t) => t.startsWith('✎')),
    width: div.getBoundingClientRect().width,
  }));
  return {
    banner: banner && {cls: banner.className, text: banner.innerText, box: box(banner),
                       bg: getComputedStyle(banner).backgroundColor},
    table: table && {rows: table.querySelectorAll('tbody tr').length, box: box(table),
                     text: table.innerText},
    plots, pageWidth: document.documentElement.scrollWidth,
  };
}"""


def _look(page: Path, kind: str, tmp_path: Path) -> dict[str, dict]:
    """Open ``page`` at every screen size with the network closed; screenshot the first
    screen and the whole page; return what the page shows and every script error."""
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    seen: dict[str, dict] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage",
                                            f"--proxy-server=http://127.0.0.1:{_closed_port()}",
                                            "--host-resolver-rules=MAP * ~NOTFOUND"])
        try:
            for screen, (width, height) in SCREENS.items():
                tab = browser.new_page(viewport={"width": width, "height": height})
                errors: list[str] = []
                tab.on("console", lambda m, e=errors: e.append(f"console.{m.type}: {m.text}")
                       if m.type in ("error", "assert") else None)
                tab.on("pageerror", lambda exc, e=errors: e.append(f"uncaught: {exc}"))
                tab.on("requestfailed", lambda r, e=errors: e.append(f"request: {r.url}"))
                tab.goto(page.as_uri(), wait_until="load")
                tab.wait_for_function(
                    "[...document.querySelectorAll('.plotly-graph-div')]"
                    ".every((d) => d.querySelector('svg.main-svg'))", timeout=60_000)
                tab.screenshot(path=SHOTS / f"report-{kind}-{screen}.png")
                tab.screenshot(path=SHOTS / f"report-{kind}-{screen}-full.png", full_page=True)
                seen[screen] = {**tab.evaluate(_LOOK), "errors": errors, "height": height,
                                "width": width}
                tab.close()
        finally:
            browser.close()
    return seen


def _assert_seen(seen: dict[str, dict], kind: str, label: str, fault_phases: int) -> None:
    for screen, look in seen.items():
        where = f"{kind} report at {screen} width"
        assert look["errors"] == [], f"{where}: {look['errors']}"
        banner, table = look["banner"], look["table"]
        assert banner and f"gd-{kind}" in banner["cls"], where
        assert label in banner["text"] and "score" in banner["text"], where
        assert banner["bg"] == BANNER_BACKGROUND[kind], where
        # did we pass, what failed, how bad: all on the first screen, no sideways scroll
        assert table and table["rows"] == fault_phases, where
        assert table["box"]["bottom"] <= look["height"], f"{where}: headline below the fold"
        assert look["pageWidth"] <= look["width"], f"{where}: the page scrolls sideways"
        assert len(look["plots"]) >= 5, where
        for i, plot in enumerate(look["plots"]):
            assert plot["svg"] >= 1 and plot["traces"] >= 1, f"{where}: plot {i} not drawn"
            assert plot["width"] <= look["width"], f"{where}: plot {i} wider than the screen"


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium)")
def test_a_failing_report_as_seen_at_desktop_and_laptop_width(
    rendered_run: Path, tmp_path: Path
) -> None:
    seen = _look(rendered_run / "report.html", "fail", tmp_path)
    _assert_seen(seen, "fail", "FAILED", fault_phases=2)
    text = seen["laptop"]["banner"]["text"]
    assert "incorrect_response: availability 97.46 %, target ≥ 99.9 %" in text
    assert "✘ 97.46 %" in seen["laptop"]["table"]["text"]


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium)")
def test_a_passing_report_as_seen_at_desktop_and_laptop_width(
    rendered_pass_run: Path, tmp_path: Path
) -> None:
    seen = _look(rendered_pass_run / "report.html", "pass", tmp_path)
    _assert_seen(seen, "pass", "PASSED", fault_phases=2)
    assert "Every check met its target." in seen["desktop"]["banner"]["text"]


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium)")
def test_an_aborted_report_as_seen_with_observations_on_the_timelines(
    rendered_aborted_run: Path, tmp_path: Path
) -> None:
    seen = _look(rendered_aborted_run / "report.html", "aborted", tmp_path)
    _assert_seen(seen, "aborted", "ABORTED", fault_phases=2)
    assert "Aborted in phase incorrect_response" in seen["desktop"]["banner"]["text"]
    timelines = [p for p in seen["desktop"]["plots"] if p["marks"]]
    assert len(timelines) == 3  # latency, availability, replicas
    assert all(p["marks"] == ["✎1", "✎2"] for p in timelines)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium)")
def test_gameday_report_pdf_writes_a_pdf_beside_the_html(
    tmp_path: Path, copy_pass_run: Callable[[Path], Path]
) -> None:
    from pypdf import PdfReader

    from gameday.cli import main

    run_dir = copy_pass_run(tmp_path / "reports" / "run-pass")
    assert main(["report", str(run_dir), "--pdf", "-q"]) == 0
    pdf = run_dir / "report.pdf"
    assert (run_dir / "report.html").is_file() and pdf.is_file()
    assert pdf.read_bytes()[:5] == b"%PDF-"
    reader = PdfReader(pdf)
    assert len(reader.pages) >= 3
    first = reader.pages[0]
    assert first.mediabox.width > first.mediabox.height  # A4 landscape
    text = first.extract_text()
    assert "GAMEDAY VERDICT" in text.upper() and "PASSED" in text and "100" in text
    everything = "\n".join(p.extract_text() for p in reader.pages)
    assert "Latency over time" in everything and "How to reproduce this run" in everything


def test_report_pdf_without_chromium_says_what_to_do_before_rendering(
    tmp_path: Path, copy_pass_run: Callable[[Path], Path], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from gameday.cli import main

    run_dir = copy_pass_run(tmp_path / "reports" / "run-pass")
    monkeypatch.setenv("GAMEDAY_CHROMIUM", str(tmp_path / "no-such-chromium"))
    assert main(["report", str(run_dir), "--pdf", "-q"]) == 1
    err = capsys.readouterr().err
    assert "no-such-chromium is not an executable" in err and "apt-get install chromium" in err
    assert not (run_dir / "report.html").exists()  # no minute of rendering spent first
    with pytest.raises(SystemExit) as exit_:  # --pdf prints one run's report
        main(["report", "--index", "--pdf", "--reports-dir", str(tmp_path)])
    assert exit_.value.code == 2 and "give its RUN_ID" in capsys.readouterr().err
