"""Links to a run's files for people who are not on the machine that ran it.

``GAMEDAY_REPORT_URL`` (:attr:`gameday.config.Settings.report_url`) is the base URL where
the reports folder is served: ``gameday serve --reports``, any web server, or a CI
system's artifact store. A file under the reports folder then has a URL: the base plus its
path relative to that folder, each segment percent-encoded. A file elsewhere has none.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from gameday.config import Settings

__all__ = ["file_url"]


def file_url(settings: Settings, path: str | Path | None) -> str | None:
    """The URL of ``path`` under ``settings.report_url``; None without a base URL, for no
    path, or for a path outside ``settings.reports_dir``."""
    if not settings.report_url or not path:
        return None
    try:
        relative = Path(path).resolve().relative_to(Path(settings.reports_dir).resolve())
    except ValueError:
        return None
    return settings.report_url + "/".join(quote(part, safe="") for part in relative.parts)
