"""The evidence as people read it: values with units, intervals in brackets, verdicts.

Rearranges and formats what :mod:`gameday.evidence` computed; computes nothing. Render
with :func:`gameday.escape.styler` (every cell escaped).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gameday.evidence.models import FaultEvidence, Interval, SweepResult
from gameday.units import MISSING, fmt_delta, fmt_target, fmt_value, metric_name

if TYPE_CHECKING:  # pandas and scipy only where a table of trends is drawn
    import pandas as pd

    from gameday.evidence.trends import Cell

__all__ = ["fmt_interval", "fmt_change", "fmt_side", "trend_cells_table", "evidence_rows",
           "sweep_rows", "sweep_sentence", "sweep_metric_note", "fmt_dose", "NOT_OBSERVED"]

NOT_OBSERVED = "not observed"
_SHARES = {"availability"}


def _points(metric: str, value: float | None) -> float | None:
    """Shares as percentage points for :func:`fmt_delta` (which expects them so)."""
    return None if value is None else value * 100 if metric in _SHARES else value


def fmt_interval(metric: str, interval: Interval) -> str:
    """``0.41 s [0.33, 0.52]``; an end of +∞ (never observed) is ``∞``."""
    est = NOT_OBSERVED if interval.estimate is None else fmt_value(metric, interval.estimate)
    lo = "∞" if interval.low is None else fmt_value(metric, interval.low)
    hi = "∞" if interval.high is None else fmt_value(metric, interval.high)
    return f"{est} [{lo}, {hi}]"


def fmt_change(c: Any) -> str:
    """A tested cell's change with its interval, ``+0.31 s [+0.22, +0.40]`` (an infinite
    end: ``+∞``); ``—`` for an untested one. ``c``: a trends or comparison cell (``metric``,
    ``test``, ``effect``, ``low``, ``high``)."""
    if c.test is None:
        return MISSING
    effect = "+∞" if c.effect is None else fmt_delta(c.metric, _points(c.metric, c.effect))
    lo = "+∞" if c.low is None else fmt_delta(c.metric, _points(c.metric, c.low))
    hi = "+∞" if c.high is None else fmt_delta(c.metric, _points(c.metric, c.high))
    return f"{effect} [{lo}, {hi}]"


def fmt_side(c: Any, value: float | None, n: int, what: str = "runs") -> str:
    """One side of a cell: its median (or pooled share) and how many values it holds."""
    if c.test is None:
        return f"{n} {'run(s)' if what == 'runs' else what}"
    shown = NOT_OBSERVED if value is None else fmt_value(c.metric, value)
    return f"{shown} ({n} {what})"


#: A trial judgement's name → (the metric its values are in, how people call it).
_JUDGED = {"detection_rate": ("availability", "detection rate"),
           "ttd_p95_s": ("ttd_s", "TTD p95"), "ttr_p95_s": ("ttr_s", "TTR p95")}
#: A swept metric → the metric whose units its values are in.
_UNITS = {"detection_rate": "availability"}


def fmt_dose(param: str, dose: float) -> str:
    """``250 ms`` latency, ``p = 0.3`` probability; a system fault's other parameters by
    their name's unit (``*_ms``, ``*_s``, as :mod:`gameday.units` reads metrics), else
    as ``name = value`` (``connections = 8``). Plain text: escape it for markup."""
    if param == "probability":
        return f"p = {dose:.3g}"
    if param.endswith("_ms"):
        return f"{round(dose):,} ms" if dose >= 10 else f"{dose:.2g} ms"
    if param.endswith("_s"):
        return f"{dose:.3g} s"
    return f"{param} = {dose:.4g}"


def sweep_sentence(result: SweepResult) -> str:
    """``p95 latency crosses ≤ 300 ms between 250 ms and 350 ms (about 305 ms)`` and the
    other kinds of breaking point, in words."""
    unit = _UNITS.get(result.metric, result.metric)
    what = f"{metric_name(result.metric)} {fmt_target(unit, result.target)}"
    bp, doses = result.breaking_point, [p.dose for p in result.points]
    span = (f"{fmt_dose(result.param, min(doses))} to {fmt_dose(result.param, max(doses))}"
            if doses else "no dose")
    if bp.kind == "crossing" and bp.low is not None and bp.high is not None:
        turn = "breaks" if bp.direction == "up" else "is met"
        about = "" if bp.estimate is None else f" (about {fmt_dose(result.param, bp.estimate)})"
        return (f"{what} {turn} between {fmt_dose(result.param, bp.low)} and "
                f"{fmt_dose(result.param, bp.high)}{about}")
    if bp.kind == "holds throughout":
        return f"{what} holds across {span}: no breaking point in the range"
    if bp.kind == "fails throughout":
        return f"{what} fails across {span}: the breaking point is below the range"
    return f"{what}: no dose of {span} settled on either side; run more trials per dose"


def sweep_metric_note(result: SweepResult, phases: Sequence[Any] = ()) -> str:
    """What a swept metric that is not a client's or the detector's figure measures, in
    words ("" for the others); ``phases``: the run's phase records (the front's timeout
    they recorded is named)."""
    if result.metric != "front_timeout_share":
        return ""
    timeouts = sorted({p.front.timeout_s for p in phases
                       if getattr(p, "repeats", None) == result.phase
                       and getattr(p, "front", None) is not None
                       and p.front.timeout_s is not None})
    said = (f" ({' / '.join(fmt_value('x_s', t) for t in timeouts)} on this system, as its "
            "counters said)" if timeouts else "")
    return ("Front timeouts on the faulted member: of the front's requests to the faulted "
            "member during each trial (its own counts, the system file's counters, read "
            "just before the injection and after the phase), the share that got no answer "
            f"within the front's timeout{said}. Such an answer does not count: the front "
            "answers clients with the other members, so clients' latency does not show "
            "the step; this does.")


def sweep_rows(sweeps: Sequence[SweepResult]) -> list[dict[str, Any]]:
    """One row per swept phase and dose: phase, dose, trials, estimate [95 % interval],
    target, verdict."""
    rows = []
    for sw in sweeps:
        unit = _UNITS.get(sw.metric, sw.metric)
        for p in sw.points:
            rows.append({"phase": sw.phase, "dose": fmt_dose(sw.param, p.dose),
                         "trials": p.trials, "metric": metric_name(sw.metric),
                         "estimate [95 % interval]": fmt_interval(unit, p.interval),
                         "target": fmt_target(unit, sw.target), "verdict": p.verdict})
    return rows


def evidence_rows(evidence: Sequence[FaultEvidence]) -> list[dict[str, Any]]:
    """One row per fault type and judged check of a run with trials: fault, trials,
    detected, check, verdict (with the trials that would settle an inconclusive one),
    estimate [95 % interval], target."""
    rows = []
    for ev in evidence:
        for j in ev.checks:
            unit, label = _JUDGED.get(j.name, (j.name, j.name))
            verdict: str = j.verdict
            if j.verdict == "inconclusive":
                verdict += (f" (~{j.more_trials} more trials)" if j.more_trials is not None
                            else " (no number of trials settles it)")
            rows.append({"fault": ev.fault_type, "trials": ev.trials,
                         "detected": f"{ev.detected}/{ev.trials}", "check": label,
                         "verdict": verdict,
                         "estimate [95 % interval]": fmt_interval(unit, j.interval),
                         "target": fmt_target(unit, j.target)})
    return rows


def trend_cells_table(cells: list[Cell]) -> pd.DataFrame:
    """One row per cell: runbook, phase, metric, verdict, earlier runs, recent runs (their
    median, or pooled availability), the change with its 95 % interval, the adjusted
    p-value. Regressions first, then improvements, then the rest."""
    import pandas as pd

    order = {"regression": 0, "improvement": 1, "no evidence": 2, "too few runs": 3}
    rows = [{
        "runbook": c.runbook, "phase": c.phase, "metric": metric_name(c.metric),
        "verdict": c.verdict, "earlier runs": fmt_side(c, c.before, c.n_before),
        "recent runs": fmt_side(c, c.recent, c.n_recent), "change [95 % interval]": fmt_change(c),
        "adjusted p": MISSING if c.p_adjusted is None else f"{c.p_adjusted:.3g}",
        "_order": order[c.verdict],
    } for c in cells]
    if not rows:
        return pd.DataFrame(columns=["runbook", "phase", "metric", "verdict", "earlier runs",
                                     "recent runs", "change [95 % interval]", "adjusted p"])
    df = pd.DataFrame(rows).sort_values(["_order", "runbook", "phase", "metric"], kind="stable")
    return df.drop(columns="_order").reset_index(drop=True)
