"""Plotly figure builders for the report and trends notebooks.

Every builder takes data the package already computed (the typed journal of
``gameday.journal.load_run`` and its frames, the series of ``gameday.metrics``) and
returns a ``plotly.graph_objects.Figure``; none computes a metric. Time axes are seconds
since the run's start, so every chart of a report shares one axis. Every label that comes
from a run (phase, component, run id, runbook name) is HTML-escaped: plotly renders a
subset of HTML in labels.

``use_offline_renderer()`` must run once in a notebook before any figure is shown: it
inlines plotly.js once and renders every figure as plain HTML without MathJax or CDN
scripts, so nbconvert's HTML works with no network.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.io._base_renderers import MimetypeRenderer
from plotly.subplots import make_subplots

from gameday.escape import html_text
from gameday.plot_marks import (
    EVENT_STYLE,
    OBSERVATION_STYLE,
    add_observations,
    add_phases,
    numbered_observations,
    to_elapsed,
)
from gameday.run_record import Observation, PhaseRecord
from gameday.units import fmt_value

__all__ = [
    "use_offline_renderer",
    "to_elapsed",
    "add_phases",
    "add_observations",
    "numbered_observations",
    "latency_figure",
    "availability_figure",
    "component_timeline_figure",
    "detection_figure",
    "delta_figure",
    "trend_figure",
    "EVENT_STYLE",
    "OBSERVATION_STYLE",
]

RENDERER = "gameday_offline"

class _OfflineHtmlRenderer(MimetypeRenderer):
    """Like plotly's ``notebook`` renderer (plotly.js inlined once), minus its MathJax CDN
    script: the figure HTML carries no network URL at all."""

    def activate(self) -> None:
        from IPython.display import HTML, display
        from plotly.offline import get_plotlyjs

        display(HTML(f"<script type='text/javascript'>{get_plotlyjs()}</script>"))

    def to_mimebundle(self, fig_dict: dict[str, Any]) -> dict[str, str]:
        html = pio.to_html(
            fig_dict,
            include_plotlyjs=False,
            include_mathjax=False,
            full_html=False,
            config={"displaylogo": False, "responsive": True},
        )
        return {"text/html": html}


def use_offline_renderer() -> None:
    """Register and select the offline renderer (inlines plotly.js into the notebook)."""
    pio.renderers[RENDERER] = _OfflineHtmlRenderer()
    pio.renderers.default = RENDERER


def _layout(fig: go.Figure, title: str, y_title: str, height: int = 380) -> go.Figure:
    fig.update_layout(
        title=title,
        height=height,
        template="plotly_white",
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
        legend={"orientation": "h", "y": -0.2},
    )
    fig.update_xaxes(title_text="seconds since the run started", hoverformat=".2f")
    fig.update_yaxes(title_text=y_title, hoverformat=".1f")
    return fig


def latency_figure(
    bands: pd.DataFrame, phases: Sequence[PhaseRecord], t0: float, origin_s: float,
    observations: Sequence[Observation] = (),
) -> go.Figure:
    """Latency percentile bands over time, from ``gameday.metrics.latency_over_time``.

    ``bands``: columns ``t_s`` (bin start, s since ``origin_s``, the first request's
    epoch time) and ``p50_ms``, ``p95_ms``, ``p99_ms``. ``t0``: run start (epoch s).
    """
    fig = go.Figure()
    x = bands["t_s"] + (origin_s - t0)
    for col, colour, fill in (
        ("p50_ms", "#1a7f37", None),
        ("p95_ms", "#bf8700", "tonexty"),
        ("p99_ms", "#cf222e", "tonexty"),
    ):
        if col in bands:
            fig.add_trace(
                go.Scatter(
                    x=x, y=bands[col], name=col.replace("_ms", ""), mode="lines",
                    line={"color": colour, "width": 1.5, "shape": "hv"}, fill=fill,
                )
            )
    add_phases(fig, phases, t0)
    add_observations(fig, observations, t0)
    return _layout(fig, "Client latency over time (percentiles per time bin)", "latency (ms)")


def availability_figure(
    series: pd.DataFrame,
    phases: Sequence[PhaseRecord],
    t0: float,
    origin_s: float,
    target: float | None = None,
    observations: Sequence[Observation] = (),
) -> go.Figure:
    """Rolling availability over time, from ``gameday.metrics.rolling_availability``.

    ``series``: columns ``t_s`` (s since ``origin_s``) and ``availability`` (0..1).
    """
    fig = go.Figure(
        go.Scatter(
            x=series["t_s"] + (origin_s - t0), y=series["availability"] * 100,
            name="availability", mode="lines", line={"color": "#0969da"},
        )
    )
    if target is not None:
        fig.add_hline(
            y=target * 100, line_dash="dash", line_color="#57606a",
            annotation_text=f"target {fmt_value('availability', target)}",
            annotation_position="bottom right",
        )
    add_phases(fig, phases, t0)
    add_observations(fig, observations, t0)
    return _layout(fig, "Availability over time (trailing window)", "availability (%)")


def component_timeline_figure(
    transitions: pd.DataFrame,
    phases: Sequence[PhaseRecord],
    t0: float,
    t_end: float,
    components: list[str] | None = None,
    observations: Sequence[Observation] = (),
) -> go.Figure:
    """Each component's ON/OFF state as the system's detector saw it, on the report's time axis.

    ``transitions``: columns ``instance_id``, ``status`` (ON|OFF), ``at_s`` (epoch s).
    ``components`` (default: every component with a transition or a fault in the run) is
    drawn ON from the start until its first transition says otherwise.
    """
    tr = transitions.copy()
    tr["instance_id"] = tr["instance_id"].astype(str)
    faulted = {ph.fault.component for ph in phases if ph.fault is not None}
    components = components or sorted(set(tr["instance_id"]) | faulted,
                                      key=lambda r: (len(r), r))
    fig = go.Figure()
    seen: set[str] = set()
    for rep in components:
        rows = tr[tr["instance_id"] == rep].sort_values("at_s")
        state, since = "ON", t0
        spans = []
        for at, status in zip(rows["at_s"], rows["status"], strict=True):
            if status != state:
                spans.append((state, since, float(at)))
                state, since = status, float(at)
        spans.append((state, since, t_end))
        for state, a, b in spans:
            if b <= a:
                continue
            label = html_text(rep)
            fig.add_trace(
                go.Bar(
                    y=[label], x=[b - a], base=[a - t0], orientation="h",
                    marker_color="#2da44e" if state == "ON" else "#cf222e",
                    name=state, legendgroup=state, showlegend=state not in seen,
                    hovertemplate=f"{label.replace('%', '%%')}: {state} "
                    "%{base:.2f}–%{x:.2f} s<extra></extra>",
                )
            )
            seen.add(state)
    fig.update_layout(barmode="overlay", bargap=0.35)
    add_phases(fig, phases, t0)
    add_observations(fig, observations, t0)
    fig = _layout(fig, "Component state seen by the system's detector (ON/OFF)", "",
                  height=300)
    fig.update_yaxes(categoryorder="category descending")
    return fig


def detection_figure(table: pd.DataFrame) -> go.Figure:
    """TTD and TTR per fault phase against their targets.

    ``table``: one row per fault phase with ``phase``, ``ttd_s``, ``ttd_target_s``,
    ``ttr_s``, ``ttr_target_s`` (missing values = not detected / not recovered).
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("time to detect", "time to recover"))
    phases = table["phase"].map(html_text)
    for col, (metric, colour) in enumerate((("ttd", "#bf8700"), ("ttr", "#1a7f37")), start=1):
        fig.add_trace(
            go.Bar(
                x=phases, y=table[f"{metric}_s"], name=f"{metric.upper()} measured",
                marker_color=colour,
                text=[
                    "not observed" if pd.isna(v) else f"{v:.2f} s" for v in table[f"{metric}_s"]
                ],
                textposition="outside",
            ),
            row=1, col=col,
        )
        fig.add_trace(
            go.Scatter(
                x=phases, y=table[f"{metric}_target_s"], name=f"{metric.upper()} target",
                mode="markers", marker={"symbol": "line-ew-open", "size": 40, "color": "#24292f",
                                        "line": {"width": 3}},
            ),
            row=1, col=col,
        )
    fig.update_yaxes(title_text="seconds")
    fig.update_layout(
        title="Detection and recovery per fault (bars) vs target (black line)",
        height=380, template="plotly_white", legend={"orientation": "h", "y": -0.2},
    )
    return fig


def delta_figure(deltas: pd.DataFrame) -> go.Figure:
    """Each fault phase against the baseline.

    ``deltas``: one row per phase with ``phase``, ``latency_p95_delta_ms``,
    ``latency_p99_delta_ms`` and ``availability_delta_pp`` (percentage points).
    """
    fig = make_subplots(
        rows=1, cols=2,
        subplot_titles=("latency vs baseline (ms)", "availability vs baseline (points)"),
    )
    phases = deltas["phase"].map(html_text)
    for col, colour in (("latency_p95_delta_ms", "#bf8700"), ("latency_p99_delta_ms", "#cf222e")):
        fig.add_trace(
            go.Bar(x=phases, y=deltas[col], name=col.split("_")[1] + " Δ",
                   marker_color=colour),
            row=1, col=1,
        )
    fig.add_trace(
        go.Bar(x=phases, y=deltas["availability_delta_pp"], name="availability Δ",
               marker_color="#0969da"),
        row=1, col=2,
    )
    fig.update_layout(
        title="What each fault cost compared with the baseline", height=360,
        template="plotly_white", barmode="group", legend={"orientation": "h", "y": -0.2},
    )
    return fig


def trend_figure(trends: pd.DataFrame, metric: str, title: str, y_title: str) -> go.Figure:
    """One line per phase of ``metric`` across runs; the recent runs of a cell with a
    regression drawn as red crosses, of an improvement as green circles.

    ``trends``: columns ``start`` (datetime), ``run_id``, ``runbook``, ``phase``,
    ``metric``, ``value``, ``verdict``, as from ``gameday.report.trend_table`` passed
    through ``gameday.evidence.trends.flag_values``.
    """
    df = trends[trends["metric"] == metric].sort_values("start")
    if "runbook" in df and df["runbook"].nunique() > 1:  # one series per runbook's phase
        df = df.assign(phase=df["runbook"] + "/" + df["phase"])
    fig = go.Figure()
    for phase, rows in df.groupby("phase", sort=True):
        fig.add_trace(
            go.Scatter(
                x=rows["start"], y=rows["value"], name=html_text(phase), mode="lines+markers",
                text=rows["run_id"].map(html_text),
                hovertemplate="%{text}: %{y}<extra></extra>",
            )
        )
    for verdict, marker in (("regression", {"symbol": "x", "size": 14, "color": "#cf222e"}),
                            ("improvement", {"symbol": "circle-open", "size": 14,
                                             "color": "#1a7f37"})):
        marked = df[df["verdict"] == verdict]
        if not marked.empty:
            fig.add_trace(go.Scatter(x=marked["start"], y=marked["value"], name=verdict,
                                     mode="markers", marker=marker,
                                     text=marked["run_id"].map(html_text)))
    fig.update_layout(title=title, height=340, template="plotly_white",
                      legend={"orientation": "h", "y": -0.25})
    fig.update_xaxes(title_text="run start (UTC)")
    fig.update_yaxes(title_text=y_title)
    return fig
