"""``make lab``: JupyterLab on a free loopback port serves the session notebook, and a
headless Chromium shows it open."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gameday.lab import free_port, lab_command, lab_environment, session_notebook_for
from gameday.paths import REPO_ROOT

CHROMIUM = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
    None,
)


def test_lab_command_binds_loopback_and_opens_the_session_notebook() -> None:
    copy = session_notebook_for("runbooks/standard.yaml", stamp="test-copy")
    try:  # a working copy: the session's outputs never land in the tracked notebook
        assert copy == Path("reports/sessions/standard-test-copy.ipynb")
        tracked = REPO_ROOT / "notebooks/session.ipynb"
        assert (REPO_ROOT / copy).read_bytes() == tracked.read_bytes()
    finally:
        (REPO_ROOT / copy).unlink(missing_ok=True)
    cmd = lab_command(8899, "notebooks/session.ipynb", token="t", open_browser=False)
    assert "--ip=127.0.0.1" in cmd and "--port=8899" in cmd and "--no-browser" in cmd
    assert "--MappingKernelManager.default_kernel_name=gameday" in cmd
    assert cmd[-1] == "notebooks/session.ipynb"


class Lab:
    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.base}{path}", params={"token": self.token}, timeout=10)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """`python -m gameday.lab` (what `make lab` runs) on a free port; stopped afterwards."""
    port, token = free_port(20000 + os.getpid() % 10000), secrets.token_hex(8)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    log = open(tmp_path / "lab.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "gameday.lab", "--port", str(port), "--token", token,
         "--no-browser"], cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Lab(port, token)
    try:
        deadline = time.monotonic() + 180  # a busy 2-core machine takes over 60 s
        while True:
            try:
                if server.get("/api/status").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (tmp_path / "lab.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "JupyterLab did not answer within 180 s"
            time.sleep(0.3)
        yield server
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


#: The prompt JupyterLab 4 shows while its ``fetchNews`` setting is "none" (its default).
_NEWS_PROMPT = "Would you like to get notified about official Jupyter news?"


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the RGB pixels (3 bytes each) of an 8-bit non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    height = bpp = 0
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6), (depth, color)
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, rows = zlib.decompress(idat), width * bpp, []
    prev = bytearray(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    pixels = [row[i:i + 3] for row in rows for i in range(0, stride, bpp)]
    return width, height, pixels


@pytest.mark.slow
def test_lab_serves_the_session_notebook_with_the_gameday_kernel(lab: Lab) -> None:
    resp = lab.get("/api/contents/notebooks/session.ipynb")
    assert resp.status_code == 200
    model = resp.json()
    assert model["type"] == "notebook"
    assert model["content"]["metadata"]["kernelspec"]["name"] == "gameday"
    assert model["content"]["cells"][0]["source"].startswith("# GameDay session")
    specs = lab.get("/api/kernelspecs").json()
    assert specs["default"] == "gameday" and "gameday" in specs["kernelspecs"]
    argv0 = specs["kernelspecs"]["gameday"]["spec"]["argv"][0]
    assert Path(argv0).resolve() == Path(sys.executable).resolve()  # this project's venv
    assert httpx.get(f"{lab.base}/api/contents/notebooks/session.ipynb",
                     timeout=10).status_code == 403  # a token is required


def test_lab_environment_adds_its_config_dir_and_keeps_the_users(tmp_path: Path) -> None:
    env = lab_environment({"JUPYTER_CONFIG_PATH": "/etc/mine", "HOME": "/home/x"},
                          config_dir=tmp_path / "jupyter")
    assert env["JUPYTER_CONFIG_PATH"] == os.pathsep.join([str(tmp_path / "jupyter"),
                                                          "/etc/mine"])
    assert env["HOME"] == "/home/x"
    page = json.loads((tmp_path / "jupyter/labconfig/page_config.json").read_text())
    assert page == {"disabledExtensions": {
        "@jupyterlab/apputils-extension:announcements": True}}


@pytest.mark.slow
def test_the_lab_page_loads_without_the_news_plugin(lab: Lab, tmp_path: Path) -> None:
    page = lab.get("/lab/tree/notebooks/session.ipynb")
    assert page.status_code == 200
    data = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                     page.text, re.S)
    assert data, page.text[:2000]
    config = json.loads(data.group(1))
    # the plugin that asks "get notified about official Jupyter news?" is not loaded
    assert "@jupyterlab/apputils-extension:announcements" in config["disabledExtensions"]
    assert "@jupyterlab/apputils-extension:notification" not in config["disabledExtensions"]
    assert lab.get("/lab/api/news").json() == {"news": []}  # nothing fetched either


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium)")
def test_headless_chromium_shows_the_open_session_notebook(lab: Lab, tmp_path: Path) -> None:
    url = f"{lab.base}/lab/tree/notebooks/session.ipynb?token={lab.token}"
    common = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
              "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--disable-dev-shm-usage", "--window-size=1280,900",
              "--virtual-time-budget=30000"]
    shot = tmp_path / "session.png"
    done = subprocess.run(
        [*common, f"--user-data-dir={tmp_path / 'p1'}", f"--screenshot={shot}", url],
        capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    dom = subprocess.run(
        [*common, f"--user-data-dir={tmp_path / 'p2'}", "--dump-dom", url],
        capture_output=True, text=True, timeout=180).stdout
    # the notebook is open and rendered: its title, the roles table and the code cells
    assert "GameDay session" in dom and "coordinator" in dom
    assert "jp-Notebook" in dom and "jp-CodeCell" in dom
    # and nothing over it: no "get notified about official Jupyter news?" prompt
    assert _NEWS_PROMPT not in dom and "Jupyter news" not in dom

    width, height, pixels = _png_pixels(shot.read_bytes())
    assert (width, height) == (1280, 900)
    assert shot.stat().st_size > 30_000  # a blank or error page compresses to far less
    counts = Counter(pixels)
    assert len(counts) > 50, "the screenshot is (nearly) one colour"
    [(_, background)] = counts.most_common(1)
    assert background < 0.9 * len(pixels), "the screenshot is mostly blank"
