"""A real GameDay's Slack thread carries a link that opens the report (served by
``gameday.reports_server``) and the report itself, uploaded with files_upload_v2 — against
the local Slack stand-in."""

from __future__ import annotations

import importlib.util
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

_FAKE = Path(__file__).resolve().parents[1] / "notify" / "fake_slack.py"


def _fake_slack() -> object:
    spec = importlib.util.spec_from_file_location("fake_slack_for_flows", _FAKE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module.FakeSlack().start()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_thread_links_to_the_report_and_carries_it(
    prefect_harness, local_stack, flow_env, tmp_path, write_runbook, monkeypatch
):
    from flows.gameday import gameday_flow

    slack, port = _fake_slack(), _free_port()
    base = f"http://127.0.0.1:{port}/"
    monkeypatch.setenv("GAMEDAY_SLACK_BOT_TOKEN", "xoxb-links-test-token")
    monkeypatch.setenv("GAMEDAY_SLACK_CHANNEL", "#gamedays")
    monkeypatch.setenv("GAMEDAY_SLACK_API_URL", slack.api_url)
    monkeypatch.setenv("GAMEDAY_REPORT_URL", base)
    monkeypatch.setenv("GAMEDAY_SLACK_ATTACH_REPORT", "true")
    runbook = write_runbook(tmp_path / "links.yaml", [
        {"name": "baseline", "duration_s": 2},
        {"name": "crash", "fault": {"type": "crash", "target": "inventory/2"}, "duration_s": 3,
         "recovery": {"action": "restart", "timeout_s": 30}}])
    server = None
    try:
        gameday_flow(runbook=str(runbook), report=True, return_state=True)
        [run_dir] = [p.parent for p in flow_env.glob("*/journal.json")]
        report = run_dir / "report.html"
        assert report.is_file()

        start, *_, verdict = slack.posts()
        text = json.dumps(verdict.body["blocks"])
        [url] = re.findall(r"<(http://[^|>]+)\|open the report>", text)
        assert url == f"{base}{run_dir.name}/report.html"
        assert str(flow_env) not in text  # no path of this machine in the thread
        # the link works: the reports folder served as `gameday serve --reports` serves it
        server = subprocess.Popen([sys.executable, "-m", "gameday.reports_server", "--dir",
                                   str(flow_env), "--port", str(port)])
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(url, timeout=5)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.3)
        assert answer.status_code == 200 and answer.content == report.read_bytes()

        # and the report is in the thread itself
        [complete] = slack.calls("files.completeUploadExternal")
        assert complete.body["thread_ts"] == verdict.body["thread_ts"]  # the GameDay's thread
        assert "thread_ts" not in start.body
        [file_id] = [f["id"] for f in json.loads(complete.body["files"])]
        assert slack.uploads[file_id] == report.read_bytes()
        journal = json.loads((run_dir / "journal.json").read_text())
        kinds = {(n["kind"], n["ok"]) for n in journal["notifications"]}
        assert ("report_file", True) in kinds and ("verdict", True) in kinds
    finally:
        slack.stop()
        if server is not None:
            server.terminate()
            server.wait(10)
