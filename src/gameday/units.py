"""Figures as people read them: a metric's value with its unit and a sensible precision.

The journal keeps every digit (``availability: 0.9745762711864406``); what a report, a
summary or a check sentence shows is ``97.46 %``. One place decides, per metric name, the
unit and the precision:

- shares (``availability``, ``quorum_rate``) as percentages, ``100 %`` when whole;
- ``*_ms`` in milliseconds, ``*_s`` in seconds (minutes and seconds past two minutes);
- counts (``requests``, ``wrong_answers``) as integers; ``achieved_rate`` in requests/s.

A value shown beside its target is never rounded onto the wrong side of it: when the
value misses the target but would print as meeting it (``0.99899`` against ``≥ 99.9 %``
would read ``99.9 %``), more digits are shown (``99.899 %``); a share short of whole never
reads ``100 %``. Missing values read ``—``; the caller says what
missing means ("not observed") where it knows.

Everything here returns plain text: escape it where it meets markup
(:mod:`gameday.escape`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from gameday.run_record import Check, Threshold

__all__ = ["METRIC_NAMES", "metric_name", "fmt_value", "fmt_target", "fmt_seconds",
           "fmt_delta", "check_sentence", "slo_lines", "MISSING", "NOT_APPLICABLE",
           "not_applicable"]

MISSING = "—"
#: What a figure the system cannot have reads: the quorum rate of a system whose answers
#: say nothing of a quorum, the wrong answers of one whose answers nothing judges (never
#: ``0``).
NOT_APPLICABLE = "not applicable"
_ONLY_SOME_SYSTEMS = ("quorum_rate", "wrong_answers")


def not_applicable(metric: str, phases: Any) -> bool:
    """Whether ``metric`` does not apply to the run of ``phases`` (phase records): a
    quorum rate or wrong answers no phase has (the load has no quorum path, no oracle)."""
    return metric in _ONLY_SOME_SYSTEMS and all(
        getattr(p.metrics, metric) is None for p in phases)

#: How a metric is named in words (unknown names: underscores become spaces).
METRIC_NAMES = {
    "availability": "availability",
    "quorum_rate": "quorum rate",
    "wrong_answers": "wrong answers",
    "latency_p50_ms": "p50 latency",
    "latency_p95_ms": "p95 latency",
    "latency_p99_ms": "p99 latency",
    "ttd_s": "time to detect (TTD)",
    "ttr_s": "time to recover (TTR)",
    "outage_s": "outage",
    "requests": "requests",
    "achieved_rate": "achieved rate",
    "front_timeout_share": "front timeouts on the faulted member",
}

_SHARES = {"availability", "quorum_rate", "front_timeout_share"}
_COUNTS = {"requests", "wrong_answers"}
_SIGNS = {"<=": "≤", ">=": "≥", "<": "<", ">": ">", "==": "="}


def metric_name(metric: str) -> str:
    """``"quorum_rate"`` → ``"quorum rate"``."""
    return METRIC_NAMES.get(metric, metric.replace("_", " "))


def _number(value: float, decimals: int) -> str:
    """Fixed decimals, trailing zeros dropped (``5.0`` → ``5``, ``0.80`` → ``0.8``)."""
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _decimals(metric: str, value: float) -> int:
    """The precision a person wants for ``value`` of ``metric`` (before disambiguation)."""
    if metric in _SHARES:
        return 2
    magnitude = abs(value)
    if metric.endswith("_ms"):
        return 0 if magnitude >= 100 else 1 if magnitude >= 10 else 2
    if metric.endswith("_s"):
        return 1 if magnitude >= 10 else 2
    return 0 if magnitude >= 100 else 1


def _scaled(metric: str, value: float) -> float:
    return value * 100 if metric in _SHARES else value


def _unit(metric: str) -> str:
    if metric in _SHARES:
        return " %"
    if metric.endswith("_ms"):
        return " ms"
    if metric.endswith("_s"):
        return " s"
    if metric == "achieved_rate":
        return " req/s"
    return ""


def fmt_seconds(seconds: float | None) -> str:
    """A duration: ``0.23 s``, ``41.2 s``, ``3 min 05 s``, ``1 h 02 min``."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return MISSING
    if abs(seconds) < 120:
        return f"{_number(seconds, _decimals('x_s', seconds))} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def fmt_value(metric: str, value: Any, *, target: Threshold | None = None) -> str:
    """``value`` of ``metric`` with its unit; precise enough to be on the right side of
    ``target`` when one is given. None/NaN → ``—``; booleans → yes/no; text as is."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, int | float):
        return str(value)
    if metric in _COUNTS:
        return f"{round(value):,}"
    if metric.endswith("_s") and metric not in ("ttd_s", "ttr_s", "outage_s"):
        return fmt_seconds(float(value))
    shown = _scaled(metric, float(value))
    decimals = _decimals(metric, float(value))
    if metric in _SHARES and shown in (0.0, 100.0):
        decimals = 0
    while decimals < 6 and _misleading(metric, float(value), shown, decimals, target):
        decimals += 1
    return f"{_number(shown, decimals)}{_unit(metric)}"


def _misleading(metric: str, value: float, shown: float, decimals: int,
                target: Threshold | None) -> bool:
    """Whether ``shown`` rounded to ``decimals`` tells a different story than ``value``:
    a share that is not whole printed as 0 or 100 %, or a value on the other side of its
    target once rounded."""
    rounded = float(_number(shown, decimals).replace(",", ""))
    if metric in _SHARES and rounded in (0.0, 100.0) and shown != rounded:
        return True
    if target is None:
        return False
    back = rounded / 100 if metric in _SHARES else rounded
    return target.holds(back) != target.holds(value)


def fmt_target(metric: str, target: Threshold) -> str:
    """``≥ 99.9 %``, ``≤ 0.8 s``, ``≤ 261 ms``, ``≤ 0``: the target as people say it."""
    value = float(target.value)
    shown = _scaled(metric, value)
    decimals = 3 if metric in _SHARES else max(1, _decimals(metric, value))
    return f"{_SIGNS[target.op]} {_number(shown, decimals)}{_unit(metric)}"


def fmt_delta(metric: str, value: Any) -> str:
    """A signed difference: ``+642 ms``, ``−2.54 pts`` (shares in percentage points)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    value = float(value)
    sign = "+" if value > 0 else "−" if value < 0 else "±"
    if metric in _SHARES:  # already in points (the delta table scales)
        return f"{sign}{_number(abs(value), 2)} pts"
    return f"{sign}{_number(abs(value), _decimals(metric, value))}{_unit(metric)}"


def check_sentence(phase: str, check: Check) -> str:
    """``incorrect_response: availability 97.46 %, target ≥ 99.9 %`` (+ the check's detail)."""
    measured = ("not observed" if check.value is None
                else fmt_value(check.name, check.value, target=check.target))
    text = (f"{phase}: {metric_name(check.name)} {measured}, "
            f"target {fmt_target(check.name, check.target)}")
    return text + (f" ({check.detail})" if check.detail else "")


def slo_lines(slo: Mapping[str, Any]) -> list[str]:
    """A runbook's ``slo`` section as sentences, one per target (unknown keys kept as
    ``key: value``; targets set to None left out)."""
    lines: list[str] = []
    rest = dict(slo)
    if rest.get("availability") is not None:
        lines.append("availability " + fmt_target(
            "availability", Threshold(op=">=", value=rest.pop("availability"))))
    if rest.get("quorum_rate") is not None:
        lines.append("quorum rate " + fmt_target(
            "quorum_rate", Threshold(op=">=", value=rest.pop("quorum_rate"))))
    if rest.get("wrong_answers") is not None:
        lines.append("wrong answers " + fmt_target(
            "wrong_answers", Threshold(op="<=", value=rest.pop("wrong_answers"))))
    ratio, floor = rest.pop("latency_p95_ratio", None), rest.pop("latency_p95_min_ms", None)
    if ratio is not None:
        line = f"p95 latency during a fault ≤ {_number(float(ratio), 2)} × the baseline's p95"
        if floor:
            line += f" (never below {fmt_value('latency_p95_ms', floor)})"
        lines.append(line)
    p99 = rest.pop("latency_p99_ms", None)
    if p99 is not None:
        lines.append("p99 latency " + fmt_target("latency_p99_ms", Threshold(op="<=", value=p99)))
    ttd = rest.pop("ttd_s", None)
    if isinstance(ttd, Mapping) and ttd:
        lines.append("time to detect (TTD) ≤ " + ", ".join(
            f"{fmt_seconds(float(v))} ({str(k).replace('_', ' ')})"
            for k, v in ttd.items() if v is not None))
    elif isinstance(ttd, int | float):
        lines.append(f"time to detect (TTD) ≤ {fmt_seconds(float(ttd))}")
    ttr = rest.pop("ttr_s", None)
    if ttr is not None:
        lines.append(f"time to recover (TTR) ≤ {fmt_seconds(float(ttr))}")
    for key, value in rest.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        lines.append(f"{metric_name(key)}: {value}")
    return lines
