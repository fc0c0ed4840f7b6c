"""A phase run live: availability, latency and the components' ON/OFF states redrawn while it runs.

:func:`run_phase_live` runs :func:`gameday.engine.run_phase` in a worker thread and
turns the notebook's interrupt into an abort that rolls back.

:class:`LiveView` samples the running :class:`~gameday.engine.GameDayRun` (the load
generator's sliding window and the monitor's ``/status``) and redraws one IPython display
handle in place (``display_id`` + ``update``), which works in JupyterLab and under
papermill without ipywidgets. The HTML is self-contained: small inline SVG sparklines,
no JavaScript, no network.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gameday import engine
from gameday.run_record import PhaseRecord
from gameday.runbook import Phase

__all__ = ["LiveView", "Sample", "component_badges", "component_strips", "sparkline",
           "run_phase_live"]

_GREEN, _RED, _GREY = "#1a7f37", "#cf222e", "#6e7781"


@dataclass
class Sample:
    """One look at the phase (``t`` = seconds since the phase started)."""

    t: float
    availability: float | None
    p50_ms: float | None
    p95_ms: float | None
    rate: float
    components: dict[str, str] = field(default_factory=dict)


def sparkline(values: list[float | None], *, width: int = 220, height: int = 36,
              low: float | None = None, high: float | None = None, color: str = _GREY) -> str:
    """An inline SVG polyline of ``values`` (None = gap), scaled to [low, high]."""
    pts = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(pts) < 2:
        return f'<svg width="{width}" height="{height}"></svg>'
    lo = min(v for _, v in pts) if low is None else low
    hi = max(v for _, v in pts) if high is None else high
    span, n = (hi - lo) or 1.0, max(len(values) - 1, 1)
    coords = " ".join(
        f"{i * (width - 4) / n + 2:.1f},{height - 2 - (v - lo) / span * (height - 4):.1f}"
        for i, v in pts)
    return (f'<svg width="{width}" height="{height}" style="background:#f6f8fa">'
            f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{coords}"/></svg>')


def component_badges(states: dict[str, str], faulted: str | None = None) -> str:
    """One coloured badge per component: green ON, red OFF, grey unknown; the faulted one
    is marked with a ⚡."""
    if not states:
        return f'<span style="color:{_GREY}">detector not answering</span>'
    out = []
    for rid in sorted(states, key=lambda r: (len(r), r)):
        st = states[rid]
        color = {"ON": _GREEN, "OFF": _RED}.get(st, _GREY)
        mark = " ⚡" if faulted is not None and str(faulted) == rid else ""
        out.append(f'<span style="background:{color};color:white;padding:2px 8px;'
                   f'border-radius:4px;margin-right:4px">'
                   f'{html.escape(rid)} '
                   f'{html.escape(st)}{mark}</span>')
    return "".join(out)


def component_strips(samples: list[Sample], *, width: int = 220) -> str:
    """Per component, one coloured cell per sample (green ON, red OFF, grey unknown): the
    ON/OFF history of the phase so far."""
    rids = sorted({r for s in samples for r in s.components}, key=lambda r: (len(r), r))
    if not rids or not samples:
        return ""
    cell = width / len(samples)
    rows = []
    for rid in rids:
        rects = "".join(
            f'<rect x="{i * cell:.1f}" y="0" width="{max(cell, 1):.1f}" height="8" '
            f'fill="{ {"ON": _GREEN, "OFF": _RED}.get(s.components.get(rid, ""), _GREY) }"/>'
            for i, s in enumerate(samples))
        rows.append(f'<div style="font-size:11px">{html.escape(rid)} '
                    f'<svg width="{width}" height="8">{rects}</svg></div>')
    return "".join(rows)


class LiveView:
    """Samples a running phase and redraws one display in place.

    ``view.update(stage)`` takes a sample and redraws; ``stage`` says what the phase is
    doing ("injecting", "under load", "rolling back", ...). Never raises for an
    unreachable monitor: the badges say so.
    """

    def __init__(self, run: Any, phase: Any, *, window_s: float | None = None,
                 show: bool = True) -> None:
        self.run, self.phase = run, phase
        self.window_s = window_s or run.runbook.safety.abort_window_s
        self.samples: list[Sample] = []
        self.started = time.monotonic()
        self.stage = "starting"
        self.events: list[tuple[float, str]] = []
        self._handle: Any = None
        if show:
            from IPython.display import HTML, display

            self._handle = display(HTML(self.html()), display_id=True)

    def event(self, text: str) -> None:
        """Note a moment in the phase (shown with its time since the phase started)."""
        self.events.append((time.monotonic() - self.started, text))

    def sample(self) -> Sample:
        load = self.run.load
        try:
            states = self.run.driver.component_states()
        except Exception:  # noqa: BLE001 - shown as "detector not answering"
            states = {}
        s = Sample(
            t=time.monotonic() - self.started,
            availability=load.window_availability(self.window_s) if load else None,
            p50_ms=load.window_latency_ms(self.window_s, 0.5) if load else None,
            p95_ms=load.window_latency_ms(self.window_s, 0.95) if load else None,
            rate=load.achieved_rate if load else 0.0,
            components=states,
        )
        self.samples.append(s)
        return s

    def update(self, stage: str | None = None) -> Sample:
        if stage:
            self.stage = stage
        s = self.sample()
        if self._handle is not None:
            from IPython.display import HTML

            self._handle.update(HTML(self.html()))
        return s

    def html(self) -> str:
        ph = self.phase
        fault = ph.fault
        last = self.samples[-1] if self.samples else None
        elapsed = time.monotonic() - self.started

        def pct(v: float | None) -> str:
            return "—" if v is None else f"{v:.2%}"

        def ms(v: float | None) -> str:
            return "—" if v is None else f"{v:.1f} ms"

        av_color = _GREY if not last or last.availability is None else (
            _GREEN if last.availability >= self.run.runbook.safety.abort_availability_floor
            else _RED)
        avail = sparkline([s.availability for s in self.samples], low=0.0, high=1.0,
                          color=_GREEN)
        lat = sparkline([s.p95_ms for s in self.samples], low=0.0, color="#0969da")
        events = "".join(f"<li>+{t:.1f} s — {html.escape(e)}</li>" for t, e in self.events)
        what = fault.describe() if fault else "no fault (steady state under load)"
        return f"""<div style="font-family:system-ui,sans-serif;border:1px solid #d0d7de;
border-radius:6px;padding:10px;max-width:760px">
<div><b>phase {html.escape(ph.name)}</b> · {html.escape(what)} · {ph.duration_s:g} s of load ·
<i>{html.escape(self.stage)}</i> · {elapsed:.0f} s elapsed</div>
<table style="margin-top:6px"><tr>
<td>availability (last {self.window_s:g} s)</td>
<td style="color:{av_color};font-weight:bold">{pct(last.availability if last else None)}</td>
<td>{avail}</td></tr>
<tr><td>latency p50 / p95</td>
<td>{ms(last.p50_ms if last else None)} / {ms(last.p95_ms if last else None)}</td>
<td>{lat}</td></tr>
<tr><td>requests/s sent</td><td>{(last.rate if last else 0.0):.0f}</td><td></td></tr>
<tr><td>components (detector)</td>
<td>{component_badges(last.components if last else {},
                   self.run.driver.component(fault) if fault else None)}</td>
<td>{component_strips(self.samples)}</td></tr>
</table><ul style="margin:4px 0">{events}</ul></div>"""


def run_phase_live(
    run: engine.GameDayRun, phase: Phase, *, stop: Callable[[], str | None],
    request_abort: Callable[[str], None], every_s: float = 1.0, show: bool = True,
    abort_after: tuple[float, str] | None = None,
) -> tuple[PhaseRecord | None, BaseException | None]:
    """Run ``phase`` with :func:`gameday.engine.run_phase` in a worker thread while this
    thread redraws a :class:`LiveView` every ``every_s``; returns ``(record, None)`` or
    ``(None, error)``.

    A KeyboardInterrupt here (JupyterLab's interrupt) calls ``request_abort(reason)``,
    which must make ``stop()`` return the reason and stop the load; the worker then rolls
    back and records the phase as aborted. ``abort_after = (seconds, reason)`` does the
    same on a timer (headless runs and tests).
    """
    view = LiveView(run, phase, show=show)
    result: dict[str, Any] = {}
    # an Event, not Thread.is_alive(): a join() interrupted by KeyboardInterrupt
    # leaves is_alive() False while the thread still runs (CPython < 3.13)
    finished = threading.Event()

    def work() -> None:
        try:
            result["record"] = engine.run_phase(run, phase, _steps_with_events(view, stop),
                                                stop=stop)
        except BaseException as exc:  # reported to the caller, in the notebook's thread
            result["error"] = exc
        finally:
            finished.set()

    worker = threading.Thread(target=work, name=f"gameday-phase-{phase.name}", daemon=True)
    timer = threading.Timer(abort_after[0], request_abort, [abort_after[1]]) \
        if abort_after else None
    worker.start()
    if timer:
        timer.start()
    while not finished.is_set():
        try:
            finished.wait(every_s)
            view.update()
        except KeyboardInterrupt:
            request_abort("interrupted by the owner from the notebook")
            view.event("abort requested: stopping the load and rolling back")
    if timer:
        timer.cancel()
    view.update("done")
    return result.get("record"), result.get("error")


def _steps_with_events(view: LiveView, stop: Callable[[], str | None]) -> engine.Steps:
    """The engine's steps, each telling the live view what is happening."""

    def inject(run: engine.GameDayRun, phase: Phase) -> float:
        view.stage = "injecting the fault"
        t = engine.inject(run, phase)
        view.event(f"fault injected: {phase.fault.describe()}")  # type: ignore[union-attr]
        return t

    def observe(run: engine.GameDayRun, phase: Phase) -> str | None:
        if stop():  # abort asked for before the load began
            return str(stop())
        view.stage = "under load"
        view.event("load started")
        reason = engine.observe(run, phase, report_every_s=3600)
        view.event("load ended" + (f" — abort: {reason}" if reason else ""))
        return reason

    def rollback(run: engine.GameDayRun, phase: Phase) -> float | None:
        view.stage = "rolling back"
        t = engine.rollback(run, phase)
        view.event(f"fault rolled back ({phase.recovery.action})")
        return t

    def wait_recovery(run: engine.GameDayRun, phase: Phase) -> float | None:
        view.stage = "waiting for recovery"
        t = engine.wait_recovery(run, phase)
        if t is not None:
            view.event(f"{phase.fault.where} ON again")  # type: ignore[union-attr]
        return t

    def finish(run: engine.GameDayRun, phase: Phase, times: engine.PhaseTimes) -> PhaseRecord:
        view.stage = "computing metrics"
        return engine.finish_phase(run, phase, times)

    return engine.Steps(inject, observe, rollback, wait_recovery, finish)
