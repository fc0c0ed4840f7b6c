from __future__ import annotations

from collections.abc import Iterator
from typing import Any  # noqa: F401

import pytest
from fake_slack import FakeSlack
from notify_samples import sample_abort, sample_phase, sample_run, sample_verdict


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def run() -> dict[str, Any]:
    return sample_run()


@pytest.fixture
def phase() -> dict[str, Any]:
    return sample_phase()


@pytest.fixture
def abort_info() -> dict[str, Any]:
    return sample_abort()


@pytest.fixture
def verdict_summary() -> dict[str, Any]:
    return sample_verdict()
