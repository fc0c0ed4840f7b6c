"""Follow-ups a system's load owes survive a ``kill -9`` of the harness (gameday.owed):
each is written down, rendered, when its request succeeds, and whoever takes the lock
next sends what is still owed to the system (here the pair app, a real HTTP server that
records what it got), then removes the file. A header that reads the environment (a
token) is never written into the run folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gameday.journal import read_journal
from gameday.lifecycle import GameDay
from gameday.owed import OWED_FILE, OwedRequest, OwedRequests, outstanding, owed_entries
from gameday.recovery import send_owed
from pair_system import SYSTEM, Pair, isolate_gameday_env, pair_runbook, pair_system

TOKEN = "s3cret-token-for-follow-ups"

HARNESS = """
import sys
from gameday import engine
from gameday.lifecycle import GameDay
gd = GameDay.prepare(sys.argv[1], base_port=int(sys.argv[2]), progress=lambda _: None)
with gd.locked():
    run = gd.open()
    engine.preflight(run)
    for phase in gd.runbook.phases:
        engine.run_phase(run, phase)
"""


@pytest.fixture
def pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Pair, Path, int]]:
    isolate_gameday_env(tmp_path, monkeypatch)
    monkeypatch.setenv("PAIR_TOKEN", TOKEN)
    with pair_system(tmp_path) as (system, port):
        data = json.loads(json.dumps(SYSTEM))
        data["load"] = {"values": {"item": ["apple", "pear"]}, "requests": {"take": {
            "method": "POST", "url": "{{ front.url }}/take/{{ item }}",
            "expect": {"status": [201]},
            "follow_up": [{"after_s": 120, "url": "{{ front.url }}/give/{{ response.order }}",
                           "headers": {"X-Token": "{{ env('PAIR_TOKEN') }}"},
                           "json": {"why": "give back {{ item }}"}}]}}}
        (tmp_path / "pair.yaml").write_text(yaml.safe_dump(data))
        yield system, tmp_path, port


@pytest.mark.slow
def test_follow_ups_owed_when_the_harness_is_killed_are_sent_by_the_next_holder(pair) -> None:
    system, folder, port = pair
    runbook = pair_runbook(folder, load={"rate": 20, "timeout_s": 1.0},
                           phases=[{"name": "long", "duration_s": 120}])
    harness = subprocess.Popen([sys.executable, "-c", HARNESS, str(runbook), str(port)],
                               env=dict(os.environ), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        owed_file = None
        while time.monotonic() < deadline:
            found = list((folder / "reports").glob(f"*/{OWED_FILE}"))
            if found and len(outstanding(found[0])) >= 5:
                owed_file = found[0]
                break
            assert harness.poll() is None, harness.communicate()[0][-3000:]
            time.sleep(0.1)
        assert owed_file is not None, "the run never owed 5 follow-ups"
        os.kill(harness.pid, signal.SIGKILL)
        harness.wait(timeout=10)
    finally:
        if harness.poll() is None:
            harness.kill()
        harness.communicate()
    run_dir = owed_file.parent

    owed = owed_entries(owed_file)
    assert owed and system.given == []  # nothing given back before the kill
    assert TOKEN not in owed_file.read_text()  # the token stays out of the run folder
    first = owed[0].request
    assert first is not None and first.method == "POST" and first.expect == [200]
    assert first.url.startswith(f"http://127.0.0.1:{port}/front/give/")
    assert first.json_ in ({"why": "give back apple"}, {"why": "give back pear"})
    assert first.env_headers == {"X-Token": "{{ env('PAIR_TOKEN') }}"}
    taken_before = dict(system.orders)

    gd = GameDay.prepare(runbook, base_port=port, progress=lambda _: None)
    with gd.locked():  # taking the lock finishes the run that died holding it
        pass

    owed_orders = {int(o.request.url.rsplit("/", 1)[1]) for o in owed if o.request}
    assert {order for order, _ in system.given} == owed_orders
    assert all(token == TOKEN for _, token in system.given)
    assert not any(order in system.orders for order in owed_orders)  # given back
    assert len(system.given) == len(owed)  # each sent once
    assert set(taken_before) >= owed_orders
    assert not (run_dir / OWED_FILE).exists()
    journal = read_journal(run_dir / "journal.json")
    assert journal.status == "interrupted" and journal.interruption is not None
    assert journal.interruption.follow_ups_sent == len(owed)
    assert journal.interruption.follow_ups_failed == []

    # the report says what was sent, in the system's words (not the stack's order cancels)
    report = subprocess.run([sys.executable, "-m", "gameday", "report", "--reports-dir",
                             str(folder / "reports"), journal.run_id], env=dict(os.environ),
                            capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stdout + report.stderr
    page = (run_dir / "report.html").read_text()
    assert f"follow-up requests it still owed: {len(owed)} sent" in page


def test_an_owed_request_is_kept_until_the_system_settles_it(tmp_path: Path, pair) -> None:
    """No answer keeps it owed for the next try; an expected status or a 4xx settles it."""
    system, folder, port = pair
    book = OwedRequests(tmp_path / OWED_FILE)
    base = f"http://127.0.0.1:{port}/front"
    book.owe("a", OwedRequest(url=f"{base}/take/apple", expect=[200]))  # 201: not expected
    book.owe("b", OwedRequest(url=f"{base}/nowhere"))                   # 404: settled
    book.owe("c", OwedRequest(url="http://127.0.0.1:9/give/1"))        # no answer
    book.owe("d", OwedRequest(url=f"{base}/give/7", headers={"X-Token": "t"}))  # 200
    book.close()
    sent, failed = send_owed(tmp_path)
    assert (sent, sorted(failed)) == (1, ["a", "c"])
    assert outstanding(tmp_path / OWED_FILE) == ["a", "c"]
    assert (7, "t") in system.given
