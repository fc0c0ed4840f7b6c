"""Run one seeded GameDay against two builds, interleaved, and judge B against A.

:meth:`Comparison.prepare` validates everything and touches nothing (the runbook, the
trials, the two base ports, the false-discovery rate). :meth:`Comparison.run` then:

1. resolves ``--a`` and ``--b`` (:mod:`gameday.compare.sources`: a directory holding a
   checkout, or a git ref checked out into a temporary worktree);
2. takes the target lock of both base ports and starts a fresh local stack on each from
   its side's checkout (tied to this process: a ``kill -9`` takes them along); a stack
   already running on either port is refused, not reused (its state is not fresh). For
   a runbook with a ``system``, each side's stack is that checkout's version of the
   system file, at the same place in its work tree, run by the system's local launcher
   (:class:`~gameday.runbook_target.RunbookSystem` with ``checkout``); refs are then
   looked up in the repository holding the system file;
3. runs the runbook ``trials`` times against each stack in the order A B B A A B …
   (:func:`interleaved`): whatever the machine does at one moment hits both builds alike.
   Pair k of runs uses seed ``seed + k`` on both sides. Each run is a whole GameDay
   (``run_gameday``: the Prefect flow, so each is a sub-flow run, given its side's
   checkout as ``stack_source``) whose folder goes under
   ``reports/compare-<id>/runs/``, away from the trends of ordinary runs;
4. stops both stacks, removes the temporary worktrees, and judges every (phase, metric)
   (:func:`gameday.evidence.comparison.compare_cells`) into ``compare.json`` and
   ``index.html`` (:mod:`gameday.compare.page`).

With ``spread`` (``gameday compare --spread-over DEPLOYMENT``) steps 2 and 3 are the work
pool's: this process takes no lock and starts no stack; every GameDay of the plan, in the
same interleaved order and seeds, is handed to ``spread`` (``flows/compare.py``: each a
sub-flow run of the ``gameday`` deployment, given its side's checkout as
``stack_source``, so that its worker starts that build's stack on its own base port and
stops it after). With W workers, W GameDays run at once.

Progress goes to ``progress`` (the CLI: stderr), one line per step.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gameday.compare.models import COMPARE_FILE, CompareResult, CompareRun, CompareSide
from gameday.compare.sources import StackSource, check_source, open_source
from gameday.config import Settings, get_settings
from gameday.errors import GameDayError
from gameday.evidence.cells import DEFAULT_FDR
from gameday.fingerprint import new_run_id, utc_iso
from gameday.journal import JOURNAL_FILE, JournalUnreadable, read_journal
from gameday.lifecycle import resolve_runbook
from gameday.paths import REPO_ROOT
from gameday.run_record import Outcome
from gameday.runbook import Runbook, load_runbook
from gameday.runbook_system import place_in_checkout, system_path
from gameday.runbook_target import RunbookSystem

__all__ = ["Comparison", "RunGameDay", "RunSpread", "PlannedRun", "Ran", "interleaved",
           "DEFAULT_BASE_PORTS", "PORTS_PER_STACK"]

SideName = Literal["a", "b"]
#: Default base ports of A's and B's stacks (each uses base … base + 7).
DEFAULT_BASE_PORTS = (5101, 5111)
PORTS_PER_STACK = 8
#: A GameDay run against one stack: (base port, seed, folder for its run folder, the
#: side's checkout) → its outcome, or a sentence saying why it produced none.
RunGameDay = Callable[[int, int, Path, Path], "Outcome | str"]
Progress = Callable[[str], None]


@dataclass(frozen=True)
class PlannedRun:
    """One GameDay of a spread comparison: its place in the order, side, seed, the side's
    checkout (``stack_source``) and the folder its run folder goes in."""

    order: int
    side: SideName
    seed: int
    stack_source: str
    reports_dir: Path


@dataclass(frozen=True)
class Ran:
    """What became of one planned GameDay: its outcome (or why none), how long it took,
    the stack that ran it and its flow run."""

    outcome: Outcome | str
    duration_s: float | None = None
    target_key: str | None = None
    flow_run_id: str | None = None


#: Runs every planned GameDay (on a work pool) and returns what became of each, in order.
RunSpread = Callable[[list[PlannedRun]], list[Ran]]


def interleaved(trials: int) -> list[tuple[SideName, int]]:
    """``(side, pair index)`` of every run: A B, B A, A B, … (``trials`` pairs)."""
    order: list[tuple[SideName, int]] = []
    for k in range(trials):
        pair: tuple[SideName, SideName] = ("a", "b") if k % 2 == 0 else ("b", "a")
        order += [(pair[0], k), (pair[1], k)]
    return order


@dataclass
class Comparison:
    """One comparison, prepared (validated) and then run; see the module docstring."""

    settings: Settings
    runbook: Runbook
    runbook_path: Path
    a_spec: str
    b_spec: str
    trials: int
    seed: int
    base_ports: tuple[int, int]
    fdr: float
    progress: Progress
    #: The git repository refs are looked up in.
    repo: Path = REPO_ROOT
    #: What each side's checkout must hold: the system file, where it is here.
    needs: tuple[str, ...] = ()

    @classmethod
    def prepare(cls, runbook: str | Path, a: str, b: str, *, trials: int = 3,
                seed: int | None = None, base_ports: tuple[int, int] = DEFAULT_BASE_PORTS,
                fdr: float = DEFAULT_FDR, settings: Settings | None = None,
                repo: Path | None = None, progress: Progress = print) -> Comparison:
        """Validate; touch nothing. Raises RunbookError / GameDayError with what is
        allowed. ``repo``: where refs are looked up (default: this repository, or for a
        runbook with a system the one holding its file)."""
        settings = settings or get_settings()
        path = resolve_runbook(runbook)
        rb = load_runbook(path, default_fault_ttl_s=settings.fault_ttl_s)
        if not 1 <= trials <= 100:
            raise GameDayError(f"--trials must be between 1 and 100 runs a side (got {trials})")
        if not 0 < fdr < 1:
            raise GameDayError(f"--fdr must be between 0 and 1 (got {fdr})")
        pa, pb = base_ports
        for port in base_ports:
            if not 1024 <= port <= 65000 - PORTS_PER_STACK:
                raise GameDayError(f"--base-ports: {port} is outside 1024–"
                                   f"{65000 - PORTS_PER_STACK}")
        root, rel = place_in_checkout(system_path(rb.system, path.parent))
        needs, repo = (rel.as_posix(),), repo or root
        _disjoint_ports(rb, path, (pa, pb))
        repo = repo or REPO_ROOT
        for name, given in (("--a", a), ("--b", b)):
            check_source(given, name, repo=repo, needs=needs)
        return cls(settings, rb, path, a, b, trials, rb.seed if seed is None else seed,
                   (pa, pb), fdr, progress, repo, needs)

    # ----------------------------------------------------------------------- the run
    def run(self, run_gameday: RunGameDay | None = None, *, spread: RunSpread | None = None,
            spread_over: str | None = None) -> CompareResult:
        """Run every GameDay and judge them; writes ``reports/compare-<id>/``. With
        ``spread`` (named ``spread_over``) the GameDays run where it puts them, on their
        workers' stacks (module docstring); else here, through ``run_gameday``."""
        if (run_gameday is None) == (spread is None):
            raise ValueError("give run_gameday or spread")
        compare_id = "compare-" + new_run_id(self.runbook.name)
        out = Path(self.settings.reports_dir).resolve() / compare_id
        self.progress(f"compare: {compare_id}: {self.runbook.name}, {self.trials} run(s) a "
                      f"side interleaved A/B/B/A, seed {self.seed}; writing {out}")
        sides: dict[SideName, StackSource] = {}
        with contextlib.ExitStack() as stack:
            named: tuple[tuple[SideName, str], ...] = (("a", self.a_spec), ("b", self.b_spec))
            for name, given in named:
                self.progress(f"compare: resolving --{name} {given}…")
                state = Path(self.settings.state_dir)
                src = open_source(given, f"--{name}", repo=self.repo,
                                  workdir=state if state.is_dir() else None, needs=self.needs)
                stack.callback(src.close)
                sides[name] = src
                self.progress(f"compare: {name.upper()} = {src.label}")
            result = CompareResult(
                compare_id=compare_id, runbook=self.runbook.name,
                runbook_path=str(self.runbook_path), trials=self.trials, seed=self.seed,
                fdr=self.fdr, start=utc_iso(time.time()),
                a=self._side("a", sides["a"], spread), b=self._side("b", sides["b"], spread),
                order=[s for s, _ in interleaved(self.trials)], spread_over=spread_over,
                load_average=[round(os.getloadavg()[0], 2)])
            out.mkdir(parents=True, exist_ok=True)
            self._write(out, result)
            if spread is not None:
                self._spread_runs(result, out, sides, spread)
            else:
                assert run_gameday is not None
                stack.enter_context(self._locks())
                stack.enter_context(self._stacks(sides))
                self._runs(result, out, run_gameday, sides)
        return self._conclude(out, result)

    def _side(self, name: SideName, src: StackSource, spread: RunSpread | None
              ) -> CompareSide:
        return CompareSide(name=name, spec=src.spec, label=src.label, path=str(src.path),
                           ref=src.ref, sha=src.sha,
                           base_port=None if spread else self.base_ports[0 if name == "a"
                                                                          else 1])

    def _spread_runs(self, result: CompareResult, out: Path,
                     sides: dict[SideName, StackSource], spread: RunSpread) -> None:
        runs_dir = out / "runs"
        plan = [PlannedRun(order=i, side=side, seed=self.seed + pair,
                           stack_source=str(sides[side].path),
                           reports_dir=runs_dir / f"{i:02d}-{side}")
                for i, (side, pair) in enumerate(interleaved(self.trials), 1)]
        self.progress(f"compare: {len(plan)} GameDays handed to {result.spread_over}'s "
                      "workers, each on its worker's stack started from its side's checkout")
        for planned, ran in zip(plan, spread(plan), strict=True):
            run = _run_record(planned.order, planned.side, planned.seed, ran.outcome,
                              ran.duration_s).model_copy(
                update={"target_key": ran.target_key, "flow_run_id": ran.flow_run_id})
            result.runs.append(run)
            self.progress(f"compare: run {run.order}/{len(plan)} ({run.side.upper()}) "
                          f"{run.status}" + (f" on {run.target_key}" if run.target_key else "")
                          + (f": {run.error}" if run.error else ""))
        self._write(out, result)

    @contextlib.contextmanager
    def _locks(self) -> Iterator[None]:
        from gameday.safety import TargetLock

        locks = []
        try:
            for port in self.base_ports:
                locks.append(TargetLock(self.settings.state_dir, f"local:{port}").acquire())
            yield
        finally:
            for lock in locks:
                lock.release()

    @contextlib.contextmanager
    def _stacks(self, sides: dict[SideName, StackSource]) -> Iterator[None]:
        from gameday.systems.local import SystemLocalTarget

        targets: list[SystemLocalTarget] = []
        try:
            for name, src in sides.items():
                port = self.base_ports[0 if name == "a" else 1]
                settings = self.settings.model_copy(update={"base_port": port})
                system = RunbookSystem.of(self.runbook, self.runbook_path,
                                          {"base_port": port, "target": "local"},
                                          checkout=src.path)
                # resolved for the local target: a SystemLocalTarget
                made = system.target(settings, owner_pid=os.getpid(),
                                     progress=self._stack_progress(name))
                assert isinstance(made, SystemLocalTarget)
                target: SystemLocalTarget = made
                if any(s.running for s in target.status().services):
                    raise GameDayError(
                        f"system {system.name!r} already runs at base port {port}; a "
                        f"comparison starts fresh stacks: stop it (`gameday system down "
                        f"{system.path} --base-port {port}`) or choose other --base-ports")
                self.progress(f"compare: starting {name.upper()}'s stack from {src.path} "
                              f"on base port {port}…")
                targets.append(target)
                target.start()
            yield
        finally:
            for target in targets:
                self.progress(f"compare: stopping the stack on base port "
                              f"{target.settings.base_port}…")
                target.stop()

    def _stack_progress(self, name: str) -> Progress:
        return lambda line: self.progress(f"compare: stack {name.upper()}: {line}")

    def _runs(self, result: CompareResult, out: Path, run_gameday: RunGameDay,
              sides: dict[SideName, StackSource]) -> None:
        runs_dir = out / "runs"
        runs_dir.mkdir(exist_ok=True)
        plan = interleaved(self.trials)
        started = time.monotonic()
        for i, (side, pair) in enumerate(plan, 1):
            port = self.base_ports[0 if side == "a" else 1]
            seed = self.seed + pair
            left = ""
            if i > 1:
                per = (time.monotonic() - started) / (i - 1)
                left = f", about {per * (len(plan) - i + 1) / 60:.0f} min left"
            self.progress(f"compare: run {i}/{len(plan)}: {side.upper()} on base port "
                          f"{port}, seed {seed}{left}…")
            t0 = time.monotonic()
            outcome = run_gameday(port, seed, runs_dir, sides[side].path)
            took = time.monotonic() - t0
            run = _run_record(i, side, seed, outcome, took)
            result.runs.append(run)
            self._write(out, result)
            self.progress(f"compare: run {i}/{len(plan)} ({side.upper()}) {run.status}"
                          + (f", score {run.score:.0f}" if run.score is not None else "")
                          + (f": {run.error}" if run.error else "") + f" in {took:.0f} s")

    def _conclude(self, out: Path, result: CompareResult) -> CompareResult:
        from gameday.compare.page import write_page
        from gameday.evidence.comparison import Row, compare_cells, journal_rows

        rows: list[Row] = []
        for run in result.runs:
            if run.run_dir is None:
                continue
            try:
                journal = read_journal(Path(run.run_dir) / JOURNAL_FILE)
            except JournalUnreadable as exc:
                run.error = run.error or f"journal unreadable: {exc}"
                continue
            rows += journal_rows(journal, run.side)
        if not any(r.side == "a" for r in rows) or not any(r.side == "b" for r in rows):
            result.end = utc_iso(time.time())
            self._write(out, result)
            failed = "; ".join(f"run {r.order} ({r.side.upper()}): {r.error or r.status}"
                               for r in result.runs)
            raise GameDayError(f"no run of one side produced a journal, nothing to compare "
                               f"({failed}); see {out}")
        result.cells = compare_cells(rows, fdr=self.fdr, seed=self.seed)
        result.end = utc_iso(time.time())
        result.load_average.append(round(os.getloadavg()[0], 2))
        self._write(out, result)
        write_page(out, result)
        self.progress(f"compare: {len(result.regressions)} regression(s), "
                      f"{len(result.improvements)} improvement(s) over {len(result.cells)} "
                      f"metric(s); report {out / 'index.html'}")
        return result

    @staticmethod
    def _write(out: Path, result: CompareResult) -> None:
        tmp = out / f".{COMPARE_FILE}.tmp"
        tmp.write_text(result.model_dump_json(indent=2), encoding="utf-8")
        os.replace(tmp, out / COMPARE_FILE)


def _disjoint_ports(runbook: Runbook, path: Path, base_ports: tuple[int, int]) -> None:
    """GameDayError unless the runbook's system resolved at each base port uses ports the
    other does not (each side's stack runs beside the other)."""
    used = []
    for port in base_ports:
        system = RunbookSystem.of(runbook, path, {"base_port": port, "target": "local"})
        used.append({m.port for m in system.resolved.all_members() if m.port is not None})
    shared = sorted(used[0] & used[1])
    if shared:
        raise GameDayError(
            f"--base-ports {base_ports[0]},{base_ports[1]}: both sides' stacks of system "
            f"{runbook.system} would use port {shared[0]}; give base ports further apart")


def _run_record(order: int, side: SideName, seed: int, outcome: Outcome | str,
                took: float | None) -> CompareRun:
    took = None if took is None else round(took, 1)
    if isinstance(outcome, str):
        return CompareRun(order=order, side=side, seed=seed, status="error", error=outcome,
                          duration_s=took)
    return CompareRun(order=order, side=side, seed=seed, run_id=outcome.run_id,
                      run_dir=outcome.run_dir, status=outcome.status, passed=outcome.passed,
                      score=outcome.score, duration_s=took,
                      error=None if outcome.status != "failed" else
                      "; ".join(outcome.failing_checks[:3]) or None)
