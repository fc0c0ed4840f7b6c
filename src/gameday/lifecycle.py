"""One GameDay's lifecycle, written once for the Prefect flow and the JupyterLab session.

    prepare → acquire the lock → open → announce → preflight → phases → finish → release
    (no side    (finish what a       (journal   (Slack)          (engine)  (rollback,
     effect)     dead holder left)    running)                             conclude, publish)

- :meth:`GameDay.prepare` resolves the runbook path, applies the overrides (target, base
  port, seed), validates the runbook (its fault TTLs against the settings' default too)
  and builds the target driver. It touches nothing.
- :meth:`GameDay.acquire` takes the target's :class:`~gameday.safety.TargetLock` before
  anything else happens, or adopts it when this process already holds it (``gameday run``
  takes it before it starts the Prefect flow). Taking it, it finishes what a run that
  died holding it left behind (:mod:`gameday.recovery`). A refused run raises
  :class:`~gameday.errors.TargetLocked` and has touched nothing.
- Every cleanup (the flow's ``finally``, Prefect's state hooks through
  :func:`cleanup_after_flow`, the session's ``atexit``) runs only in the process that
  holds the lock, so a refused run can never clear the fault of the run that holds it.

flows/gameday.py runs the phases as Prefect tasks, one after another; the session runs
them when the team says so; both call the same methods for everything else.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from gameday import deadman, engine
from gameday.conclusion import conclude
from gameday.config import Settings, get_settings
from gameday.drivers import SystemDriver
from gameday.errors import GameDayError, TargetLocked
from gameday.journal import JOURNAL_FILE
from gameday.paths import REPO_ROOT
from gameday.publish import announce_abort, announce_start, outcome_of, publish
from gameday.recovery import recover_interrupted, recover_run
from gameday.run_record import Outcome, RunStatus
from gameday.runbook import Runbook, load_runbook
from gameday.runbook_target import RunbookSystem
from gameday.safety import TargetLock
from gameday.targets.base import Target

#: How long the switch holding a started compose project waits for this process before it
#: takes the project down anyway: it is there for the harness's death, not a time-to-live.
STACK_HOLD_S = 24 * 3600.0

__all__ = ["GameDay", "target_key", "resolve_runbook", "cleanup_after_flow"]

Progress = Callable[[str], None]


def target_key(settings: Settings, target: Target) -> str:
    """What one GameDay at a time is locked on: ``local:<base port>`` or
    ``compose:<project>`` (the target's own project: a system file's may differ from the
    settings' one)."""
    if target.name == "compose":
        return f"compose:{getattr(target, 'project', settings.compose_project)}"
    return f"{target.name}:{settings.base_port}"


def resolve_runbook(runbook: str | Path) -> Path:
    """A runbook path as given, else relative to the repository (deployments, notebooks)."""
    path = Path(runbook)
    return path if path.is_absolute() or path.exists() else REPO_ROOT / path


class GameDay:
    """One GameDay from its runbook to its outcome; see the module docstring."""

    def __init__(self, settings: Settings, runbook: Runbook, runbook_path: Path,
                 target: Target, *, system: RunbookSystem, seed: int | None = None,
                 started_by: str = "gameday", progress: Progress = print,
                 stack_source: Path | None = None) -> None:
        self.settings, self.runbook, self.runbook_path = settings, runbook, runbook_path
        #: the checkout whose system file runs (None: this one's)
        self.stack_source = stack_source
        self.target, self.seed, self.started_by = target, seed, started_by
        self.system = system
        self.progress = progress
        self.key = target_key(settings, target)
        self.lock: TargetLock | None = None
        self.run: engine.GameDayRun | None = None
        self._owns_lock = False
        self._aborted = False

    @classmethod
    def prepare(cls, runbook: str | Path, *, target: str | None = None,
                base_port: int | None = None, seed: int | None = None,
                settings: Settings | None = None, started_by: str = "gameday",
                reports_dir: str | Path | None = None,
                stack_source: str | Path | None = None,
                progress: Progress = print) -> GameDay:
        """Resolve and validate everything; touch nothing (RunbookError on bad input).
        ``reports_dir``: where the run folder goes instead of the settings' (a
        comparison keeps its runs in its own folder). ``stack_source``: a checkout
        checkout whose version of the system file runs (a comparison's side)."""
        path = resolve_runbook(runbook)
        checkout = None if stack_source is None else Path(stack_source).expanduser().resolve()
        if settings is None:
            env = get_settings()
            rb = load_runbook(path, default_fault_ttl_s=env.fault_ttl_s)
            overrides: dict[str, Any] = {"target": target or rb.target}
            if base_port:
                overrides["base_port"] = base_port
            system = RunbookSystem.of(rb, path, overrides, checkout=checkout)
            if reports_dir:
                overrides["reports_dir"] = Path(reports_dir)
            settings = get_settings(**overrides)
        else:
            rb = load_runbook(path, default_fault_ttl_s=settings.fault_ttl_s)
            system = RunbookSystem.of(rb, path, {"base_port": settings.base_port,
                                                 "target": settings.target},
                                      checkout=checkout)
        common: dict[str, Any] = {"seed": seed, "started_by": started_by,
                                  "progress": progress}
        return cls(settings, rb, path, system.target(settings), system=system,
                   stack_source=checkout, **common)

    # ------------------------------------------------------------------ the lock
    def acquire(self, *, flow_run_id: str | None = None) -> TargetLock:
        """Hold the target's lock (adopting one this process holds already); on taking
        it, finish what a run that died holding it left. Raises TargetLocked."""
        held = TargetLock.held_here(self.settings.state_dir, self.key)
        if held is not None:
            self.lock, self._owns_lock = held, False
        else:
            self.lock = TargetLock(self.settings.state_dir, self.key).acquire()
            self._owns_lock = True
            try:
                recover_interrupted(self.target, self.key, self.settings.reports_dir,
                                    settings=self.settings, found_by=self.started_by,
                                    previous=self.lock.previous, progress=self.progress)
            except BaseException:
                self.release()
                raise
        self.lock.annotate(flow_run_id=flow_run_id)
        return self.lock

    def release(self) -> None:
        """Let the lock go (only if this object took it: the CLI releases its own)."""
        if self.lock is not None and self._owns_lock:
            self.lock.release()
        self.lock = None

    @contextlib.contextmanager
    def locked(self, *, flow_run_id: str | None = None) -> Iterator[TargetLock]:
        lock = self.acquire(flow_run_id=flow_run_id)
        try:
            yield lock
        finally:
            self.release()

    @contextlib.contextmanager
    def stack(self, start: bool) -> Iterator[None]:
        """With ``start``: start the target when none runs and stop it afterwards (a
        local stack started here dies with this process); a running one is used and left
        running. Needs the lock."""
        self._need_lock()
        started = False
        switch: deadman.Switch | None = None
        if start:
            running = self._stack_running()
            if running:
                self.progress(f"gameday: using the {self.target.name} stack that is already "
                              "running" + (" (not started by gameday: left as it is)"
                                           if running == "theirs" else ""))
            else:
                self.progress(f"gameday: starting the {self.target.name} stack…")
                started = True
                # local: owned, a kill -9 of us takes it along
                self.target = self.system.target(self.settings, owner_pid=os.getpid())
            switch = self._hold_stack() if started else None
            if running != "theirs":  # ours: start() keeps it and waits until healthy
                self.target.start()
        try:
            yield
        finally:
            if started:
                self.progress(f"gameday: stopping the {self.target.name} stack…")
                self.target.stop()
                if switch is not None:  # a failed stop leaves it armed: it fires at our exit
                    switch.disarm()

    def _hold_stack(self) -> deadman.Switch | None:
        """A dead-man's switch taking down the stack about to be started when this process
        dies (``kill -9`` included), for a target whose stack does not die with it (a
        compose project); armed before it starts, so a half-started one is covered."""
        rollback = self.target.take_down()
        if rollback is None:
            return None
        return deadman.arm(rollback, ttl_s=STACK_HOLD_S, state_dir=self.settings.state_dir,
                           kind="stack")

    def _stack_running(self) -> Literal["ours", "theirs"] | None:
        """``ours``: the target's launcher runs it; ``theirs``: it answers although the
        launcher does not run it (e.g. the stack of `gameday stack up` under a system
        runbook); None: not running."""
        try:
            if any(s.running for s in self.target.status().services):
                return "ours"
            return "theirs" if self.target.serves_without_us() else None
        except Exception:  # noqa: BLE001 - unknown counts as not running: start() decides
            return None

    def _need_lock(self) -> None:
        if self.lock is None or not self.lock.held:
            raise GameDayError("take the target's lock (GameDay.acquire) first")

    # ------------------------------------------------------------------ the run
    def open(self, *, flow_run_id: str | None = None) -> engine.GameDayRun:
        """Create the run folder and its journal (status running); needs the lock."""
        self._need_lock()
        assert self.lock is not None
        driver = self.make_driver()
        self.run = engine.open_run(self.settings, self.runbook, self.runbook_path, self.target,
                                   target_key=self.key, seed=self.seed,
                                   flow_run_id=flow_run_id, progress=self.progress,
                                   driver=driver)
        self.run.journal.update(system=self.system.info())
        self.run.journal.write(self.run.run_dir, raw=False)
        self.lock.annotate(run_id=self.run.journal.run_id, run_dir=str(self.run.run_dir))
        self.progress(f"gameday: run {self.run.journal.run_id} — {self.runbook.name} on "
                      f"system {self.system.name!r} on {self.target.name}, "
                      f"{len(self.runbook.phases)} phases, seed "
                      f"{self.run.seed}")
        return self.run

    def make_driver(self) -> SystemDriver:
        """How the engine reaches the system on the current target: the runbook's system
        file."""
        return self.system.driver(self.target, self.settings)

    def announce(self) -> None:
        announce_start(self._run(), self.started_by)

    def abort(self, reason: str, phase: str | None) -> dict[str, Any]:
        """Roll everything back; the first time, record the abort and alert."""
        run = self._run()
        rolled = engine.rollback_everything(run)
        if not self._aborted:
            self._aborted = True
            run.journal.abort(reason, phase)
            announce_abort(run, rolled)
        run.journal.write(run.run_dir, raw=False)
        return rolled

    def fail(self, exc: BaseException) -> str:
        """Record what stopped the run and roll everything back; returns the message."""
        run = self._run()
        message = str(exc) if isinstance(exc, GameDayError) else f"{type(exc).__name__}: {exc}"
        run.journal.update(error=message)
        engine.rollback_everything(run)
        run.journal.write(run.run_dir, raw=False)
        return message

    def finish(self, status: RunStatus, *, report: bool = True, trends: bool = False,
               announce: bool = True) -> Outcome:
        """Roll everything back (always), conclude (consistency, cross-check, verdict) and,
        with ``announce``, publish (report, Slack verdict)."""
        run = self._run()
        engine.rollback_everything(run)
        try:
            conclusion = conclude(run, status)
        finally:
            run.driver.close()
        if not announce:
            return outcome_of(run, conclusion)
        return publish(run, conclusion, report=report, trends=trends)

    def _run(self) -> engine.GameDayRun:
        if self.run is None:
            raise GameDayError("the GameDay is not open yet")
        return self.run


def cleanup_after_flow(parameters: dict[str, Any], flow_run_id: str, why: str) -> str:
    """Prefect state hook work (failure, crash, cancellation), in whatever process runs it.

    Acts only where the lock is, and only on runs that never concluded:
    - this process holds the lock for this flow run (the CLI's): when the run's journal
      never concluded, roll back and mark it interrupted;
    - nobody holds it (this flow's process died, or a refused run's holder has finished
      meanwhile): take it and finish every run of the target that died (the process that
      ran a deployment's flow, killed, is one) — a run that concluded is left alone;
    - anyone else holds it (this run was the one refused): touch nothing.
    Returns what it did, in one sentence ("" when there was nothing to do); never raises.
    """
    try:
        gd = GameDay.prepare(parameters.get("runbook") or "runbooks/standard.yaml",
                             target=parameters.get("target"),
                             base_port=parameters.get("base_port"),
                             reports_dir=parameters.get("reports_dir"),
                             started_by=f"Prefect state hook ({why})")
        held = TargetLock.held_here(gd.settings.state_dir, gd.key)
        if held is not None:
            if held.info.get("flow_run_id") != flow_run_id:
                return f"{gd.key} is held for another run here: nothing touched"
            return _clean_in_place(gd, held)
        try:
            lock = TargetLock(gd.settings.state_dir, gd.key).acquire()
        except TargetLocked:
            return f"another GameDay holds {gd.key}: nothing touched"
        try:
            found = recover_interrupted(gd.target, gd.key, gd.settings.reports_dir,
                                        settings=gd.settings, found_by=gd.started_by,
                                        previous=lock.previous)
            return f"finished run(s) {', '.join(found)} that died on {gd.key}" if found else ""
        finally:
            lock.release()
    except Exception as exc:  # noqa: BLE001 - a hook must not raise
        return f"could not clean up: {type(exc).__name__}: {exc}"


def _clean_in_place(gd: GameDay, lock: TargetLock) -> str:
    """The lock holder's own hook: when the run never concluded (its ``finally`` could not
    run), roll back and mark it interrupted."""
    from gameday.journal import read_journal

    run_dir = lock.info.get("run_dir")
    if not run_dir or not (Path(run_dir) / JOURNAL_FILE).is_file():
        return "the run never opened: nothing to clean"
    journal = read_journal(Path(run_dir) / JOURNAL_FILE)
    if journal.status != "running":
        return ""  # the run concluded: its own finally rolled back
    journal = recover_run(Path(run_dir), gd.target, settings=gd.settings,
                          found_by=gd.started_by,
                          reason="the flow ended without concluding the run")
    return f"run {journal.run_id} marked interrupted; faults cleared on {gd.key}"
