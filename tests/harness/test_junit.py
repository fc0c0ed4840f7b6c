from __future__ import annotations

from pathlib import Path

from junitparser import Failure, JUnitXml, Skipped

from gameday.journal import read_journal
from gameday.junit import write_junit
from gameday.paths import REPO_ROOT
from gameday.run_record import Check, JournalRecord, PhaseRecord, Threshold

RECORDED = REPO_ROOT / "tests" / "report" / "fixtures" / "run-smoke" / "journal.json"


def _cases(path: Path) -> list:
    xml = JUnitXml.fromfile(str(path))
    return [case for suite in xml for case in suite]


def test_every_check_of_every_phase_is_a_test_case_with_value_and_target(
    tmp_path: Path,
) -> None:
    journal = read_journal(RECORDED)
    cases = _cases(write_junit(tmp_path, journal))
    by_id = {(c.classname, c.name): c for c in cases}
    checks = [(p.name, c) for p in journal.phases for c in p.checks]
    assert len(checks) == 18
    for phase, check in checks:
        case = by_id[(f"gameday.smoke.{phase}", check.name)]
        if check.passed:
            assert case.is_passed, (phase, check.name)
            continue
        [failure] = case.result
        assert isinstance(failure, Failure)
        assert f"{check.value:g}" in failure.message, failure.message
        assert str(check.target) in failure.message  # e.g. "≥ 0.999"
    failing = {(c.classname.rsplit(".", 1)[1], c.name) for c in cases if not c.is_passed
               and c.classname != "gameday.smoke.run"}
    assert failing == {("incorrect_response", "availability"),
                       ("incorrect_response", "quorum_rate"),
                       ("incorrect_response", "latency_p95_ms")}
    # the run's own checks: it completed (its SLOs failed, it was not stopped)
    assert by_id[("gameday.smoke.run", "completed")].is_passed
    suite = next(iter(JUnitXml.fromfile(str(tmp_path / "junit.xml"))))
    assert suite.name == "smoke" and suite.tests == len(cases) and suite.failures == 3


def _hostile_journal() -> JournalRecord:
    evil = 'x<script>alert("1")</script>&amp; ]]> \x00\x1b\ufffe end'
    journal = read_journal(RECORDED)
    phase = journal.phases[1]
    phase.checks = [Check(name=evil, target=Threshold(op="<=", value=0.8), value=2.5,
                          passed=False, detail=evil)]
    journal.phases = [phase, PhaseRecord(name=evil, duration_s=1, start=phase.start,
                                         checks=[])]
    journal.status, journal.error = "interrupted", evil
    return journal


def test_hostile_text_yields_well_formed_xml_that_says_what_it_said(tmp_path: Path) -> None:
    cases = _cases(write_junit(tmp_path, _hostile_journal()))
    [check] = [c for c in cases if c.classname == "gameday.smoke.crash"]
    [failure] = check.result
    expected = 'x<script>alert("1")</script>&amp; ]]> \\x00\\x1b\\xfffe end'
    assert check.name == expected
    assert failure.message.startswith(f"{expected} = 2.5, target ≤ 0.8: ")
    text = (tmp_path / "junit.xml").read_text(encoding="utf-8")
    assert "<script>" not in text and "\x00" not in text


def test_an_interrupted_run_fails_its_completed_case_and_skips_what_never_ran(
    tmp_path: Path,
) -> None:
    journal = read_journal(RECORDED)
    journal.phases = journal.phases[:2]
    journal.status, journal.verdict, journal.consistency = "interrupted", None, None
    cases = _cases(write_junit(tmp_path, journal))
    skipped = {c.classname.rsplit(".", 1)[1] for c in cases
               if c.result and isinstance(c.result[0], Skipped)}
    assert skipped == {"incorrect_response", "recovery"}
    [completed] = [c for c in cases if c.name == "completed"]
    assert "run interrupted" in completed.result[0].message


def test_with_trials_each_judgement_is_one_case_pass_fail_or_skipped_as_inconclusive(
    tmp_path: Path, trials_journal
) -> None:
    journal = trials_journal()
    cases = _cases(write_junit(tmp_path, journal))
    by_id = {(c.classname, c.name): c for c in cases}
    # the trials' own TTD/TTR are data points of the evidence, not test cases of their own
    assert not [c for c in cases if c.name in ("ttd_s", "ttr_s") and "-t" in c.classname]
    assert ("gameday.smoke.crash-t2", "availability") in by_id  # other checks stay per trial
    [crash] = [e for e in journal.evidence if e.fault_type == "crash"]
    for j in crash.checks:
        case = by_id[("gameday.smoke.evidence.crash", j.name)]
        if j.verdict == "pass":
            assert case.is_passed
        elif j.verdict == "fail":
            assert isinstance(case.result[0], Failure)
        else:
            [skipped] = case.result
            assert isinstance(skipped, Skipped)
            assert skipped.message.startswith("inconclusive: crash: ")
            assert "more trials" in skipped.message or "no number of trials" in skipped.message
    # three trials cannot show a detection rate of 90 %: inconclusive, not failed
    assert isinstance(by_id[("gameday.smoke.evidence.crash", "detection_rate")].result[0],
                      Skipped)
