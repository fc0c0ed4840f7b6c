"""A GameDay run by people, step by step: the engine behind ``notebooks/session.ipynb``.

A :class:`Session` is one GameDay (:class:`gameday.lifecycle.GameDay`, the lifecycle the
Prefect flow uses too) run by people: it holds the target's lock from
:meth:`Session.start` until :meth:`Session.finish`. In between, the team runs phases one
at a time with the same steps the flow uses (:func:`gameday.engine.run_phase`), watches
each live (:class:`~gameday.live.LiveView`), re-runs, skips or aborts phases, and the
reporter records observations, which go into the run's journal and show in its report.

Roles (one vocabulary, :data:`gameday.run_record.ROLES`): the **owner** decides (starts,
aborts, re-runs, skips), the **coordinator** runs the cells, the **reporter** writes down
what people saw, **observers** watch and say when they notice something. Observations:
``session.note(text, role=...)`` and ``session.noticed(text, role=...)``.

Aborting a running phase: interrupt the kernel (JupyterLab's ■ button, or ``I, I``). The
phase stops its load, rolls its fault back and is recorded as aborted; the session then
clears every fault, restarts every stopped component and skips the remaining phases.
Headless runs (papermill) choose with parameters instead: ``skip``, ``rerun``, ``notes``,
``abort_during``.
"""

from __future__ import annotations

import atexit
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from gameday import engine
from gameday.checklist import abort_criteria, run_checklist
from gameday.config import Settings
from gameday.errors import GameDayError
from gameday.escape import styler
from gameday.fingerprint import utc_time
from gameday.lifecycle import GameDay
from gameday.live import run_phase_live
from gameday.run_record import (
    ROLES,
    ChecklistItem,
    Observation,
    Outcome,
    PhaseRecord,
    Roles,
    SessionInfo,
)
from gameday.runbook import Phase

__all__ = ["Session", "parse_when"]


def parse_when(at: Any, *, base: float | None = None) -> float:
    """Epoch seconds from None (now), epoch seconds, a datetime, an ISO 8601 string or a
    local wall-clock time "HH:MM[:SS]" (today). Raises ValueError naming what is allowed."""
    if at is None:
        return time.time()
    if isinstance(at, (int, float)):
        return float(at)
    if isinstance(at, datetime):
        return at.timestamp()
    text = str(at).strip()
    try:
        if len(text) <= 8 and ":" in text:
            clock = datetime.strptime(text, "%H:%M:%S" if text.count(":") == 2 else "%H:%M")
            day = datetime.fromtimestamp(base or time.time())
            return day.replace(hour=clock.hour, minute=clock.minute, second=clock.second,
                               microsecond=0).timestamp()
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ValueError(f"at={at!r}: give a time as 'HH:MM:SS' (local), ISO 8601, a "
                         "datetime or epoch seconds") from None


class Session:
    """One GameDay session. See the module docstring; the notebook shows the calls."""

    def __init__(self, runbook: str | Path = "runbooks/standard.yaml", *,
                 target: str | None = None, base_port: int | None = None,
                 seed: int | None = None, roles: Mapping[str, Any] | None = None,
                 settings: Settings | None = None, skip: Iterable[str] = (),
                 rerun: Iterable[str] = (), notes: Iterable[Mapping[str, Any]] = (),
                 abort_during: str | None = None, abort_after_s: float = 2.0,
                 live_every_s: float = 1.0, show: bool = True) -> None:
        self.log: list[str] = []
        self.roles = Roles.model_validate({**dict(roles or {})})
        self.gameday = GameDay.prepare(
            runbook, target=target, base_port=base_port, seed=seed, settings=settings,
            started_by=f"JupyterLab session (owner: {self.roles.owner or '?'})",
            progress=self._progress)
        self.runbook, self.runbook_path = self.gameday.runbook, self.gameday.runbook_path
        self.settings, self.target = self.gameday.settings, self.gameday.target
        self.show, self.live_every_s = show, live_every_s
        self.skip_planned, self.rerun_planned = set(skip), set(rerun)
        self.notes_planned = [dict(n) for n in notes]
        self.abort_during, self.abort_after_s = abort_during, abort_after_s
        named = self.skip_planned | self.rerun_planned | ({abort_during} if abort_during else set())
        unknown = named - set(self.phase_names)
        if unknown:
            raise GameDayError(f"{sorted(unknown)}: no such phase in {self.runbook_path.name} "
                               f"(phases: {', '.join(self.phase_names)})")
        self.state = "planned"  # planned → running → aborted|failed → finished
        self.checks: list[ChecklistItem] = []
        self.done: dict[str, int] = {}  # phase -> times run
        self.skipped: dict[str, str] = {}
        self.current: str | None = None
        self.verdict: Outcome | None = None
        self._stop_reason: str | None = None

    @property
    def run(self) -> engine.GameDayRun | None:
        return self.gameday.run

    def where(self) -> str:
        """Where the GameDay runs, in one line (the notebook prints it)."""
        return (f"target: {self.target.name} · system {self.gameday.system.name!r} "
                f"({self.gameday.system.path}), base port "
                f"{self.gameday.system.resolved.base_port}")

    @property
    def phase_names(self) -> list[str]:
        return [p.name for p in self.runbook.phases]

    # ---------------------------------------------------------------- before the start
    def abort_criteria(self) -> list[str]:
        return abort_criteria(self.runbook, self.settings.fault_ttl_s,
                              self.gameday.system.resolved.system)

    def checklist(self, *, abort_criteria_agreed: bool) -> list[ChecklistItem]:
        """Run the pre-flight checklist and show it; :meth:`start` needs every item ok."""
        self.checks = run_checklist(self.settings, self.runbook,
                                    abort_criteria_agreed=abort_criteria_agreed,
                                    roles=self.roles, driver=self.gameday.make_driver())
        self._show_table([c.model_dump() for c in self.checks], "pre-flight checklist")
        return self.checks

    def start(self) -> str:
        """Take the target's lock, open the run, notify, check the steady state.
        Returns the run id. Raises GameDayError when the checklist is not all ok, and
        TargetLocked (touching nothing) when another GameDay holds the target."""
        if self.state != "planned":
            raise GameDayError(f"the session is already {self.state}")
        failing = [c.item for c in self.checks if not c.ok] if self.checks else ["(not run)"]
        if failing:
            raise GameDayError(f"pre-flight checklist not passed: {', '.join(failing)}; run "
                               "session.checklist(...) again once it is fixed")
        gd = self.gameday
        gd.acquire()
        try:
            run = gd.open()
            run.journal.update(session=SessionInfo(roles=self.roles, checklist=self.checks))
            gd.announce()
            engine.preflight(run)
        except BaseException:
            if gd.run is not None:
                gd.finish("failed", announce=False)
            gd.release()
            raise
        self.state = "running"
        atexit.register(self._cleanup_at_exit)
        self._say(f"session started: run {run.journal.run_id}, "
                  f"{len(self.runbook.phases)} phases, seed {run.seed}")
        return run.journal.run_id

    # ---------------------------------------------------------------- phases
    def run_phase(self, name: str, *, rerun: bool = False) -> PhaseRecord | None:
        """Run phase ``name`` live; returns its journal record (None when not run).

        Running a phase again (``rerun=True``, or a name already run) records it as
        ``<name>-rerun<N>``; every attempt stays in the journal and the verdict.
        """
        phase = self._phase(name)
        if self.state != "running":
            self._say(f"phase {name} not run: the session is {self.state}")
            return None
        if name in self.skip_planned and not rerun:
            self.skip(name, "skipped as planned (parameter skip)")
            return None
        record = self._run_live(self._attempt(phase, rerun or name in self.done))
        if name in self.rerun_planned and not rerun and self.state == "running":
            record = self._run_live(self._attempt(phase, True))
        for note in [n for n in self.notes_planned if n.get("phase") == name]:
            self.notes_planned.remove(note)
            self._planned_note(note)
        return record

    def skip(self, name: str, reason: str = "skipped by the owner") -> None:
        """Leave phase ``name`` out; the journal and the report say so and why."""
        self._phase(name)
        if self.run is None:
            raise GameDayError("start the session before skipping phases")
        with self.run.journal.activity(f"skip phase {name}", "action", name) as out:
            out["reason"] = reason
        self.skipped[name] = reason
        self.run.journal.observe(Observation(at=utc_time(), role="owner", phase=name,
                                             text=f"phase skipped: {reason}"))
        self._say(f"phase {name} skipped: {reason}")

    def abort(self, reason: str = "aborted by the owner") -> dict[str, Any]:
        """Abort between phases: clear every fault, restart what was stopped, skip the
        rest. (During a phase, interrupt the kernel instead.)"""
        if self.run is None or self.state not in ("running", "aborted"):
            raise GameDayError(f"nothing to abort: the session is {self.state}")
        return self._abort(reason, self.current)

    def request_abort(self, reason: str) -> None:
        """Ask the running phase to stop (thread-safe); it rolls back and is recorded."""
        self._stop_reason = self._stop_reason or reason
        if self.run is not None and self.run.load is not None:
            self.run.load.stop()

    # ---------------------------------------------------------------- observations
    def note(self, text: str, *, role: str = "reporter", phase: str | None = None,
             at: Any = None) -> None:
        """Record an observation by ``role`` (one of :data:`ROLES`; ``at``: see
        :func:`parse_when`; default now)."""
        self._observe(text, role, phase, "note", parse_when(at))

    def noticed(self, text: str = "noticed the fault", *, role: str = "observer",
                phase: str | None = None, at: Any = None, after_s: float | None = None) -> None:
        """Record when a human first noticed the phase's fault (``at`` a clock time, or
        ``after_s`` seconds after the injection); the report shows it beside the TTD."""
        when = parse_when(at)
        if after_s is not None:
            inj = self._injected_at(phase or self.current)
            if inj is None:
                raise GameDayError("after_s needs a phase that injected a fault")
            when = inj + float(after_s)
        self._observe(text, role, phase, "noticed", when)

    def notes(self) -> list[Observation]:
        obs = list(self.run.journal.record.observations) if self.run else []
        self._show_table([o.model_dump(mode="json") for o in obs], "observations so far")
        return obs

    # ---------------------------------------------------------------- the end
    def finish(self, *, report: bool = True) -> Outcome:
        """Conclude (consistency, verdict), render the report, post the verdict, release
        the lock. Returns the outcome (``report`` = path of report.html)."""
        if self.run is None:
            raise GameDayError("the session never started: nothing to finish")
        if self.verdict is not None:
            return self.verdict
        for name in self.phase_names:
            if name not in self.done and name not in self.skipped:
                self.skip(name, "not run before the session finished" if self.state ==
                          "running" else f"not run: the session {self.state}")
        status = {"running": "completed"}.get(self.state, self.state)
        try:
            verdict = self.gameday.finish(status, report=report)  # type: ignore[arg-type]
        finally:
            self.gameday.release()
        self.verdict, self.state = verdict, "finished"
        self._say(f"GameDay {'PASSED' if verdict.passed else 'FAILED'} "
                  f"(score {verdict.score:.0f}/100, status {verdict.status})"
                  + "".join(f"\n  ✘ {c}" for c in verdict.failing_checks))
        return verdict

    # ---------------------------------------------------------------- internals
    def _phase(self, name: str) -> Phase:
        for p in self.runbook.phases:
            if p.name == name and p.sweep is not None and p.dose is None:
                raise GameDayError(f"phase {name!r} searches its breaking point (sweep.between):"
                                   " a search picks its doses as it runs, which the session "
                                   "cannot; run it with `gameday run`, or give the sweep "
                                   "fixed values")
            if p.name == name:
                return p
        raise GameDayError(f"phase {name!r} is not in {self.runbook_path.name} (phases: "
                           f"{', '.join(self.phase_names)}); this notebook was written for "
                           "another runbook: `make lab RUNBOOK=...` builds one for yours")

    def _attempt(self, phase: Phase, again: bool) -> Phase:
        n = self.done.get(phase.name, 0) + 1
        self.done[phase.name] = n
        return phase.model_copy(update={"name": f"{phase.name}-rerun{n - 1}"}) if again and \
            n > 1 else phase

    def _run_live(self, phase: Phase) -> PhaseRecord | None:
        assert self.run is not None
        self.current, self._stop_reason = phase.name, None
        abort_after = None
        if self.abort_during == phase.name.split("-rerun")[0]:
            abort_after = (self.abort_after_s,
                           f"aborted during {phase.name} (parameter abort_during)")
        record, error = run_phase_live(
            self.run, phase, stop=lambda: self._stop_reason, request_abort=self.request_abort,
            every_s=self.live_every_s, show=self.show, abort_after=abort_after)
        if error is not None:
            self._fail(error, phase.name)
            return None
        assert record is not None
        self._show_phase(record)
        if record.aborted:
            self._abort(record.aborted, phase.name)
        return record

    def _abort(self, reason: str, phase: str | None) -> dict[str, Any]:
        rolled = self.gameday.abort(reason, phase)
        if self.state == "running":
            self.state = "aborted"
        self._say(f"ABORTED ({reason}); every fault cleared, stopped components restarted: "
                  f"{rolled}. Remaining phases will not run; go to 'Finish the session'.")
        return rolled

    def _fail(self, exc: BaseException, phase: str) -> None:
        message = self.gameday.fail(exc)
        self.state = "failed"
        self._say(f"phase {phase} failed: {message}. Every fault was cleared; "
                  "go to 'Finish the session'.")

    def _observe(self, text: str, role: str, phase: str | None, kind: str, when: float) -> None:
        if self.run is None:
            raise GameDayError("start the session before recording observations")
        if role not in ROLES:
            raise GameDayError(f"role {role!r}: a GameDay's roles are {', '.join(ROLES)}")
        self.run.journal.observe(Observation(
            at=utc_time(when), role=role, phase=phase or self.current, kind=kind,  # type: ignore[arg-type]
            text=str(text)))
        self.run.journal.write(self.run.run_dir, raw=False)

    def _planned_note(self, note: dict[str, Any]) -> None:
        kind = note.get("kind", "note")
        current = self.current or ""
        # a note planned for "crash" belongs to the attempt just run ("crash-rerun1")
        args = dict(text=note["text"], role=note.get("role", "reporter"),
                    phase=current if note.get("phase") == current.split("-rerun")[0]
                    else note.get("phase"))
        try:
            if kind == "noticed":
                self.noticed(**args, after_s=note.get("after_s"), at=note.get("at"))
            else:
                self.note(**args, at=note.get("at"))
        except (GameDayError, ValueError) as exc:  # a bad note must not stop the session
            self._say(f"note not recorded ({exc}): {note}")

    def _injected_at(self, phase: str | None) -> float | None:
        from gameday.frames import to_epoch

        for rec in reversed(self.run.phases if self.run else []):
            if rec.name == phase:
                return to_epoch(rec.injected_at)
        return None

    def _progress(self, line: str) -> None:
        self.log.append(line)
        if not line.startswith("  ["):  # the periodic load lines: the live view shows them
            print(line, flush=True)

    def _say(self, text: str) -> None:
        self.log.append(text)
        print(text, flush=True)

    def _show_table(self, rows: list[dict[str, Any]], title: str) -> None:
        if not self.show:
            return
        import pandas as pd
        from IPython.display import Markdown, display

        display(Markdown(f"**{title}**"))
        display(styler(pd.DataFrame(rows)) if rows else Markdown("(none)"))

    def _show_phase(self, rec: PhaseRecord) -> None:
        if not self.show:
            return
        m = rec.metrics
        rows = [{"check": c.name, "target": str(c.target), "value": c.value,
                 "result": "PASS" if c.passed else "FAIL"} for c in rec.checks]
        self._say(f"phase {rec.name}: {'PASSED' if rec.passed else 'FAILED'} · "
                  f"requests {m.requests} · automated TTD "
                  f"{'—' if m.ttd_s is None else f'{m.ttd_s:.2f} s'} · TTR "
                  f"{'—' if m.ttr_s is None else f'{m.ttr_s:.2f} s'}")
        self._show_table(rows, f"checks of phase {rec.name}")

    def _cleanup_at_exit(self) -> None:
        """The kernel is going away with the session unfinished: roll back (this process
        holds the lock: nobody else's GameDay is touched) and conclude as interrupted."""
        gd = self.gameday
        if gd.run is None or self.verdict is not None or gd.lock is None:
            return
        try:
            gd.finish("interrupted", announce=False)
        finally:
            gd.release()

