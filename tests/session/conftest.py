"""Fixtures of the session-notebook tests: a short runbook and the kernel's environment."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from gameday.session import Session

SHORT_PHASES = [
    {"name": "baseline", "duration_s": 3},
    {"name": "crash", "fault": {"type": "crash", "target": "inventory/3"}, "duration_s": 4,
     "recovery": {"action": "restart", "timeout_s": 30}},
    {"name": "incorrect_response",
     "fault": {"type": "incorrect_response", "target": "inventory/1",
               "params": {"product_id": "PROD-003"}},
     "duration_s": 3},
    {"name": "recovery", "duration_s": 2},
]


@pytest.fixture
def write_runbook(tmp_path: Path) -> Callable[..., Path]:
    """Write a short runbook (20 req/s) on the inventory stack's system file
    (systems/inventory.yaml) with ``phases`` into tmp_path; returns its path."""

    def write(phases: list[dict] | None = None, name: str = "session-test") -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({
            "name": name, "description": "A short GameDay for the session tests.",
            "system": "systems/inventory.yaml", "target": "local", "seed": 7,
            "load": {"rate": 20, "timeout_s": 1.0, "mix": {"read": 8, "write": 2},
                     "follow_up_after_s": {"write": 0.5}},
            # the session's logic is under test, not the SLOs: a busy 2-core machine must
            # not abort the run on an availability dip
            "safety": {"fault_ttl_s": 30, "abort_availability_floor": 0.5},
            "phases": phases or SHORT_PHASES,
        }, sort_keys=False))
        return path

    return write


@pytest.fixture
def session_env(local_stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every Settings() of this test (and of kernels it starts) at the test stack;
    reports go to tmp_path/reports, which is returned."""
    reports = tmp_path / "reports"
    monkeypatch.setenv("GAMEDAY_BASE_PORT", str(local_stack.base_port))
    monkeypatch.setenv("GAMEDAY_CHAOS_TOKEN", local_stack.chaos_token)
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(local_stack.settings.state_dir))
    monkeypatch.setenv("GAMEDAY_REPORTS_DIR", str(reports))
    for var in ("GAMEDAY_SLACK_BOT_TOKEN", "GAMEDAY_SLACK_WEBHOOK_URL", "GAMEDAY_SLACK_CHANNEL"):
        monkeypatch.delenv(var, raising=False)
    return reports


@pytest.fixture(autouse=True)
def _finish_started_sessions(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A session a failing test leaves running still releases its stack: finished here
    (faults rolled back, lock released), so one failure never cascades into the next test
    as "a GameDay is already running"."""
    started: list[Session] = []
    start = Session.start

    def tracked(self: Session, *args: object, **kwargs: object) -> object:
        started.append(self)
        return start(self, *args, **kwargs)

    monkeypatch.setattr(Session, "start", tracked)
    yield
    for session in started:
        if session.run is not None and session.verdict is None:
            try:
                if session.state == "running":
                    session.abort("the test ended before the session finished")
                session.finish(report=False)
            except Exception as exc:  # noqa: BLE001 - teardown: say it, never mask the test
                print(f"could not finish session {session.run.journal.run_id}: {exc}")
