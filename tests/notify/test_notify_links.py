"""Links and attachments that work from Slack: GAMEDAY_REPORT_URL and files_upload_v2,
against the local Slack stand-in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from notify_samples import TOKEN, sample_run, sample_verdict
from pydantic import SecretStr

from gameday.cli import main
from gameday.config import get_settings
from gameday.errors import ConfigError
from gameday.links import file_url
from gameday.notify import SlackBotNotifier, get_notifier
from gameday.notify.messages import verdict_message
from gameday.run_record import Outcome
from gameday.summary import markdown_summary


def _report(tmp_path: Path, size: int = 200_000) -> Path:
    run = tmp_path / "reports" / "20261122-073000-standard-abcdef"
    run.mkdir(parents=True)
    report = run / "report.html"
    report.write_bytes(b"<!DOCTYPE html><title>GameDay</title>" + b"x" * size)
    return report


def _outcome(report: Path, **changes: object) -> Outcome:
    return sample_verdict().model_copy(update={"report": str(report), **changes})


def _bot(fake_slack, **options) -> SlackBotNotifier:
    return SlackBotNotifier(SecretStr(TOKEN), "#gameday", api_url=fake_slack.api_url,
                            timeout_s=2.0, budget_s=6.0, **options)


def test_report_url_makes_a_link_of_a_path_under_the_reports_folder(tmp_path: Path) -> None:
    report = _report(tmp_path)
    settings = get_settings(reports_dir=tmp_path / "reports",
                            report_url="https://gameday.example/reports")
    assert settings.report_url == "https://gameday.example/reports/"
    assert file_url(settings, report) == (
        "https://gameday.example/reports/20261122-073000-standard-abcdef/report.html")
    odd = tmp_path / "reports" / "a b|c>d&e" / "report.html"
    assert file_url(settings, odd) == "https://gameday.example/reports/a%20b%7Cc%3Ed%26e/" \
                                      "report.html"
    assert file_url(settings, tmp_path / "elsewhere.html") is None  # not served there
    assert file_url(get_settings(reports_dir=tmp_path / "reports"), report) is None


@pytest.mark.parametrize("bad", ["ftp://x/", "gameday.example/reports", "http://x/?a=1",
                                 "http://x/<script>", "javascript:alert(1)", "http:///x"])
def test_a_report_url_that_is_not_a_plain_http_base_is_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="GAMEDAY_REPORT_URL: must be "):
        get_settings(report_url=bad)


def test_a_bad_setting_is_one_line_naming_the_variable_not_a_traceback(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GAMEDAY_REPORT_URL", "not a url")
    monkeypatch.setenv("GAMEDAY_BASE_PORT", "abc")
    assert main(["runs"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("gameday: error: invalid settings: ")
    assert "GAMEDAY_REPORT_URL: must be an http:// or https:// URL (got 'not a url')" in err
    assert "GAMEDAY_BASE_PORT: Input should be a valid integer" in err and "'abc'" in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_the_verdict_links_to_the_report_instead_of_a_path(tmp_path: Path) -> None:
    url = "http://gameday-host:8088/20261122-073000-standard-abcdef/report.html"
    journal = url.replace("report.html", "journal.json")
    message = verdict_message(_outcome(_report(tmp_path), report_url=url, journal_url=journal,
                                       journal=str(tmp_path / "journal.json")))
    sections = [b["text"]["text"] for b in message.blocks if b.get("type") == "section"
                and "text" in b]
    assert f"*Report:* <{url}|open the report>" in sections
    assert f"*Journal:* <{journal}|journal.json>" in sections
    assert url in message.text and str(tmp_path) not in message.text
    assert str(tmp_path) not in json.dumps(message.blocks)  # no path of this machine
    # without a URL: the path, as before
    plain = verdict_message(_outcome(_report(tmp_path / "b")))
    assert any("report.html`" in s["text"]["text"] for s in plain.blocks
               if s.get("type") == "section" and "text" in s)


def test_the_prefect_summary_links_to_the_report(tmp_path: Path) -> None:
    from gameday.journal import read_journal
    from gameday.paths import REPO_ROOT

    journal = read_journal(REPO_ROOT / "tests/report/fixtures/run-smoke/journal.json")
    url = "http://gameday-host:8088/r/report.html"
    text = markdown_summary(journal, _outcome(_report(tmp_path), report_url=url))
    assert f"Report: [open the report](<{url}>)" in text


def test_the_report_is_attached_to_the_thread_with_files_upload_v2(fake_slack, tmp_path):
    report = _report(tmp_path)
    bot = _bot(fake_slack, attach_max_bytes=1_000_000)
    bot.start(sample_run())
    record = bot.verdict(_outcome(report))
    assert record.ok and [r.kind for r in bot.records] == ["start", "verdict", "report_file"]
    assert bot.records[-1].ok, bot.records[-1]
    thread_ts = bot.thread_ts
    [get_url] = fake_slack.calls("files.getUploadURLExternal")
    assert get_url.body["filename"] == "gameday-20261122T073000Z-standard.html"
    assert int(get_url.body["length"]) == report.stat().st_size
    [upload] = fake_slack.calls("upload")
    assert "Authorization" not in upload.headers  # the upload URL is pre-signed
    [complete] = fake_slack.calls("files.completeUploadExternal")
    assert complete.headers["Authorization"] == f"Bearer {TOKEN}"
    files = json.loads(complete.body["files"])
    assert [f["id"] for f in files] == [upload.path.rsplit("/", 1)[1]]
    assert fake_slack.uploads[files[0]["id"]] == report.read_bytes()
    assert complete.body["channel_id"] == fake_slack.channel_id  # the thread's channel id
    assert complete.body["thread_ts"] == thread_ts
    assert "run 20261122T073000Z-standard" in complete.body["initial_comment"]


def test_a_report_over_the_size_limit_is_not_sent_and_says_why(fake_slack, tmp_path):
    bot = _bot(fake_slack, attach_max_bytes=100_000)
    bot.start(sample_run())
    assert bot.verdict(_outcome(_report(tmp_path, size=150_000))).ok
    record = bot.records[-1]
    assert (record.kind, record.ok) == ("report_file", False)
    assert "over the 0.1 MB limit (GAMEDAY_SLACK_ATTACH_MAX_MB)" in record.error
    assert not fake_slack.calls("files.getUploadURLExternal")


@pytest.mark.parametrize("breakage", ["missing_scope", "upload_500"])
def test_a_failed_upload_is_recorded_and_fails_nothing(fake_slack, tmp_path, breakage):
    if breakage == "missing_scope":
        fake_slack.api_errors["files.getUploadURLExternal"] = "missing_scope"
    else:
        fake_slack.upload_status = 500
    bot = _bot(fake_slack, attach_max_bytes=1_000_000)
    bot.start(sample_run())
    verdict = bot.verdict(_outcome(_report(tmp_path)))  # never raises
    assert verdict.ok and len(fake_slack.posts()) == 2
    record = bot.records[-1]
    assert (record.kind, record.ok) == ("report_file", False)
    assert TOKEN not in record.error
    if breakage == "missing_scope":
        assert "files:write" in record.error
    else:
        assert "500" in record.error
        assert not fake_slack.calls("files.completeUploadExternal")


def test_attaching_follows_the_settings(fake_slack, tmp_path):
    base = dict(slack_bot_token=TOKEN, slack_channel="#g", slack_api_url=fake_slack.api_url)
    assert get_notifier(get_settings(**base)).attach_max_bytes is None  # off by default
    on = get_notifier(get_settings(**base, slack_attach_report=True, slack_attach_max_mb=5))
    assert on.attach_max_bytes == 5_000_000
