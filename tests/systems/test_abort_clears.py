"""`gameday abort` on a system's runbook clears every fault the system's own fault API
holds (its http faults' `clear`, on every member they apply to), as it did for the
inventory stack's replicas, and says so when the system cannot be reached."""

from __future__ import annotations

from pathlib import Path

import pytest

from gameday.cli import main
from pair_system import isolate_gameday_env, pair_runbook, pair_system


def test_abort_sends_every_http_faults_clear_to_every_member(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    isolate_gameday_env(tmp_path, monkeypatch)
    with pair_system(tmp_path) as (pair, port):
        runbook = pair_runbook(tmp_path)
        pair.faulted.update(a=503, b=500)  # what a dead GameDay (or a person) left
        assert main(["abort", "--runbook", str(runbook), "--base-port", str(port)]) == 0
        assert pair.faulted == {}
    said = capsys.readouterr().out
    for member in ("a", "b"):
        assert f"break web/{member}: POST http://127.0.0.1:{port}/m/{member}/clear: 200" in said


def test_abort_says_when_the_system_cannot_be_reached(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    isolate_gameday_env(tmp_path, monkeypatch)
    with pair_system(tmp_path) as (_, port):
        runbook = pair_runbook(tmp_path)
    # the server is gone: nothing answers at its port any more
    assert main(["abort", "--runbook", str(runbook), "--base-port", str(port)]) == 1
    said = capsys.readouterr().out
    assert "break web/a: not cleared: POST" in said
    assert "gameday: the system could not be reached: 2 of 2 clears failed" in said
