"""Path constants anchored at the repository root (never at the current directory)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["REPO_ROOT", "RUNBOOKS_DIR", "NOTEBOOKS_DIR", "REPORTS_DIR", "STATE_DIR", "STACK_DIR"]

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS_DIR = REPO_ROOT / "runbooks"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
REPORTS_DIR = REPO_ROOT / "reports"
STACK_DIR = REPO_ROOT / "stack"
#: Local state (embedded Postgres data, logs, pid files, locks). Git-ignored.
STATE_DIR = REPO_ROOT / ".gameday"
