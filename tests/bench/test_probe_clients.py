"""bench/probe_clients.py (the split probe's clients): records merge by (connection,
order), and each client sends the whole schedule and gets every answer from a real nginx
(no timing asserted)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from bench.nginx import nginx

from bench import probe_clients
from gameday.load import run_coroutine


def test_answers_merge_by_connection_and_order_not_by_arrival() -> None:
    # two connections; connection 1's answer to the first request arrives before
    # connection 0's first, and connection 0 answered twice (keep-alive, in order)
    sends = [(0, 0, 10.0, 10.0), (1, 0, 10.001, 10.0015), (0, 1, 10.002, 10.002)]
    answers = [(1, 0, 10.0020, 200), (0, 0, 10.0030, 200), (0, 1, 10.0025, 503)]
    got = probe_clients.merge_stats(sends, answers, cpu_s=0.003)
    assert got["requests"] == 3 and got["ok"] == pytest.approx(2 / 3)
    # latencies from the intended send: 3.0, 1.0 and 0.5 ms
    assert got["p50_ms"] == pytest.approx(1.0) and got["p99_ms"] == pytest.approx(3.0, rel=0.02)
    assert got["send_lag_p99_ms"] == pytest.approx(0.5, rel=0.02)
    assert got["cpu_ms_per_request"] == pytest.approx(1.0)


def test_an_unanswered_request_counts_in_the_tail_not_left_out() -> None:
    sends = [(0, 0, 1.0, 1.0), (0, 1, 1.1, 1.1)]
    got = probe_clients.merge_stats(sends, [(0, 0, 1.0005, 200)], 0.0)
    assert got["ok"] == 0.5 and got["requests"] == 2
    assert got["p99_ms"] >= 1000.0 * probe_clients.WAIT_S * 0.99


@pytest.mark.parametrize("arm", ["split-sleep", "split-spin", "one", "asyncio-raw"])
def test_each_raw_client_sends_the_schedule_and_reads_every_answer(
        arm: str, docker_helpers: Any) -> None:
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        docker_helpers.skip_or_fail("nginx is not installed (tests/system.sh installs it)")
    with nginx() as base:
        host, port = base.removeprefix("http://").split(":")
        args = (host, int(port), 200.0, 0.5)
        if arm == "asyncio-raw":
            got = run_coroutine(probe_clients.asyncio_raw_client(*args))
        elif arm == "one":
            got = probe_clients.one_process_client(*args)
        else:
            got = probe_clients.split_client(*args, sleep=arm == "split-sleep")
    assert got["requests"] == 100 and got["ok"] == 1.0
    assert 0 < got["p50_ms"] <= got["p99_ms"] < 2000.0
