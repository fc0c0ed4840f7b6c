"""With trials, Slack and the Prefect summary say each check's three-valued verdict once
(per fault type, over its trials), not one line per trial with each trial's TTD failed."""

from __future__ import annotations

from gameday.evidence.trials import sentence
from gameday.notify.messages import phase_message, verdict_message
from gameday.run_record import Outcome
from gameday.summary import markdown_summary


def _outcome(journal) -> Outcome:
    return Outcome(run_id="r1", name="smoke", status="completed", passed=False, score=80,
                   outcome="inconclusive", inconclusive=list(journal.verdict.inconclusive),
                   judgements=[{"verdict": j.verdict, "text": sentence(ev, j)}
                               for ev in journal.evidence for j in ev.checks],
                   run_dir="/tmp/r1", journal="/tmp/r1/journal.json")


def test_the_prefect_summary_has_one_row_per_repeated_phase_with_its_judgements(
        trials_journal) -> None:
    journal = trials_journal()
    text = markdown_summary(journal, _outcome(journal))
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert not [r for r in rows if r.startswith(r"| crash\-t")]  # no row per trial
    [crash] = [r for r in rows if r.startswith(r"| crash \(3 trials\)")]
    assert "inconclusive" in crash  # its TTD p95 over the trials, not trial 2's ✘
    assert "❌" not in crash.split("|")[3]  # the slow trial's TTD alone fails nothing
    assert any(r.startswith(r"| incorrect\_response |") for r in rows)  # ran once: as before


def test_slack_says_every_judgement_with_its_verdict(trials_journal) -> None:
    journal = trials_journal()
    message = verdict_message(_outcome(journal))
    blocks = str(message.blocks)
    assert "Judged over the trials" in blocks
    for ev in journal.evidence:
        for j in ev.checks:
            assert {"pass": "✅", "fail": "❌", "inconclusive": "🟡"}[j.verdict] in blocks
    assert "crash: TTD p95" in blocks


def test_a_trials_slow_ttd_is_a_data_point_in_its_phase_message(trials_journal) -> None:
    journal = trials_journal()
    slow = next(p for p in journal.phases if p.name == "crash-t2")
    message = phase_message(slow)
    blocks = str(message.blocks)
    assert "time to detect" not in blocks.lower().split("failing checks")[-1] or \
        "Failing checks" not in blocks
    assert "judged over all trials at the end" in blocks
