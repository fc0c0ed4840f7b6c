"""The pre-flight checklist's Slack item against a local stand-in for Slack's Web API."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from gameday.checklist import abort_criteria, slack_item
from gameday.config import get_settings
from gameday.runbook import parse_runbook


class _AuthTest(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        good = self.headers.get("Authorization") == "Bearer xoxb-good"
        answer = ({"ok": True, "team": "GameDay team", "user": "gameday"} if good
                  and self.path.endswith("/auth.test") else {"ok": False, "error": "invalid_auth"})
        payload = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def slack_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AuthTest)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/"
    finally:
        server.shutdown()
        server.server_close()


def _closed_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/api/"


def test_slack_item_checks_the_bot_token_with_auth_test(slack_api: str) -> None:
    ok = slack_item(get_settings(slack_bot_token="xoxb-good", slack_channel="#gameday",
                                 slack_api_url=slack_api))
    assert ok.ok and "GameDay team" in ok.detail and "#gameday" in ok.detail
    bad = slack_item(get_settings(slack_bot_token="xoxb-revoked", slack_channel="#gameday",
                                  slack_api_url=slack_api))
    assert not bad.ok and "invalid_auth" in bad.detail
    assert "xoxb" not in bad.detail  # never the token


def test_slack_item_reports_an_unreachable_slack_without_the_secret() -> None:
    down = slack_item(get_settings(slack_bot_token="xoxb-good", slack_channel="#gameday",
                                   slack_api_url=_closed_url()), timeout_s=2)
    assert not down.ok and "xoxb" not in down.detail
    hook = slack_item(get_settings(slack_webhook_url=_closed_url() + "services/T/B/secret"),
                      timeout_s=2)
    assert not hook.ok and "unreachable" in hook.detail and "secret" not in hook.detail


def test_abort_criteria_spell_out_the_runbooks_safety_limits() -> None:
    rb = parse_runbook({"name": "x", "system": "systems/inventory.yaml", "load": {"rate": 10},
                        "safety": {"abort_availability_floor": 0.95, "abort_window_s": 4,
                                   "fault_ttl_s": 45},
                        "phases": [{"name": "baseline", "duration_s": 1},
                                   {"name": "crash", "duration_s": 1,
                                    "fault": {"type": "crash", "target": "inventory/1"}}]})
    text = "\n".join(abort_criteria(rb, default_ttl_s=90))
    assert "below 95% over any 4 s window" in text
    assert "clears itself after its time-to-live (45 s)" in text and "session.abort" in text


def test_the_ttl_shown_is_the_ttl_sent_gameday_fault_ttl_s_included(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    """The defect: GAMEDAY_FAULT_TTL_S was shown in the checklist but never sent."""
    from gameday.session import Session

    monkeypatch.setenv("GAMEDAY_FAULT_TTL_S", "75")
    rb = {"name": "x", "system": "systems/inventory.yaml", "load": {"rate": 10}, "phases": [
        {"name": "crash", "duration_s": 1, "fault": {"type": "crash", "target": "inventory/1"}},
        {"name": "slow", "duration_s": 1,
         "fault": {"type": "latency", "target": "inventory/2", "ttl_s": 20}}]}
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump(rb))
    session = Session(path, show=False)
    assert "(20 s / 75 s)" in "\n".join(session.abort_criteria())
    from gameday.engine import GameDayRun, fault_record

    run = GameDayRun.__new__(GameDayRun)  # only what fault_record reads
    run.runbook, run.settings = session.runbook, session.settings
    run.driver = session.gameday.make_driver()  # the system file's driver
    assert [fault_record(run, p).ttl_s for p in session.runbook.phases] == [75, 20]
