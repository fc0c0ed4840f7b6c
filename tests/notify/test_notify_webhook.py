from __future__ import annotations

import json
import logging
import time

from block_limits import assert_within_slack_limits
from pydantic import SecretStr

from gameday.notify import SlackWebhookNotifier
from gameday.run_record import PhaseRecord


def _hook(fake_slack, url=None, **options) -> SlackWebhookNotifier:
    options.setdefault("timeout_s", 1.0)
    options.setdefault("budget_s", 3.0)
    return SlackWebhookNotifier(SecretStr(url or fake_slack.webhook_url), **options)


def test_webhook_posts_the_same_messages_without_threads(
    fake_slack, run, phase, abort_info, verdict_summary
):
    notifier = _hook(fake_slack)
    notifier.start(run)
    notifier.phase_end(phase)
    notifier.abort(abort_info)
    notifier.verdict(verdict_summary)
    assert [(r.kind, r.ok, r.channel) for r in notifier.records] == [
        ("start", True, "slack-webhook"),
        ("phase_end", True, "slack-webhook"),
        ("abort", True, "slack-webhook"),
        ("verdict", True, "slack-webhook"),
    ]
    hooks = fake_slack.hooks()
    assert [h.path for h in hooks] == ["/services/T0TEST/B0TEST/X0SECRETHOOKPATH"] * 4
    for hook in hooks:
        assert "thread_ts" not in hook.body and "reply_broadcast" not in hook.body
        assert_within_slack_limits(hook.body["blocks"], hook.body["text"])
    assert "99.87 %" in json.dumps(hooks[1].body["blocks"])
    assert "report.html" in json.dumps(hooks[3].body["blocks"])


def test_webhook_4xx_is_a_failed_record_because_the_client_does_not_raise(fake_slack, run):
    bad_url = f"http://127.0.0.1:{fake_slack.port}/nothing/here"
    record = _hook(fake_slack, url=bad_url).start(run)
    assert not record.ok and "HTTP 404" in record.error and "no_service" in record.error


def test_webhook_rate_limit_and_server_error_are_retried(fake_slack, run):
    fake_slack.fail_next(1, 429, retry_after=1)
    fake_slack.fail_next(1, 500)
    record = _hook(fake_slack, timeout_s=1.0, budget_s=6.0).start(run)
    assert record.ok, record.error
    assert [r.answered for r in fake_slack.requests] == [429, 500, 200]


def test_webhook_persistent_failure_is_bounded(fake_slack, run):
    fake_slack.fail_next(1000, 503)
    started = time.monotonic()
    record = _hook(fake_slack).start(run)
    assert time.monotonic() - started < 3.5
    assert not record.ok and "HTTP 503" in record.error


def test_the_webhook_url_never_appears_in_logs_records_or_reprs(fake_slack, run, caplog):
    caplog.set_level(logging.DEBUG)
    fake_slack.fail_next(1, 500)
    notifier = _hook(fake_slack)
    notifier.start(run)
    fake_slack.fail_next(1000, 500)
    notifier.phase_end(PhaseRecord(name="p", duration_s=1, start="2026-01-01T00:00:00Z"))
    dead = SlackWebhookNotifier(
        SecretStr("http://127.0.0.1:9/services/T0/B0/X0DEADSECRET"), timeout_s=1, budget_s=2
    )
    dead.start(run)
    assert not dead.records[0].ok
    dumped = caplog.text + json.dumps(notifier.journal_records() + dead.journal_records())
    dumped += repr(notifier) + repr(dead)
    for secret in ("X0SECRETHOOKPATH", "X0DEADSECRET", "/services/"):
        assert secret not in dumped
