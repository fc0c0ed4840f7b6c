"""Run identity: run ids, UTC timestamps and the environment fingerprint of a run.

Re-exported by :mod:`gameday.journal`, where the journal records them.
"""

from __future__ import annotations

import platform
import secrets
import subprocess
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from gameday.paths import REPO_ROOT

__all__ = ["utc_iso", "utc_time", "new_run_id", "environment_fingerprint",
           "chaos_toolkit_identity"]

_PACKAGES = ("prefect", "httpx", "pandas", "plotly", "papermill", "slack-sdk", "gameday")


def utc_iso(t: float | datetime | None = None) -> str:
    """ISO 8601 UTC with microseconds and a ``+00:00`` offset (now when ``t`` is None)."""
    if t is None:
        t = time.time()
    if isinstance(t, datetime):
        dt = t if t.tzinfo else t.replace(tzinfo=UTC)
        return dt.astimezone(UTC).isoformat()
    return datetime.fromtimestamp(t, UTC).isoformat()


def utc_time(t: float | None = None) -> datetime:
    """An aware UTC datetime from epoch seconds (now when ``t`` is None)."""
    return datetime.fromtimestamp(time.time() if t is None else t, UTC)


def new_run_id(runbook_name: str, now: datetime | None = None) -> str:
    """A sortable run id: ``YYYYMMDD-HHMMSS-<name>-<6 hex>`` (lowercase, digits, dashes).

    The name is lowercased, other characters become dashes, cut to 24 characters.
    """
    now = now or datetime.now(UTC)
    short = "".join(c if c.isalnum() and c.isascii() else "-" for c in runbook_name.lower())
    short = "-".join(p for p in short.split("-") if p)[:24].strip("-") or "run"
    return f"{now.strftime('%Y%m%d-%H%M%S')}-{short}-{secrets.token_hex(3)}"


def _git_sha() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
            timeout=5, check=True,
        )
        sha = out.stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
            capture_output=True, text=True, timeout=5,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment_fingerprint(target: str, runbook_path: str | Path | None) -> dict[str, Any]:
    """What the run ran on: git sha ("unknown" outside git; "-dirty" with local edits),
    target, runbook sha256, python, platform, versions of the key packages (None when a
    package is not installed)."""
    from gameday.runbook import runbook_sha256

    packages: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    if packages.get("gameday") is None:
        from gameday import __version__

        packages["gameday"] = __version__
    return {
        "git_sha": _git_sha(),
        "target": target,
        "runbook_sha256": runbook_sha256(runbook_path) if runbook_path else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
    }


def chaos_toolkit_identity() -> dict[str, Any]:
    """The journal keys Chaos Toolkit's ``initialize_run_journal`` writes and its tools
    read: ``chaoslib-version`` (of the installed chaostoolkit-lib, whose formats the
    journal follows; None without it), ``platform`` and ``node``."""
    try:
        chaoslib: str | None = metadata.version("chaostoolkit-lib")
    except metadata.PackageNotFoundError:
        chaoslib = None
    return {"chaoslib-version": chaoslib, "platform": platform.platform(),
            "node": platform.node()}
