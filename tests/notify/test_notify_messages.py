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
from gameday.run_record import AbortNotice, Outcome, PhaseRecord, PlannedPhase, StartNotice


def _all_text(blocks) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_start_message_names_the_runbook_target_seed_and_every_phase_with_its_fault():
    message = start_message(sample_run())
    text = _all_text(message.blocks)
    assert message.blocks[0]["type"] == "header"
    assert "standard" in message.blocks[0]["text"]["text"]
    for expected in ("local", "42", "ci", "baseline", "crash on inventory/2",
                     "latency on inventory/3"):
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
    for figure in ("99.87 %", "0.61 s", "1.25 s", "41.7 ms", "crash on inventory/2"):
        assert figure in text
    assert "crash: availability 99.87 %, target ≥ 99.9 %" in text  # the report's sentence
    assert "ttd_s" not in text.split("Failing checks")[1]  # the passing check is not listed
    assert message.text == "Phase crash: failed (1 failing checks)"
    assert_within_slack_limits(message.blocks, message.text)


def test_phase_message_shows_a_dash_for_missing_figures():
    message = phase_message(PhaseRecord(name="baseline", duration_s=1, passed=True,
                                        start="2026-01-01T00:00:00Z",
                                        metrics={"availability": 1}))
    text = _all_text(message.blocks)
    assert "✅" in text and "100 %" in text and "—" in text and "no fault" in text


def test_abort_message_is_prominent_and_says_what_was_rolled_back():
    message = abort_message(sample_abort())
    assert message.blocks[0]["type"] == "header"
    assert "🚨" in message.blocks[0]["text"]["text"]
    text = _all_text(message.blocks)
    for expected in ("fell below the floor", "latency", "• restarted: 2",
                     "• cleared: 1 cleared, 2 cleared, 3 cleared"):
        assert expected in text
    assert message.text.startswith("GameDay ABORTED in phase latency")
    assert_within_slack_limits(message.blocks, message.text)


def test_verdict_message_gives_score_verdict_duration_and_report_path():
    message = verdict_message(sample_verdict())
    text = _all_text(message.blocks)
    for expected in (
        "FAILED",
        "75/100",
        "96.4 s",
        "reports/20261122T073000Z-standard/report.html",
    ):
        assert expected in text
    assert "availability 0.9987 (target ≥ 0.999)" in text
    assert "report.html" in message.text
    assert_within_slack_limits(message.blocks, message.text)


HOSTILE = "<!channel> & <http://evil|x> <script>alert(1)</script>"


def test_user_text_is_escaped_for_mrkdwn_in_blocks_and_fallback_text():
    """The fallback ``text`` is mrkdwn too: a reason quoting `<!channel>` must not ping."""
    messages = [
        abort_message(AbortNotice(run_id=HOSTILE, reason=HOSTILE, phase=HOSTILE,
                                  rolled_back={HOSTILE: [HOSTILE]})),
        start_message(StartNotice(run_id=HOSTILE, name=HOSTILE, description=HOSTILE,
                                  target=HOSTILE, started_by=HOSTILE,
                                  phases=[PlannedPhase(name=HOSTILE, fault=HOSTILE)])),
        phase_message(PhaseRecord(
            name=HOSTILE, duration_s=1, start="2026-01-01T00:00:00Z",
            fault={"type": HOSTILE, "component": HOSTILE, "params": {"x": HOSTILE}},
            checks=[{"name": HOSTILE, "target": {"op": "<=", "value": 1}, "value": 2,
                     "passed": False, "detail": HOSTILE}])),
        verdict_message(Outcome(run_id=HOSTILE, name=HOSTILE, status="failed", passed=False,
                                score=1, failing_checks=[HOSTILE], run_dir=HOSTILE,
                                journal=HOSTILE, report_error=HOSTILE)),
    ]
    for message in messages:
        for block in message.blocks:
            if block["type"] == "header":  # plain_text: Slack shows it as typed
                continue
            assert "<!channel>" not in json.dumps(block) and "<script>" not in json.dumps(block)
        assert "<!channel>" not in message.text and "<http" not in message.text
        assert "&lt;!channel&gt;" in _all_text(message.blocks) + message.text


def test_huge_inputs_stay_within_slack_limits():
    long = "x" * 10_000
    run = StartNotice(run_id=long, name=long, description=long, target=long, seed=None,
                      started_by=long,
                      phases=[PlannedPhase(name=f"phase-{i}-" + "y" * 300, fault=long)
                              for i in range(80)])
    checks = [{"name": long, "target": {"op": "<=", "value": 1}, "value": 2,
               "passed": False, "detail": long} for _ in range(200)]
    phase = PhaseRecord(name=long, duration_s=1, start="2026-01-01T00:00:00Z",
                        fault={"type": long, "component": "2"}, checks=checks)
    abort = AbortNotice(run_id=long, reason=long, phase=long,
                        rolled_back={f"k{i}": long for i in range(500)})
    verdict = Outcome(run_id=long, name=long, status="failed", passed=False, score=3,
                      failing_checks=[long] * 200, run_dir=long, journal=long, report=long)
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


def test_verdict_message_without_a_report_says_why():
    failed = verdict_message(Outcome(run_id="r1", name="smoke", status="failed", passed=False,
                                     score=10, run_dir="reports/r1",
                                     journal="reports/r1/journal.json",
                                     report_error="cell 3 failed"))
    assert "not written: cell 3 failed" in _all_text(failed.blocks)
    passed = verdict_message(Outcome(run_id="r1", name="smoke", status="completed",
                                     passed=True, score=96.5, duration_s=21.3,
                                     run_dir="reports/r1", journal="reports/r1/journal.json",
                                     report="reports/r1/report.html"))
    text = _all_text(passed.blocks)
    for expected in ("GameDay passed: smoke", "96/100", "21.3 s", "reports/r1/report.html",
                     "reports/r1/journal.json"):
        assert expected in text
    assert "report: reports/r1/report.html" in passed.text
