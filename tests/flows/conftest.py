"""Fixtures for flow tests: one Prefect test harness per session, short runbooks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A throw-away Prefect API for the session (≈20 s to start, so only once)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def _write_runbook(path: Path, phases: list[dict[str, Any]], **overrides: Any) -> Path:
    """A short runbook at ``path`` (light load, short phases) with ``overrides`` merged,
    on the inventory stack's system file (systems/inventory.yaml, found in the repository
    from wherever ``path`` is)."""
    doc: dict[str, Any] = {
        "name": "test",
        "system": "systems/inventory.yaml",
        "seed": 7,
        "load": {"rate": 20, "timeout_s": 1.0, "mix": {"read": 8, "write": 2},
                 "follow_up_after_s": {"write": 0.3}},
        "slo": {"latency_p95_min_ms": 250,
                "ttd_s": {"crash": 0.8, "latency": 1.0, "intermittent": 1.0,
                          "incorrect_response": 0.5}},
        "safety": {"fault_ttl_s": 30},
        "phases": phases,
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            doc[key] = {**doc[key], **value}
        else:
            doc[key] = value
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


_SIX_PHASES: list[dict[str, Any]] = [
    {"name": "baseline", "duration_s": 3},
    {
        "name": "crash",
        "fault": {"type": "crash", "target": "inventory/2"},
        "duration_s": 3,
        "recovery": {"action": "restart", "timeout_s": 30},
    },
    {
        "name": "latency",
        "fault": {"type": "latency", "target": "inventory/3", "params": {"latency_ms": 500}},
        "duration_s": 3,
    },
    {
        "name": "intermittent",
        "fault": {"type": "intermittent", "target": "inventory/1",
                  "params": {"probability": 0.5}},
        "duration_s": 3,
    },
    {
        "name": "incorrect_response",
        "fault": {"type": "incorrect_response", "target": "inventory/2",
                  "params": {"product_id": "PROD-001"}},
        "duration_s": 3,
    },
    {"name": "recovery", "duration_s": 3},
]


@pytest.fixture
def flow_env(local_stack, tmp_path, monkeypatch):
    """Point the flow at the session's test stack, with reports in a temporary folder."""
    monkeypatch.setenv("GAMEDAY_CHAOS_TOKEN", local_stack.chaos_token)
    monkeypatch.setenv("GAMEDAY_BASE_PORT", str(local_stack.base_port))
    monkeypatch.setenv("GAMEDAY_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(local_stack.settings.state_dir))
    for name in ("GAMEDAY_SLACK_BOT_TOKEN", "GAMEDAY_SLACK_WEBHOOK_URL", "GAMEDAY_REPORT_URL",
                 "GAMEDAY_SLACK_ATTACH_REPORT"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "reports"


@pytest.fixture
def write_runbook():
    """``write_runbook(path, phases, **overrides) -> path``: a short test runbook."""
    return _write_runbook


@pytest.fixture
def six_phases() -> list[dict[str, Any]]:
    """The six phases of the standard GameDay, 3 s each (a fresh copy per test)."""
    import copy

    return copy.deepcopy(_SIX_PHASES)
