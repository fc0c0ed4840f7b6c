"""The breaking point of a swept phase as a chart: the metric against the dose.

One point per dose (its trials' estimate) with its 95 % interval as an error bar, every
trial's own value as a faint dot, the target as a dashed line and the breaking point's
dose range as a shaded band with its estimate. An interval with no upper bound (a fault
never detected) is drawn to the top of the chart with an open marker. Labels that come
from the run are escaped; the figure computes nothing (:mod:`gameday.evidence.sweeps`).
"""

from __future__ import annotations

import math

import plotly.graph_objects as go

from gameday.escape import html_text
from gameday.evidence.models import SweepResult
from gameday.evidence.readable import sweep_sentence
from gameday.units import metric_name

__all__ = ["sweep_figure", "dose_axis", "DOSE_NAMES"]

#: How a swept parameter is named on the axis; another (a system fault's) by its own
#: name, with the unit its name carries (``delay_ms`` → ``delay_ms (ms)``).
DOSE_NAMES = {"latency_ms": "injected latency (ms)", "probability": "error probability"}
_SHARES = ("detection_rate", "availability", "front_timeout_share")
_VERDICT_COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "inconclusive": "#bf8700"}


def dose_axis(param: str) -> str:
    """The dose axis' title for swept ``param`` (:data:`DOSE_NAMES`), escaped."""
    if param in DOSE_NAMES:
        return DOSE_NAMES[param]
    unit = " (ms)" if param.endswith("_ms") else " (s)" if param.endswith("_s") else ""
    return html_text(param + unit)


def _y(metric: str, value: float | None) -> float | None:
    """The value in the axis' unit (shares in %)."""
    if value is None or not math.isfinite(value):
        return None
    return value * 100 if metric in _SHARES else value


def sweep_figure(result: SweepResult) -> go.Figure:
    """The chart of one swept phase (module docstring)."""
    m = result.metric
    finite = [_y(m, v) for p in result.points for v in
              (p.interval.estimate, p.interval.low, p.interval.high, *p.values)]
    shown = [v for v in finite if v is not None] + [_y(m, float(result.target.value)) or 0.0]
    top = max(shown) * 1.15 if shown else 1.0
    fig = go.Figure()
    doses = [p.dose for p in result.points]
    est = [_y(m, p.interval.estimate) for p in result.points]
    unbounded = [p.interval.high is None for p in result.points]
    lows = [_y(m, p.interval.low) for p in result.points]
    highs = [top if u else _y(m, p.interval.high) for p, u in zip(result.points, unbounded,
                                                                   strict=True)]
    bp = result.breaking_point
    if bp.kind == "crossing" and bp.low is not None and bp.high is not None:
        fig.add_vrect(x0=bp.low, x1=bp.high, fillcolor="#bf8700", opacity=0.12, line_width=0)
        if bp.estimate is not None:
            fig.add_vline(x=bp.estimate, line={"color": "#bf8700", "width": 2})
    fig.add_hline(y=_y(m, float(result.target.value)) or 0.0,
                  line={"color": "#24292f", "dash": "dash", "width": 1.5})
    trial_x = [p.dose for p in result.points for _ in p.values]
    trial_y = [top if v is None else _y(m, v) for p in result.points for v in p.values]
    if m != "detection_rate":  # a rate's trials are 0/1: their dots say nothing new
        fig.add_trace(go.Scatter(x=trial_x, y=trial_y, mode="markers", name="each trial",
                                 marker={"color": "#8c959f", "size": 6, "opacity": 0.5}))
    fig.add_trace(go.Scatter(
        x=doses, y=[top if e is None else e for e in est], mode="lines+markers",
        name="estimate with its 95 % interval",
        line={"color": "#0969da"},
        marker={"size": 10, "color": [_VERDICT_COLOURS[p.verdict] for p in result.points],
                "symbol": ["circle-open" if e is None else "circle" for e in est]},
        error_y={"type": "data", "symmetric": False,
                 "array": [None if h is None or e is None else h - e
                           for h, e in zip(highs, est, strict=True)],
                 "arrayminus": [None if lo is None or e is None else e - lo
                                for lo, e in zip(lows, est, strict=True)]},
        text=[p.verdict for p in result.points], hovertemplate="%{x}: %{y} (%{text})"))
    unit = "%" if m in _SHARES else ("ms" if m.endswith("_ms") else "s")
    fig.update_layout(
        title=html_text(f"{result.phase}: {sweep_sentence(result)}"), height=420,
        template="plotly_white", margin={"l": 60, "r": 20, "t": 80, "b": 50},
        legend={"orientation": "h", "y": -0.2}, title_font={"size": 13})
    fig.update_xaxes(title_text=dose_axis(result.param))
    fig.update_yaxes(title_text=f"{metric_name(m)} ({unit})", range=[0, top * 1.02])
    return fig
