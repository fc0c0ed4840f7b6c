"""A report as PDF: headless Chromium prints ``report.html`` to ``report.pdf`` beside it.

For the people who file GameDay results in documents (``gameday report RUN_ID --pdf``).
The page is the same offline HTML a browser shows: Chromium runs its scripts (the plotly
charts draw) with every network path closed, then prints it with no header or footer.
The report's own print style (``@page``, :data:`gameday.report` template) lays it out on
A4 landscape pages, wide enough for the charts.

Which Chromium: ``Settings.chromium`` (``GAMEDAY_CHROMIUM``), else the first of
``chromium``, ``chromium-browser``, ``google-chrome`` on PATH.

Errors: :class:`gameday.errors.ReportError` (final, like every report error) when no
Chromium is found, when it fails or times out, or when what it wrote is not a PDF. The
PDF is written through a temporary file and renamed: a reader never sees half of one.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from gameday.errors import ReportError

__all__ = ["find_chromium", "require_chromium", "print_pdf", "BROWSERS"]

#: The binaries looked for on PATH, in order.
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium(configured: str | None = None) -> str | None:
    """The Chromium to use: ``configured`` (a path or a name on PATH), else the first of
    :data:`BROWSERS` on PATH; None when there is none."""
    if configured:
        return shutil.which(configured) or (configured if Path(configured).is_file() else None)
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def require_chromium(configured: str | None = None) -> str:
    """:func:`find_chromium`, or ReportError saying what to install or set."""
    browser = find_chromium(configured)
    if browser is None:
        raise ReportError(
            (f"GAMEDAY_CHROMIUM={configured} is not an executable" if configured else
             "no Chromium found on PATH (looked for " + ", ".join(BROWSERS) + ")")
            + ": install it (apt-get install chromium) or set GAMEDAY_CHROMIUM")
    return browser


def _closed_port() -> int:
    """A loopback port nothing listens on: as a proxy it refuses every request."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def print_pdf(html: str | Path, pdf: str | Path | None = None, *,
              chromium: str | None = None, timeout_s: float = 180.0) -> Path:
    """Print ``html`` to ``pdf`` (default: the same name with ``.pdf``); return its path.

    Raises ReportError when the page is missing, no Chromium is found, Chromium fails or
    takes longer than ``timeout_s``, or its output is not a PDF.
    """
    page = Path(html).resolve()
    if not page.is_file():
        raise ReportError(f"{page}: no such report to print (render it first: "
                          "gameday report RUN_ID)")
    out = Path(pdf).resolve() if pdf else page.with_suffix(".pdf")
    browser = require_chromium(chromium)
    with tempfile.TemporaryDirectory(prefix="gameday-pdf-") as tmp:
        partial = Path(tmp) / "report.pdf"
        cmd = [browser, "--headless", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--disable-dev-shm-usage", "--disable-extensions",
               f"--user-data-dir={Path(tmp) / 'profile'}",
               "--host-resolver-rules=MAP * ~NOTFOUND",
               f"--proxy-server=http://127.0.0.1:{_closed_port()}",
               # the charts draw in scripts: let them run before the page is printed
               "--virtual-time-budget=20000", "--run-all-compositor-stages-before-draw",
               "--window-size=1100,1400", "--no-pdf-header-footer",
               f"--print-to-pdf={partial}", page.as_uri()]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.insert(1, "--no-sandbox")  # Chromium refuses to run as root with it
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                                  check=False, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise ReportError(f"{browser} did not print {page.name} within {timeout_s:.0f} s"
                              ) from exc
        if done.returncode != 0 or not partial.is_file():
            tail = (done.stderr or "").strip().splitlines()[-3:]
            raise ReportError(f"{browser} could not print {page} (exit {done.returncode}): "
                              + " / ".join(tail))
        with partial.open("rb") as f:
            if f.read(5) != b"%PDF-":
                raise ReportError(f"{browser} wrote something that is not a PDF for {page}")
        tmp_out = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        shutil.move(str(partial), tmp_out)
        os.replace(tmp_out, out)
    return out
