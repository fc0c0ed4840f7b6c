"""``reports/<run_id>/junit.xml``: a GameDay's checks as JUnit test cases, for CI.

One ``<testsuite>`` per run (named after the runbook); in it one ``<testcase>`` per check
of every phase (``classname`` = ``gameday.<runbook>.<phase>``, ``name`` = the check, e.g.
``ttd_s``), the measured value and the target in the ``<failure>`` message; then the run's
own checks: ``consistency`` (the system's invariants), ``cross-check`` (the
recorded figures against the raw data) and ``completed`` (the run was not aborted,
interrupted or stopped by an error). A planned phase that never ran is one skipped test
case, so a CI system shows it rather than counting fewer tests.

With ``trials: N`` each trial's TTD and TTR are data points of the evidence, not test cases:
each fault type's judgements are (``classname`` = ``gameday.<runbook>.evidence.<fault>``,
``name`` = ``detection_rate``, ``ttd_p95_s``, ``ttr_p95_s``), three-valued as JUnit can
say it: pass, ``<failure>``, or ``<skipped message="inconclusive: …">`` with the estimate,
its interval and the trials that would settle it. A swept phase's TTD, TTR and latency
checks are the sweep's, and are left out likewise.

Text is escaped by :mod:`xml.etree.ElementTree`; characters XML 1.0 cannot carry at all
(most control characters) are replaced by ``\\xNN`` first, so any text a run recorded
yields a well-formed file.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from gameday.evidence.models import counted_check
from gameday.evidence.trials import sentence
from gameday.run_record import Check, JournalRecord

__all__ = ["JUNIT_FILE", "junit_xml", "write_junit"]

JUNIT_FILE = "junit.xml"

#: Characters XML 1.0 forbids even escaped (C0 controls but tab/newline/CR, surrogates,
#: U+FFFE/U+FFFF).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class _Case:
    classname: str
    name: str
    time_s: float = 0.0
    failure: str | None = None  # the message; None = passed
    skipped: str | None = None
    detail: str = ""


def _clean(text: object) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def _value(value: float | int | None) -> str:
    return "not measured" if value is None else f"{value:g}"


def _check_case(classname: str, check: Check, time_s: float) -> _Case:
    if check.passed:
        return _Case(classname, check.name, time_s)
    message = f"{check.name} = {_value(check.value)}, target {check.target}"
    if check.detail:
        message += f": {check.detail}"
    return _Case(classname, check.name, time_s, failure=message)


def _cases(journal: JournalRecord) -> list[_Case]:
    runbook = str(journal.runbook.get("name") or "runbook")
    prefix = f"gameday.{runbook}"
    out: list[_Case] = []
    ran = set()
    for phase in journal.phases:
        ran.add(phase.name.split("-rerun")[0])
        elapsed = ((phase.end - phase.start).total_seconds() if phase.end else 0.0)
        checks = [c for c in phase.checks
                  if counted_check(phase, c.name, bool(journal.evidence))]
        share = max(elapsed, 0.0) / len(checks) if checks else 0.0
        out += [_check_case(f"{prefix}.{phase.name}", c, share) for c in checks]
        if phase.aborted and not any(c.name == "abort" for c in checks):
            out.append(_Case(f"{prefix}.{phase.name}", "abort",
                             failure=f"phase aborted: {phase.aborted}"))
    for ev in journal.evidence:
        for j in ev.checks:
            said = sentence(ev, j)
            out.append(_Case(f"{prefix}.evidence.{ev.fault_type}", j.name,
                             failure=said if j.verdict == "fail" else None,
                             skipped=f"inconclusive: {said}" if j.verdict == "inconclusive"
                             else None))
    ran.update(p.repeats for p in journal.phases if p.repeats)
    for name in journal.planned_phases():
        if name not in ran:
            out.append(_Case(f"{prefix}.{name}", "phase", skipped="phase not run"))
    run = f"{prefix}.run"
    if journal.consistency is not None:
        c = journal.consistency
        out.append(_Case(run, "consistency", failure=None if c.ok else
                         f"{len(c.mismatches)} invariant(s) did not hold",
                         detail="" if c.ok else _clean(c.mismatches[:20])))
    failing = journal.verdict.failing_checks if journal.verdict else []
    cross = [f for f in failing if ": cross-check: " in f]
    if journal.verdict is not None:
        out.append(_Case(run, "cross-check", failure="; ".join(cross) or None))
    if journal.status in ("completed", "failed") and not journal.error:
        out.append(_Case(run, "completed"))
    else:
        why = (journal.error or (journal.abort.reason if journal.abort else None)
               or (journal.interruption.reason if journal.interruption else None)
               or "the run did not finish")
        out.append(_Case(run, "completed", failure=f"run {journal.status}: {why}"))
    return out


def junit_xml(journal: JournalRecord) -> str:
    """The JUnit XML document of one run (UTF-8 text with its declaration)."""
    cases = _cases(journal)
    runbook = str(journal.runbook.get("name") or "runbook")
    failures = sum(c.failure is not None for c in cases)
    skipped = sum(c.skipped is not None for c in cases)
    total = sum(c.time_s for c in cases)
    suites = ET.Element("testsuites", name="gameday", tests=str(len(cases)),
                        failures=str(failures), errors="0", skipped=str(skipped),
                        time=f"{journal.duration or total:.3f}")
    suite = ET.SubElement(suites, "testsuite", name=_clean(runbook), tests=str(len(cases)),
                          failures=str(failures), errors="0", skipped=str(skipped),
                          time=f"{journal.duration or total:.3f}",
                          timestamp=journal.start.isoformat(), hostname=_clean(journal.node
                                                                                or ""))
    props = ET.SubElement(suite, "properties")
    for key, value in (("run_id", journal.run_id), ("target", journal.target),
                       ("seed", journal.seed), ("status", journal.status),
                       ("score", journal.verdict.score if journal.verdict else None)):
        if value is not None:
            ET.SubElement(props, "property", name=key, value=_clean(value))
    for case in cases:
        el = ET.SubElement(suite, "testcase", classname=_clean(case.classname),
                           name=_clean(case.name), time=f"{case.time_s:.3f}")
        if case.failure is not None:
            failure = ET.SubElement(el, "failure", message=_clean(case.failure),
                                    type="SLO")
            failure.text = _clean(case.detail or case.failure)
        elif case.skipped is not None:
            ET.SubElement(el, "skipped", message=_clean(case.skipped))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(run_dir: str | Path, journal: JournalRecord) -> Path:
    """Write ``run_dir/junit.xml`` (atomically) for ``journal``; returns its path."""
    from gameday.journal import atomic_write

    path = Path(run_dir) / JUNIT_FILE
    atomic_write(path, junit_xml(journal))
    return path
