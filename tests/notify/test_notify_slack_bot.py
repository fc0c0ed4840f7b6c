from __future__ import annotations

import json
import logging
import time

import pytest
from block_limits import assert_within_slack_limits
from notify_samples import TOKEN
from pydantic import SecretStr

from gameday.notify import SlackBotNotifier
from gameday.run_record import PlannedPhase, StartNotice


def _bot(fake_slack, **options) -> SlackBotNotifier:
    options.setdefault("timeout_s", 2.0)
    options.setdefault("budget_s", 6.0)
    return SlackBotNotifier(SecretStr(TOKEN), "#gameday", api_url=fake_slack.api_url, **options)


def _run_whole_gameday(notifier, run, phase, abort_info, verdict_summary):
    return [
        notifier.start(run),
        notifier.phase_end(phase),
        notifier.phase_end(phase.model_copy(update={"name": "latency", "passed": True})),
        notifier.abort(abort_info),
        notifier.verdict(verdict_summary),
    ]


def test_one_gameday_is_one_thread_with_abort_and_verdict_broadcast(
    fake_slack, run, phase, abort_info, verdict_summary
):
    notifier = _bot(fake_slack)
    records = _run_whole_gameday(notifier, run, phase, abort_info, verdict_summary)

    assert [r.ok for r in records] == [True] * 5
    assert [r.kind for r in notifier.records] == [
        "start",
        "phase_end",
        "phase_end",
        "abort",
        "verdict",
    ]
    assert {r.channel for r in records} == {"slack-bot"}
    posts = fake_slack.posts()
    assert [p.path for p in posts] == ["/api/chat.postMessage"] * 5
    assert all(p.headers["Authorization"] == f"Bearer {TOKEN}" for p in posts)
    start, *replies = [p.body for p in posts]
    assert start["channel"] == "#gameday" and "thread_ts" not in start
    root_ts = notifier.thread_ts
    assert root_ts and all(r["thread_ts"] == root_ts for r in replies)
    assert all(r["channel"] == fake_slack.channel_id for r in replies)
    assert [r.get("reply_broadcast", False) for r in replies] == [False, False, True, True]
    for body in (start, *replies):
        assert_within_slack_limits(body["blocks"], body["text"])


def test_messages_carry_the_phase_figures_verdict_and_report_path(
    fake_slack, run, phase, abort_info, verdict_summary
):
    _run_whole_gameday(_bot(fake_slack), run, phase, abort_info, verdict_summary)
    start, crash, latency, abort, verdict = (
        json.dumps(p.body["blocks"]) for p in fake_slack.posts()
    )
    assert "standard" in start and "crash on inventory/2" in start
    assert "99.87 %" in crash and "0.61 s" in crash and "availability" in crash
    assert "latency" in latency and "passed" in latency
    assert "ABORTED" in abort and "restarted: 2" in abort
    assert "FAILED" in verdict and "75/100" in verdict
    assert "reports/20261122T073000Z-standard/report.html" in verdict


def test_huge_run_is_delivered_within_limits(fake_slack):
    run = StartNotice(run_id="r", name="n" * 500, description="d" * 9000, target="local",
                      started_by="ci", phases=[PlannedPhase(name=f"phase-{i}",
                                                            fault="crash on inventory/2")
                                               for i in range(80)])
    record = _bot(fake_slack).start(run)
    assert record.ok, record.error
    body = fake_slack.posts()[0].body
    assert_within_slack_limits(body["blocks"], body["text"])


def test_rate_limit_is_retried_after_retry_after_and_delivered(fake_slack, run):
    fake_slack.fail_next(1, 429, retry_after=1)
    started = time.monotonic()
    record = _bot(fake_slack).start(run)
    elapsed = time.monotonic() - started
    assert record.ok, record.error
    assert [r.answered for r in fake_slack.requests] == [429, 200]
    gap = fake_slack.requests[1].at - fake_slack.requests[0].at
    assert gap >= 1.0  # Retry-After was honoured
    assert elapsed < 4.0


def test_server_errors_are_retried(fake_slack, run):
    fake_slack.fail_next(2, 500)
    record = _bot(fake_slack).start(run)
    assert record.ok, record.error
    assert [r.answered for r in fake_slack.requests] == [500, 500, 200]


def test_a_retry_after_longer_than_the_budget_is_not_waited_for(fake_slack, run):
    fake_slack.fail_next(5, 429, retry_after=30)
    started = time.monotonic()
    record = _bot(fake_slack).start(run)
    assert time.monotonic() - started < 2.0
    assert not record.ok and "429" in record.error and "ratelimited" not in TOKEN
    assert len(fake_slack.requests) == 1


def test_persistent_failure_returns_within_the_budget_with_a_failed_record(
    fake_slack, run, phase, verdict_summary
):
    fake_slack.fail_next(1000, 500)
    notifier = _bot(fake_slack, timeout_s=1.0, budget_s=3.0)
    started = time.monotonic()
    record = notifier.start(run)
    assert time.monotonic() - started <= 3.5
    assert record.ok is False and record.kind == "start" and "HTTP 500" in record.error
    assert notifier.records == [record]
    assert 2 <= len(fake_slack.requests) <= 3  # retried, but only within the budget


def test_a_hanging_slack_costs_at_most_the_budget(fake_slack, run):
    fake_slack.delay_s = 5.0
    notifier = _bot(fake_slack, timeout_s=0.5, budget_s=1.5)
    started = time.monotonic()
    record = notifier.start(run)
    assert time.monotonic() - started < 2.5
    assert not record.ok and "timed out" in record.error.lower()


def test_after_repeated_failures_phase_messages_are_skipped_but_the_verdict_is_tried(
    fake_slack, run, phase, verdict_summary
):
    fake_slack.fail_next(1000, 404)
    notifier = _bot(fake_slack, breaker_after=2)
    notifier.start(run)
    notifier.phase_end(phase)
    sent_before = len(fake_slack.requests)
    skipped = notifier.phase_end(phase)
    assert not skipped.ok and "not sent" in skipped.error
    assert len(fake_slack.requests) == sent_before
    notifier.verdict(verdict_summary)
    assert len(fake_slack.requests) == sent_before + 1


def test_slack_api_error_is_recorded(fake_slack, run):
    notifier = SlackBotNotifier(SecretStr(""), "#gameday", api_url=fake_slack.api_url)
    record = notifier.start(run)
    assert not record.ok and "not_authed" in record.error


def test_unreachable_slack_is_a_failed_record_not_an_exception(run):
    notifier = SlackBotNotifier(
        SecretStr(TOKEN), "#gameday", api_url="http://127.0.0.1:9/api/", timeout_s=1, budget_s=2
    )
    record = notifier.start(run)
    assert not record.ok and record.error


@pytest.mark.parametrize("level", [logging.DEBUG, logging.INFO])
def test_the_token_never_appears_in_logs_records_or_reprs(
    fake_slack, run, phase, abort_info, verdict_summary, caplog, level
):
    caplog.set_level(level)
    fake_slack.fail_next(1, 429, retry_after=1)
    fake_slack.fail_next(3, 500)
    notifier = _bot(fake_slack, timeout_s=1.0, budget_s=3.0)
    _run_whole_gameday(notifier, run, phase, abort_info, verdict_summary)
    assert any(not r.ok for r in notifier.records)  # failures were logged too
    assert caplog.records
    dumped = caplog.text + json.dumps(notifier.journal_records()) + repr(notifier)
    assert TOKEN not in dumped and "TESTSECRETTOKEN" not in dumped
