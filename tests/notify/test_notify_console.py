from __future__ import annotations

from pydantic import SecretStr

from gameday.config import Settings
from gameday.notify import (
    ConsoleNotifier,
    Notifier,
    SlackBotNotifier,
    SlackWebhookNotifier,
    get_notifier,
)


def _settings(**overrides) -> Settings:
    base = {"slack_webhook_url": None, "slack_bot_token": None, "slack_channel": None}
    return Settings(_env_file=None, **{**base, **overrides})


def test_console_prints_the_same_summary_readably(capsys, run, phase, abort_info, verdict_summary):
    notifier = get_notifier(_settings())
    assert isinstance(notifier, ConsoleNotifier) and isinstance(notifier, Notifier)
    notifier.start(run)
    notifier.phase_end(phase)
    notifier.abort(abort_info)
    notifier.verdict(verdict_summary)
    out = capsys.readouterr().out
    for expected in (
        "GameDay started: standard",
        "2. crash: crash on inventory/2",
        "Availability: 99.87 %",
        "Time to detect: 0.61 s",
        "crash: availability 99.87 %, target ≥ 99.9 %",
        "GameDay ABORTED",
        "• restarted: 2",
        "Score: 75/100",
        "Report: reports/20261122T073000Z-standard/report.html",
    ):
        assert expected in out
    assert "*" not in out and "&gt;" not in out and "`" not in out
    assert [r["channel"] for r in notifier.journal_records()] == ["console"] * 4
    assert all(r["ok"] and "error" not in r for r in notifier.journal_records())


def test_get_notifier_prefers_the_bot_then_the_webhook():
    token, hook = SecretStr("xoxb-1-2"), SecretStr("http://127.0.0.1:9/services/T/B/X")
    bot = get_notifier(_settings(slack_bot_token=token, slack_channel="#g", slack_webhook_url=hook))
    assert isinstance(bot, SlackBotNotifier)
    assert isinstance(get_notifier(_settings(slack_webhook_url=hook)), SlackWebhookNotifier)
    # A token without a channel cannot post: fall back to the webhook, then the console.
    assert isinstance(get_notifier(_settings(slack_bot_token=token)), ConsoleNotifier)
    assert isinstance(get_notifier(_settings(slack_webhook_url=SecretStr(" "))), ConsoleNotifier)
