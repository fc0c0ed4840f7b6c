"""What the report's timelines mark on their shared time axis (seconds since the run
started): each phase as a shaded, labelled band; its injection, detection, rollback and
recovery as vertical lines; each observation people wrote down as a dotted line labelled
``✎n`` (n: its row in the report's observations table, oldest first).

Used by every timeline of :mod:`gameday.plots`. Labels that come from a run are
HTML-escaped (plotly renders a subset of HTML in labels and hover texts).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from gameday.escape import html_text
from gameday.run_record import Observation, PhaseRecord

__all__ = ["EVENT_STYLE", "OBSERVATION_STYLE", "to_elapsed", "add_phases",
           "numbered_observations", "add_observations"]

#: How each phase event is drawn: journal field -> (label, colour, dash).
EVENT_STYLE: dict[str, tuple[str, str, str]] = {
    "injected_at": ("injected", "#cf222e", "solid"),
    "detected_at": ("detected", "#bf8700", "dash"),
    "rolled_back_at": ("rolled back", "#0969da", "dot"),
    "recovered_at": ("recovered", "#1a7f37", "dashdot"),
}
#: How observations are marked: kind -> (legend label, colour).
OBSERVATION_STYLE: dict[str, tuple[str, str]] = {
    "note": ("observation (✎n: row n of the observations table)", "#8250df"),
    "noticed": ("a person noticed the fault", "#bf3989"),
}
_PHASE_FILL = ["#f6f8fa", "#fff8c5", "#ffebe9", "#ddf4ff", "#dafbe1", "#fbefff"]


def to_elapsed(value: Any, t0: float) -> float | None:
    """Seconds since ``t0`` (epoch s) of an ISO-8601 string or epoch number; None stays."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        value = value.timestamp()
    return float(value) - t0


def add_phases(
    fig: go.Figure, phases: Sequence[PhaseRecord], t0: float, *, events: bool = True
) -> go.Figure:
    """Shade each phase as a labelled band and mark its injection/detection/rollback/
    recovery with vertical lines (one legend entry per event kind)."""
    for i, ph in enumerate(phases):
        fig.add_vrect(
            x0=to_elapsed(ph.start, t0),
            x1=to_elapsed(ph.end or ph.start, t0),
            fillcolor=_PHASE_FILL[i % len(_PHASE_FILL)],
            opacity=0.6,
            layer="below",
            line_width=0,
            annotation_text=html_text(ph.name),
            annotation_position="top left",
            annotation_font_size=10,
        )
    if not events:
        return fig
    for field, (label, colour, dash) in EVENT_STYLE.items():
        xs = [to_elapsed(getattr(ph, field), t0) for ph in phases if getattr(ph, field)]
        for x in xs:
            fig.add_vline(x=x, line_color=colour, line_dash=dash, line_width=1.5)
        if xs:  # legend entry for the event kind (a vline has none)
            fig.add_trace(
                go.Scatter(
                    x=[None],
                    y=[None],
                    mode="lines",
                    name=label,
                    line={"color": colour, "dash": dash},
                )
            )
    return fig


def numbered_observations(observations: Sequence[Observation]) -> list[tuple[int, Observation]]:
    """Observations oldest first, numbered from 1: the numbers the timelines' markers and
    the report's observations table share."""
    ordered = sorted(observations, key=lambda o: o.at)
    return list(enumerate(ordered, start=1))


def add_observations(
    fig: go.Figure, observations: Sequence[Observation], t0: float
) -> go.Figure:
    """Mark each observation with a dotted vertical line labelled ``✎n`` (its row in the
    observations table); hovering the label shows who wrote what (escaped, shortened)."""
    shown: set[str] = set()
    for n, obs in numbered_observations(observations):
        label, colour = OBSERVATION_STYLE.get(obs.kind, OBSERVATION_STYLE["note"])
        text = f"{obs.role}: {obs.text}"
        fig.add_vline(
            x=to_elapsed(obs.at, t0), line_color=colour, line_dash="dot", line_width=1.5,
            annotation_text=f"✎{n}", annotation_position="top",
            annotation_font={"color": colour, "size": 11},
            annotation_hovertext=html_text(text if len(text) <= 240 else text[:239] + "…"),
        )
        if label not in shown:  # a vline has no legend entry: one per kind
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=label,
                                     line={"color": colour, "dash": "dot"}))
            shown.add(label)
    return fig
