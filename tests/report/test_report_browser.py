"""The exported report opened in headless Chromium with every network path closed."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
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
    assert "Verdict" in dom
