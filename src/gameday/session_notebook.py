"""Build the JupyterLab session notebook for a runbook: one section per phase.

``notebooks/session.ipynb`` is :func:`build` of ``runbooks/standard.yaml`` (a test keeps
them equal). For another runbook::

    python -m gameday.session_notebook runbooks/smoke.yaml reports/sessions/smoke.ipynb

(``make lab RUNBOOK=runbooks/smoke.yaml`` does this and opens the result). The notebook
only calls :class:`gameday.session.Session`; it computes nothing itself.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from gameday.paths import REPO_ROOT
from gameday.runbook import Phase, Runbook, load_runbook
from gameday.runbook_system import system_path
from gameday.systems.loader import load_system
from gameday.systems.model import LoadMix

__all__ = ["build", "write", "KERNEL"]

KERNEL = {"name": "gameday", "display_name": "GameDay (.venv)", "language": "python"}

_INTRO = """# GameDay session: `{name}`

A **GameDay** is a rehearsal of failure: we break one part of our system on
purpose, under realistic client load, and check with numbers that the system *detects*
the fault, *hides* it from clients and *recovers*. This notebook runs the GameDay with
you, one phase at a time, and keeps the record: everything you run and write here goes
into the run's journal (`reports/<run id>/journal.json`) and its report
(`reports/<run id>/report.html`).

**How to use it:** run the cells from top to bottom (Shift+Enter), one section at a time,
and talk before each phase. Nothing touches the system until *Start the session*. Every
fault clears itself after a time-to-live, even if this notebook or laptop dies.

Runbook: `{path}` — {description}"""

_ROLES = """## 1. Roles

Agree who does what before anything runs, and write the names in the next cell.

| role | does |
|---|---|
| **owner** | decides: starts the session, calls an abort, decides to re-run or skip a phase |
| **coordinator** | runs the cells of this notebook and says aloud what is about to happen |
| **reporter** | writes down what people saw, with the time (*Reporter* cells after each phase) |
| **observers** | watch dashboards, logs and the shop, and say when they *notice* something |

The next cell also holds the settings (it is tagged `parameters`: automated runs with
papermill replace it). `skip`, `rerun`, `notes` and `abort_during` are for automated
runs; in a live session, leave them empty and use the cells of each phase instead."""

_PARAMS = """# Parameters (papermill replaces this cell's values)
runbook = {runbook!r}
target = None          # "local" (processes on this machine) or "compose"; None: the runbook's
base_port = None       # first port of the local stack; None: GAMEDAY_BASE_PORT or 5001
seed = None            # None: the runbook's seed

owner = ""             # names of the people in each role
coordinator = ""
reporter = ""
observers = []

abort_criteria_agreed = False  # the owner sets True after reading the criteria aloud

skip = []              # phases to leave out (automated runs)
rerun = []             # phases to run twice (automated runs)
notes = []             # observations to record, e.g. {{"phase": "crash", "kind": "noticed",
                       #   "role": "observer", "after_s": 2, "text": "..."}} (automated runs)
abort_during = None    # a phase to abort while it runs (automated runs, tests)
render_report = True   # render reports/<run id>/report.html at the end"""

_SETUP = """from gameday.runbook import plan
from gameday.session import Session

session = Session(
    runbook, target=target, base_port=base_port, seed=seed,
    roles={"owner": owner, "coordinator": coordinator, "reporter": reporter,
           "observers": observers},
    skip=skip, rerun=rerun, notes=notes, abort_during=abort_during,
)
print(plan(session.runbook))
print(session.where())"""

_CHECKLIST = """## 2. Pre-flight checklist

Before the first fault the team checks three things, and the session refuses to start
until all of them are true:

1. **The system is healthy**: every steady-state probe of `{system}` holds
   (what `gameday system check {system}` checks). If not, start it from a terminal in the
   project folder (`.venv/bin/gameday system up {system} --base-port N` with the same
   `base_port` above) or fix it first: a GameDay on a broken system measures nothing.
2. **Slack is reachable** (when configured): the team's channel gets a message when the
   GameDay starts, after each phase, on abort and with the verdict. Without Slack the
   messages are printed here instead.
3. **The abort criteria are agreed**: the owner reads them aloud (next cell); everyone
   knows when we stop and that anyone may ask the owner to stop at any time."""

_AGREE = """The owner reads the criteria above aloud. When everyone agrees, set
`abort_criteria_agreed = True` (in the parameters cell, or in the cell below) and run the
checklist. Fix any line that says `False` and run the checklist again."""

_START = """## 3. Start the session

Starting takes the GameDay lock of this target (nobody else can run a GameDay on it until
this session finishes), opens the run's journal, tells Slack, clears any leftover fault
and waits until the system is in its steady state. It prints the run id."""

_PHASE = """## {n}. Phase `{name}` — {headline}

{description}

- **What happens:** {what}
- **What good looks like:** {good}
- **Watch:** the live panel below the cell redraws every second: client availability and
  latency over the last {window:g} s, and each {component}'s state as {detector} sees it
  (green ON, red OFF; ⚡ marks the faulted {component}). Observers: watch your own dashboards
  too, and call out the moment you notice the fault.

**Coordinator** runs the cell. **To abort while it runs**, the owner says so and the
coordinator presses ■ (interrupt the kernel; `gameday abort` in a terminal does the
same): the load stops, the fault is rolled back, every stopped component is restarted and the
remaining phases will not run. **To skip** this phase,
run `session.skip("{name}", "why")` instead. **To re-run** it afterwards, run
`session.run_phase("{name}", rerun=True)` (it is recorded as `{name}-rerun1`; both
attempts stay in the journal and count in the verdict)."""

_REPORTER = """### Reporter: what did the team see during `{name}`?

Write one line per observation and run the cell. `session.noticed(...)` records the
moment a *person* first noticed the fault (now, or `at="HH:MM:SS"`, or `after_s=` seconds
after the injection); the report puts it next to the detector's automated time to detect
(TTD). `session.note(...)` records anything else worth remembering. Each line gets the
time, the role and this phase."""

_REPORTER_CODE = """# session.noticed("the dashboard went red", role="observer")
# session.noticed("Alice saw errors in the shop", role="observer", at="14:03:12")
# session.note("clients saw nothing; the front kept answering", role="reporter")
observations = session.notes()"""

_ABORT = """## {n}. Abort (only if the owner calls it between phases)

During a phase, interrupt the kernel (■) instead. Between phases, run the cell below
with the reason: every fault is cleared, every stopped component restarted, and the
remaining phases are skipped. Then finish the session: the report says the GameDay was
aborted, and why."""

_FINISH = """## {n}. Finish the session

Finishing checks the system's invariants (its file's), computes the verdict
(did every phase meet its targets?) and the resilience score, renders the report, posts
the verdict to Slack (when configured) and releases the target's lock. Phases that were
neither run nor skipped are recorded as skipped."""

_FINISH_CODE = """from IPython.display import Markdown, display

from gameday.escape import md

verdict = session.finish(report=render_report)
display(Markdown(
    f"**{'PASSED' if verdict.passed else 'FAILED'}** · score {verdict.score:.0f}/100 · "
    f"status {verdict.status}\\n\\nJournal: {md(verdict.journal)}\\n\\n"
    f"Report: {md(verdict.report or verdict.report_error or 'not rendered')}"))"""

_NEXT = """## What next

Open the report (path above) together: it has every phase's figures, the latency and
availability over time, each component's ON/OFF timeline, and your observations next to
the automated detection times. Agree on actions for every failing check, then run the
GameDay again later and compare (`reports/trends.html`)."""


@dataclass(frozen=True)
class _Answers:
    """What the run's load judges in each answer: a quorum, right or wrong."""

    quorum: bool
    judged: bool

    @classmethod
    def of(cls, load: LoadMix) -> _Answers:
        """``load``: the runbook's system's."""
        return cls(quorum=load.counts_quorum, judged=load.judges_answers)


def _good(rb: Runbook, ph: Phase, answers: _Answers) -> str:
    slo = rb.slo
    base = f"availability ≥ {slo.availability:.1%}"
    if answers.quorum:
        base += f", quorum ≥ {slo.quorum_rate:.0%}"
    if answers.judged:
        base += f", {slo.wrong_answers} wrong answers"
    if ph.fault is None:
        return f"{base}; this phase is the yardstick the fault phases are compared with."
    ttd = slo.ttd_s.get(ph.fault.type)
    within = f" within {ttd:g} s" if ttd is not None else ""
    return (f"the system's detector marks {ph.fault.where} OFF{within} and ON again within "
            f"{slo.ttr_s:g} s of the rollback; clients notice nothing ({base}; p95 ≤ "
            f"{slo.latency_p95_ratio:g}× baseline).")


def _what(rb: Runbook, ph: Phase) -> str:
    load = f"{ph.duration_s:g} s of client load at {rb.load.rate:g} requests/s"
    if ph.fault is None:
        return f"no fault; {load}."
    rec = {"restart": "end the fault, restart what it stopped,", "clear": "clear the fault",
           "none": "leave it to its time-to-live"}[ph.recovery.action]
    return (f"inject **{ph.fault.describe()}**, then {load}, then {rec} and wait until the "
            f"system's detector sees it ON again (≤ {ph.recovery.timeout_s:g} s).")


def _checklist(rb: Runbook) -> str:
    return _CHECKLIST.replace("{system}", rb.system)


def build(runbook_path: str | Path) -> nbformat.NotebookNode:
    """The session notebook for ``runbook_path`` (relative paths: to the repo root)."""
    path = Path(runbook_path)
    full = path if path.is_absolute() else REPO_ROOT / path
    rb = load_runbook(full)
    answers = _Answers.of(load_system(system_path(rb.system, full.parent)).load)
    rel = str(path if not path.is_absolute() else
              (path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path))
    params = new_code_cell(_PARAMS.format(runbook=rel))
    params.metadata["tags"] = ["parameters"]
    cells = [
        new_markdown_cell(_INTRO.format(name=rb.name, path=rel,
                                        description=" ".join(rb.description.split()))),
        new_markdown_cell(_ROLES), params, new_code_cell(_SETUP),
        new_markdown_cell(_checklist(rb)),
        new_code_cell('for line in session.abort_criteria():\n    print("•", line)'),
        new_markdown_cell(_AGREE),
        new_code_cell("# abort_criteria_agreed = True\n"
                      "checks = session.checklist(abort_criteria_agreed=abort_criteria_agreed)"),
        new_markdown_cell(_START), new_code_cell("run_id = session.start()"),
    ]
    n = 4
    for ph in rb.phases:
        headline = ph.fault.describe() if ph.fault else "no fault"
        cells += [
            new_markdown_cell(_PHASE.format(
                n=n, name=ph.name, headline=headline,
                description=" ".join(ph.description.split()) or "",
                what=_what(rb, ph), good=_good(rb, ph, answers),
                window=rb.safety.abort_window_s,
                component="component", detector="the system's detector")),
            new_code_cell(f'record = session.run_phase("{ph.name}")'),
            new_markdown_cell(_REPORTER.format(name=ph.name)),
            new_code_cell(_REPORTER_CODE),
        ]
        n += 1
    cells += [
        new_markdown_cell(_ABORT.format(n=n)),
        new_code_cell('# session.abort("why the owner stopped the GameDay")'),
        new_markdown_cell(_FINISH.format(n=n + 1)), new_code_cell(_FINISH_CODE),
        new_markdown_cell(_NEXT),
    ]
    for i, cell in enumerate(cells):  # stable ids: a rebuilt notebook diffs cleanly
        cell["id"] = f"c{i:02d}-{cell.cell_type}"
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = KERNEL
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def write(runbook_path: str | Path, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(build(runbook_path), out)
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m gameday.session_notebook RUNBOOK OUT.ipynb", file=sys.stderr)
        return 2
    print(write(args[0], args[1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
