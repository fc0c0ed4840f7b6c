"""``gameday system up`` returns when a GameDay could start: its members healthy *and* its
steady-state probes holding. A detector that counts clean rounds before it calls a member
ON lags the members' own health; `up` used to return in that gap, and a `system check`
straight after it failed (CI on 3ada0ed: "all_on … is 2, expected 3")."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from gameday.cli import main

# Healthy at once; "ready" only LAG seconds after it started, like a monitor that wants
# several clean rounds before it reports a member ON.
_SERVER = """
import http.server, sys, time
started, lag = time.monotonic(), float(sys.argv[2])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path == "/health" or time.monotonic() - started >= lag
        self.send_response(200 if ok else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def _system(folder: Path, lag_s: float) -> Path:
    (folder / "server.py").write_text(_SERVER)
    path = folder / "slow.yaml"
    path.write_text(yaml.safe_dump({
        "name": "slow-ready",
        "components": {"web": {
            "port": "{{ base_port }}",
            "local": {"command": [sys.executable, str(folder / "server.py"),
                                  "{{ port }}", str(lag_s)]}}},
        "load": {"requests": {"get": {"url": "{{ web[0].url }}/"}}},
        "steady_state": {"ready": {"url": "{{ web[0].url }}/ready"}},
    }))
    return path


@pytest.fixture(name="run_system")
def run_system_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                       free_base_port: Callable[[int], int]):
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("GAMEDAY_BASE_PORT", raising=False)
    base = free_base_port(1)
    started: list[Path] = []

    def run(action: str, path: Path, *extra: str) -> int:
        if action == "up":
            started.append(path)
        return main(["system", action, str(path), "--base-port", str(base), *extra])

    yield run
    for path in started:
        main(["system", "down", str(path), "--base-port", str(base)])


def test_up_returns_once_the_steady_state_holds(
        tmp_path: Path, run_system, capsys: pytest.CaptureFixture[str]) -> None:
    path = _system(tmp_path, lag_s=2.0)
    began = time.monotonic()
    assert run_system("up", path) == 0
    out = capsys.readouterr().out
    assert time.monotonic() - began >= 2.0  # on main: back as soon as /health answered
    assert "waiting for the steady state (ready)" in out
    assert "system 'slow-ready' is up and in its steady state" in out
    assert run_system("check", path) == 0
    assert "all 3 check(s) hold" in capsys.readouterr().out


def test_up_says_which_probe_does_not_hold_and_fails(
        tmp_path: Path, run_system, capsys: pytest.CaptureFixture[str]) -> None:
    path = _system(tmp_path, lag_s=3600)
    assert run_system("up", path, "--timeout", "1") == 1
    out = capsys.readouterr().out
    assert "system 'slow-ready' is running but not in its steady state after 1 s" in out
    assert "probe ready" in out and "503" in out
    assert "gameday system down" in out  # how to stop what is running
