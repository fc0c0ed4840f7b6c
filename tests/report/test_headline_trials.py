"""With trials, the top of the report says each fault type's three-valued judgements, once
per check, not one row per trial with each trial's TTD marked failed."""

from __future__ import annotations

import re

from gameday import headline


def test_the_headline_has_one_row_per_fault_type_with_its_judgements(trials_journal) -> None:
    journal = trials_journal()
    table = headline.headline_table(journal)
    assert "crash-t2" not in table and "crash-t1" not in table  # no row per trial
    assert re.search(r"<b>crash</b><br><small>3 trials, 3/3 detected", table)
    [crash] = [e for e in journal.evidence if e.fault_type == "crash"]
    for j in crash.checks:
        assert f"gd-{j.verdict}" in table
    # the detection rate over 3 trials cannot be sure of 90 %: inconclusive, with its interval
    assert "? detection rate 100 % [43.85 %, 100 %]</b>, target ≥ 90 %" in table
    assert "more trials" in table
    # the incorrect_response phase ran once: its row stays as it was
    assert "<b>incorrect_response</b>" in table


def test_the_banner_counts_judgements_not_each_trials_ttd(trials_journal) -> None:
    journal = trials_journal()
    banner = headline.verdict_banner(journal)
    counted = [c for p in journal.phases for c in p.checks
               if not (p.trial and c.name in ("ttd_s", "ttr_s"))]
    judged = [j for e in journal.evidence for j in e.checks]
    total = len(counted) + len(judged)
    passed = sum(c.passed for c in counted) + sum(j.verdict == "pass" for j in judged)
    assert f"{passed} of {total} checks passed" in banner
    assert "crash-t2: time to detect" not in banner  # the slow trial is a data point
