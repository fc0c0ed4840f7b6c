from __future__ import annotations

import json

from block_limits import assert_within_slack_limits
from notify_samples import sample_abort, sample_phase, sample_run, sample_verdict

from gameday.notify.blocks import bullet_list, truncate
from gameday.notify.messages import (
    abort_message,
    phase_message,
    start_message,
    verdict_message,
)


def _all_text(blocks) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_start_message_names_the_runbook_target_seed_and_every_phase_with_its_fault():
    message = start_message(sample_run())
    text = _all_text(message.blocks)
    assert message.blocks[0]["type"] == "header"
    assert "standard" in message.blocks[0]["text"]["text"]
    for expected in ("local", "42", "ci", "baseline", "crash on replica 2", "latency on replica 3"):
        assert expected in text
    assert "Crash and slow a replica" in text
    assert "standard" in message.text and "20261122T073000Z-standard" in message.text
    assert_within_slack_limits(message.blocks, message.text)


def test_fields_come_in_pairs_for_phone_screens():
    for message in (start_message(sample_run()), phase_message(sample_phase())):
        for block in message.blocks:
            if "fields" in block:
                assert len(block["fields"]) % 2 == 0


def test_phase_message_shows_the_figures_and_the_failing_check():
    message = phase_message(sample_phase())
    text = _all_text(message.blocks)
    assert "❌" in text and "crash" in text
    for figure in ("99.87 %", "0.61 s", "1.25 s", "42 ms", "crash on replica 2"):
        assert figure in text
    assert "availability: 0.9987 (target &gt;= 0.999)" in text
    assert "ttd_s" not in text.split("Failing checks")[1]  # the passing check is not listed
    assert message.text == "Phase crash: failed (1 failing checks)"
    assert_within_slack_limits(message.blocks, message.text)


def test_phase_message_reads_flat_metrics_and_shows_a_dash_for_missing_ones():
    message = phase_message({"name": "baseline", "passed": True, "ttd_s": None, "availability": 1})
    text = _all_text(message.blocks)
    assert "✅" in text and "100.00 %" in text and "–" in text and "no fault" in text


def test_abort_message_is_prominent_and_says_what_was_rolled_back():
    message = abort_message(sample_abort())
    assert message.blocks[0]["type"] == "header"
    assert "🚨" in message.blocks[0]["text"]["text"]
    text = _all_text(message.blocks)
    for expected in ("fell below the floor", "latency", "clear latency fault on replica 3"):
        assert expected in text
    assert message.text.startswith("GameDay ABORTED in phase latency")
    assert_within_slack_limits(message.blocks, message.text)


def test_abort_message_reads_journal_rollback_entries():
    info = {
        "reason": "r",
        "rollbacks": [{"activity": {"name": "clear-faults"}, "status": "succeeded"}],
    }
    assert "clear-faults: succeeded" in _all_text(abort_message(info).blocks)


def test_verdict_message_gives_score_verdict_duration_and_report_path():
    message = verdict_message(sample_verdict())
    text = _all_text(message.blocks)
    for expected in (
        "FAILED",
        "75/100",
        "1 min 36 s",
        "reports/20261122T073000Z-standard/report.html",
    ):
        assert expected in text
    assert "availability: 0.9987" in text
    assert "report.html" in message.text
    assert_within_slack_limits(message.blocks, message.text)


def test_verdict_message_links_a_report_url():
    summary = {**sample_verdict(), "report_url": "http://127.0.0.1:8000/r/report.html?a=1&b=2"}
    text = _all_text(verdict_message(summary).blocks)
    assert "<http://127.0.0.1:8000/r/report.html?a=1&amp;b=2|reports/" in text


def test_user_text_is_escaped_for_mrkdwn():
    message = abort_message({"reason": "<!channel> & <http://evil|x>", "phase": "p"})
    text = _all_text(message.blocks)
    assert "<!channel>" not in text and "&lt;!channel&gt; &amp; &lt;http://evil|x&gt;" in text


def test_huge_inputs_stay_within_slack_limits():
    long = "x" * 10_000
    run = {
        "run_id": long,
        "runbook": {"name": long, "description": long},
        "target": long,
        "seed": long,
        "started_by": long,
        "phases": [
            {"name": f"phase-{i}-" + "y" * 300, "fault": {"type": long, "replica": "2"}}
            for i in range(80)
        ],
    }
    checks = [{"name": long, "target": long, "value": long, "passed": False} for _ in range(200)]
    phase = {"name": long, "fault": {"type": long}, "passed": False, "checks": checks}
    abort = {"reason": long, "phase": long, "at": long, "rolled_back": [long] * 500}
    verdict = {
        "passed": False,
        "score": long,
        "runbook": long,
        "status": long,
        "run_id": long,
        "failing_checks": checks,
        "report_path": long,
        "report_url": "https://x/" + long,
    }
    for message in (
        start_message(run),
        phase_message(phase),
        abort_message(abort),
        verdict_message(verdict),
    ):
        assert_within_slack_limits(message.blocks, message.text)
    plan = _all_text(start_message(run).blocks)
    assert "phase-0-" in plan and "more" in plan  # the first phases shown, the rest counted


def test_truncate_never_leaves_half_an_entity_and_marks_the_cut():
    assert truncate("abc", 3) == "abc"
    cut = truncate("a" * 8 + "&amp;" + "b" * 10, 11)
    assert cut == "a" * 8 + "…" and len(cut) <= 11


def test_bullet_list_drops_whole_lines_and_counts_them():
    text = bullet_list("*T*", [f"line {i}" for i in range(1000)], limit=100)
    assert len(text) <= 100 and text.endswith("more") and "line 0" in text
    assert all(not line.startswith("line") or line[5:].isdigit() for line in text.splitlines())


def test_messages_read_the_shapes_the_flow_passes():
    """flows/gameday.py and gameday.engine pass these keys (see their notifier calls)."""
    start = start_message(
        {
            "run_id": "r1",
            "name": "smoke",
            "description": "d",
            "target": "local",
            "seed": 1,
            "phases": [{"name": "crash", "fault": "crash"}, {"name": "recovery", "fault": None}],
            "started_by": "gameday flow",
        }
    )
    text = _all_text(start.blocks)
    assert "GameDay started: smoke" in text and "*crash*: crash" in text and "no fault" in text

    abort = abort_message(
        {
            "reason": "availability fell",
            "phase": "crash",
            "run_id": "r1",
            "rolled_back": {"restarted": ["2"], "cleared": ["1", "2", "3"], "clear_error": None},
        }
    )
    text = _all_text(abort.blocks)
    assert "• restarted: 2" in text and "• cleared: 1, 2, 3" in text and "clear_error" not in text

    verdict = verdict_message(
        {
            "passed": True,
            "score": 96.5,
            "failing_checks": [],
            "status": "completed",
            "run_id": "r1",
            "run_dir": "reports/r1",
            "report": "reports/r1/report.html",
            "journal": "reports/r1/journal.json",
            "name": "smoke",
            "duration_s": 21.3,
        }
    )
    text = _all_text(verdict.blocks)
    for expected in (
        "GameDay passed: smoke",
        "96/100",
        "21.30 s",
        "reports/r1/report.html",
        "reports/r1/journal.json",
    ):
        assert expected in text
    assert "report: reports/r1/report.html" in verdict.text
    failed = verdict_message({"passed": False, "report": None, "report_error": "cell 3 failed"})
    assert "not written: cell 3 failed" in _all_text(failed.blocks)
