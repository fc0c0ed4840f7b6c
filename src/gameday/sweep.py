"""A phase swept across doses of its fault, or searched for its breaking point.

.. code-block:: yaml

    - name: latency_sweep
      fault: {type: latency, target: backend/b}
      duration_s: 3
      sweep:
        param: latency_ms                 # any numeric parameter of the fault
        values: [100, 200, 250, 350, 400, 600]   # a fixed sweep, or
        # between: [0.05, 0.5]            # a search: bisection between two doses
        # steps: 4                        #   (midpoints tried after the two ends)
        trials: 3                         # GameDay phases per dose
        metric: latency_p95_ms            # what the breaking point is about (also
                                          # front_timeout_share: target e.g. <= 0.5)
        target: {op: "<=", value: 300}    # default: the runbook's SLO for that metric

**What can be swept.** Any parameter the phase's fault declares in the system file
(``faults.<type>.params``) whose default is a number
(:func:`gameday.runbook_system.system_problems` checks it against the file). Doses are
finite and ≥ 0; the names of :data:`SWEPT_PARAMS` keep their range (``probability``
within 0..1).

A fixed sweep is expanded at load time (:func:`expand_sweeps`): for each trial k and each
dose i, a phase ``<name>-d<i>-t<k>`` with the fault's parameter set to the dose (trials
outermost, so a burst of machine load does not hit one dose only; targets rotated per
trial like ``trials:``). Each carries ``dose``, ``dose_trial`` and ``repeats`` (the
runbook's phase). A search stays one phase in the runbook and is expanded while the
GameDay runs (:func:`plan_phases`): both ends first, then the midpoint of the two tried
doses whose estimates fall on either side of the target, ``steps`` times
(:func:`gameday.evidence.sweeps.next_dose`).

Analysis: :func:`sweep_results` (:mod:`gameday.evidence.sweeps` per dose, then the
breaking point).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gameday.threshold import Threshold

if TYPE_CHECKING:
    from gameday.evidence.sweeps import SweepResult
    from gameday.run_record import PhaseRecord
    from gameday.runbook import Fault, Phase, Runbook

__all__ = ["Sweep", "SWEPT_PARAMS", "PARAM_PATTERN", "expand_sweeps", "plan_phases",
           "sweep_results", "default_target", "dose_phase"]

#: Parameter names with a range of their own whatever the system: a probability is
#: within 0..1, a latency in milliseconds at most a minute.
SWEPT_PARAMS: dict[str, tuple[float, float]] = {
    "latency_ms": (0.0, 60_000.0),
    "probability": (0.0, 1.0),
}
#: A swept parameter's name: a parameter of a system's fault (its file's ``params``).
PARAM_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
MAX_DOSES = 20
#: Metrics whose None means "nothing to measure in that trial" (the front sent the faulted
#: member no request), left out of the dose; for TTD/TTR None is "never seen" (+∞).
UNMEASURED_DROPPED = frozenset({"front_timeout_share"})


class Sweep(BaseModel):
    """``sweep:`` of a phase (module docstring)."""

    model_config = ConfigDict(extra="forbid")

    #: The fault's parameter set to each dose (module docstring: which are allowed).
    param: str = Field(pattern=PARAM_PATTERN)
    values: Annotated[list[float] | None, Field(min_length=2, max_length=MAX_DOSES)] = None
    between: tuple[float, float] | None = None
    steps: Annotated[int, Field(ge=1, le=8)] = 4
    trials: Annotated[int, Field(ge=1, le=50)] = 3
    metric: Literal["ttd_s", "ttr_s", "detection_rate", "availability", "latency_p95_ms",
                    "latency_p99_ms", "front_timeout_share"] = "ttd_s"
    target: Threshold | None = None

    @model_validator(mode="before")
    @classmethod
    def _renamed_metric(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("metric") == "voter_timeout_share":
            raise ValueError("metric: voter_timeout_share is now front_timeout_share (the "
                             "share of the system file's counters that timed out)")
        return data

    @model_validator(mode="after")
    def _doses(self) -> Sweep:
        if (self.values is None) == (self.between is None):
            raise ValueError("give either values (a fixed sweep) or between (a search), "
                             "not both and not neither")
        doses = self.values if self.values is not None else list(self.between or ())
        if self.param in SWEPT_PARAMS:
            lo, hi = SWEPT_PARAMS[self.param]
            bad = [d for d in doses if not lo <= d <= hi]
            if bad:
                raise ValueError(f"{self.param} must be within {lo:g}..{hi:g} "
                                 f"(got {bad[0]:g})")
        bad = [d for d in doses if not (math.isfinite(d) and d >= 0)]
        if bad:
            field = "values" if self.values is not None else "between"
            raise ValueError(f"{field}: a dose of {self.param} must be a finite number ≥ 0 "
                             f"(got {bad[0]:g})")
        if self.values is not None and len(set(self.values)) != len(self.values):
            raise ValueError("values must differ from each other")
        if self.between is not None and not self.between[0] < self.between[1]:
            raise ValueError("between: the first dose must be below the second")
        return self

    def doses(self) -> list[float]:
        """A fixed sweep's doses, ascending (a search's ends)."""
        return sorted(self.values if self.values is not None else list(self.between or ()))


def default_target(metric: str, slo: Any, fault_type: str) -> Threshold:
    """The runbook's own target for ``metric`` (TTD of that fault type, TTR, availability,
    detection rate); latency targets and the front's timeout share have no absolute
    default and must be given."""
    if metric == "ttd_s" and fault_type in slo.ttd_s:
        return Threshold(op="<=", value=slo.ttd_s[fault_type])
    if metric == "ttr_s":
        return Threshold(op="<=", value=slo.ttr_s)
    if metric == "availability":
        return Threshold(op=">=", value=slo.availability)
    if metric == "detection_rate":
        return Threshold(op=">=", value=slo.detection_rate)
    if metric == "latency_p99_ms" and slo.latency_p99_ms is not None:
        return Threshold(op="<=", value=slo.latency_p99_ms)
    if metric == "ttd_s":
        raise ValueError(f"sweep.target: ttd_s has no target in the runbook's slo for fault "
                         f"{fault_type!r}; give one here (target: {{op: \"<=\", value: 1.0}}) "
                         f"or in slo.ttd_s ({{{fault_type}: 1.0}})")
    raise ValueError(f"sweep.target: {metric} has no target in the runbook's slo; give one, "
                     'e.g. target: {op: "<=", value: 300}')


def dose_phase(phase: Phase, dose: float, index: int, trial: int, fault: Fault) -> Phase:
    """``phase`` at one dose of its sweep (``fault``: where trial ``trial`` injects it), as
    the engine runs it."""
    assert phase.sweep is not None
    fault = fault.with_param(phase.sweep.param, dose)
    return phase.model_copy(update={"name": f"{phase.name}-d{index}-t{trial}", "fault": fault,
                                    "dose": dose, "dose_trial": trial, "repeats": phase.name})


def _trial_fault(runbook: Runbook, phase: Phase, trial: int,
             members: dict[str, list[str]] | None = None) -> Fault:
    """Where trial ``trial`` of a swept phase injects its fault: rotated like ``trials:``."""
    from gameday.runbook import _rotated

    assert phase.fault is not None
    if not runbook.rotate_targets:
        return phase.fault
    return _rotated(phase.fault, trial, members or {})


def expand_sweeps(runbook: Runbook, members: dict[str, list[str]] | None = None) -> Runbook:
    """The runbook with every fixed sweep expanded (module docstring); searches and
    phases without a sweep are left as they are."""
    if not any(_unexpanded(p) and p.sweep.values is not None  # type: ignore[union-attr]
               for p in runbook.phases):
        return runbook
    phases: list[Phase] = []
    for ph in runbook.phases:
        if not _unexpanded(ph) or ph.sweep.values is None:  # type: ignore[union-attr]
            phases.append(ph)
            continue
        assert ph.sweep is not None
        doses = ph.sweep.doses()
        for k in range(1, ph.sweep.trials + 1):
            phases += [dose_phase(ph, d, i, k, _trial_fault(runbook, ph, k, members))
                       for i, d in enumerate(doses, 1)]
    return runbook.model_copy(update={"phases": phases})


def _unexpanded(ph: Phase) -> bool:
    """A phase of the runbook as written with a sweep (not one of its doses)."""
    return ph.sweep is not None and ph.dose is None


def plan_phases(runbook: Runbook, recorded: Sequence[PhaseRecord],
                members: dict[str, list[str]] | None = None) -> Iterator[Phase]:
    """The phases to run, in order; a search's doses are chosen from ``recorded`` (the
    run's phase records, appended as each phase ends) while this is iterated.
    ``members`` (group → members, the runbook's system's) is what its trials rotate
    through."""
    for ph in runbook.phases:
        if not _unexpanded(ph) or ph.sweep.between is None:  # type: ignore[union-attr]
            yield ph
            continue
        yield from _search(runbook, ph, recorded, members)


def _search(runbook: Runbook, ph: Phase, recorded: Sequence[PhaseRecord],
            members: dict[str, list[str]] | None) -> Iterator[Phase]:
    from gameday.evidence.sweeps import next_dose

    assert ph.sweep is not None and ph.fault is not None
    tried: list[float] = []

    def run(dose: float) -> Iterator[Phase]:
        tried.append(dose)
        for k in range(1, ph.sweep.trials + 1):  # type: ignore[union-attr]
            yield dose_phase(ph, dose, len(tried), k, _trial_fault(runbook, ph, k, members))

    for dose in ph.sweep.doses():
        yield from run(dose)
    for _ in range(ph.sweep.steps):
        result = _results(runbook, [r for r in recorded if r.repeats == ph.name], ph)
        nxt = next_dose(result.points, result.target) if result else None
        if nxt is None or any(abs(nxt - d) < 1e-9 for d in tried):
            return
        yield from run(nxt)


def _results(runbook: Runbook, records: Sequence[PhaseRecord], ph: Phase
             ) -> SweepResult | None:
    from gameday.evidence.sweeps import SweepResult, dose_point, threshold

    assert ph.sweep is not None and ph.fault is not None
    sweep = ph.sweep
    target = sweep.target or default_target(sweep.metric, runbook.slo, ph.fault.type)
    by_dose: dict[float, list[PhaseRecord]] = {}
    for r in records:
        if r.dose is not None and not r.aborted:
            by_dose.setdefault(r.dose, []).append(r)
    if not by_dose:
        return None
    field = "ttd_s" if sweep.metric == "detection_rate" else sweep.metric
    values = {d: [getattr(r.metrics, field) for r in rs] for d, rs in by_dose.items()}
    if sweep.metric in UNMEASURED_DROPPED:  # None: nothing to count, not "never seen"
        values = {d: [v for v in vs if v is not None] for d, vs in values.items()}
        values = {d: vs for d, vs in values.items() if vs}
        if not values:
            return None
    points = [dose_point(d, sweep.metric, vs, target, seed=runbook.seed + i)
              for i, (d, vs) in enumerate(sorted(values.items()))]
    return SweepResult(phase=ph.name, fault_type=ph.fault.type, param=sweep.param,
                       metric=sweep.metric, target=target, search=sweep.between is not None,
                       points=points, breaking_point=threshold(points, target))


def sweep_results(runbook: Runbook, phases: Sequence[PhaseRecord]) -> list[SweepResult]:
    """Every swept phase of ``runbook`` (expanded or not) judged from the run's
    ``phases``, in runbook order; none when nothing was swept."""
    swept: dict[str, Phase] = {}
    for ph in runbook.phases:
        if ph.sweep is not None:
            swept.setdefault(ph.repeats or ph.name, ph)
    out = []
    for name, ph in swept.items():
        base = ph.model_copy(update={"name": name})
        result = _results(runbook, [r for r in phases if r.repeats == name], base)
        if result is not None:
            out.append(result)
    return out
