"""Probing a system as its file describes it, without faulting anything.

:func:`check_system` is ``gameday system check``: every steady-state probe (per member
where it says ``each``), one reading of the detector and of the oracle, every data
invariant, and each load request rendered with drawn values (not sent: sending would
change the system). Each result says what was asked, what came back and, when it failed,
why, in words.
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import jmespath
from jmespath.exceptions import JMESPathError

from gameday.systems.model import Expect, Probe, System
from gameday.systems.render import TemplateProblem, env, render, render_value
from gameday.systems.resolve import ResolvedSystem

__all__ = ["Finding", "SystemCheck", "search", "expect_problems", "check_system",
           "detector_items", "template_context", "run_probe", "probe_steady_state",
           "check_invariants", "oracle_values"]

_BODY_MAX = 200


@dataclass(frozen=True)
class Finding:
    """One thing checked: ``kind`` (probe, detector, oracle, invariant, request), its
    name, the member it concerned, whether it held, and why not."""

    kind: str
    name: str
    ok: bool
    member: str | None = None
    detail: str = ""
    latency_ms: float | None = None


@dataclass
class SystemCheck:
    """Everything ``gameday system check`` found."""

    system: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)


def template_context(resolved: ResolvedSystem, **extra: Any) -> dict[str, Any]:
    """The context every template of a run sees: the resolved system, ``env(NAME)`` (the
    harness's environment, for tokens), ``python`` and ``since`` (the run's start)."""
    defaults = {"env": env, "python": sys.executable,
                "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return resolved.context(**{**defaults, **extra})


def search(path: str, body: Any) -> Any:
    """``path`` in ``body``; a path that does not apply (``length(null)``) gives None."""
    try:
        return jmespath.search(path, body)
    except JMESPathError:
        return None


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= _BODY_MAX else text[:_BODY_MAX] + "…"


def expect_problems(expect: Expect, status: int, body: Any) -> list[str]:
    """Why an answer does not meet ``expect`` (empty: it does)."""
    problems = []
    if status not in expect.status:
        problems.append(f"status {status}, expected {' or '.join(map(str, expect.status))}")
    for path, wanted in expect.json_.items():
        if body is None:
            problems.append(f"{path}: the answer is not JSON")
            continue
        got = search(path, body)
        if got != wanted:
            problems.append(f"{path} is {_short(got)}, expected {_short(wanted)}")
    return problems


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _request(client: httpx.Client, method: str, url: str, *, headers: Mapping[str, str],
             body: Any, timeout_s: float) -> tuple[httpx.Response | None, float, str]:
    started = time.perf_counter()
    try:
        response = client.request(method, url, headers=dict(headers), timeout=timeout_s,
                                  json=body if body is not None else None)
    except httpx.HTTPError as exc:
        return None, (time.perf_counter() - started) * 1000, f"{type(exc).__name__}: {exc}"
    return response, (time.perf_counter() - started) * 1000, ""


def run_probe(client: httpx.Client, resolved: ResolvedSystem, name: str, probe: Probe
              ) -> list[Finding]:
    """One steady-state probe once (per member where it says ``each``)."""
    members: list[tuple[str | None, dict[str, Any]]] = [(None, {})]
    if probe.each:
        members = [(m.label, {"member": m.name, "index": m.index, "component": m})
                   for m in resolved.groups[probe.each]]
    found = []
    for label, extra in members:
        ctx = template_context(resolved, **extra)
        try:
            url = render(probe.url, ctx)
            headers = {k: render(v, ctx) for k, v in probe.headers.items()}
            body = render_value(probe.json_, ctx)
        except TemplateProblem as exc:
            found.append(Finding("probe", name, False, label, str(exc)))
            continue
        response, ms, error = _request(client, probe.method, url, headers=headers, body=body,
                                       timeout_s=max(probe.latency_ms / 1000 * 2, 1.0))
        if response is None:
            found.append(Finding("probe", name, False, label, f"{url}: {error}", ms))
            continue
        problems = expect_problems(probe.expect, response.status_code, _json(response))
        if ms > probe.latency_ms:
            problems.append(f"answered in {ms:.0f} ms, bound {probe.latency_ms:g} ms")
        found.append(Finding("probe", name, not problems, label,
                             f"{url}: " + ("; ".join(problems) or f"{response.status_code}"), ms))
    return found


def _read(client: httpx.Client, url: str) -> tuple[Any, str]:
    response, _, error = _request(client, "GET", url, headers={}, body=None, timeout_s=5.0)
    if response is None:
        return None, error
    if response.status_code >= 300:
        return None, f"status {response.status_code}"
    body = _json(response)
    return (body, "") if body is not None else (None, "the answer is not JSON")


def _read_json(resolved: ResolvedSystem, template: str, client: httpx.Client | None
               ) -> tuple[str, Any]:
    """``template`` rendered, read, its JSON; raises ValueError saying what went wrong."""
    url = render(template, template_context(resolved))
    own = client is None
    client = client or httpx.Client(follow_redirects=False)
    try:
        body, error = _read(client, url)
    finally:
        if own:
            client.close()
    if error:
        raise ValueError(f"{url}: {error}")
    return url, body


def detector_items(resolved: ResolvedSystem, client: httpx.Client | None = None
                   ) -> tuple[str, list[tuple[str, str]]]:
    """One reading of the system's own detector: its URL and ``(component, state)`` per
    item, in its order. Raises ValueError saying what was wrong with the answer."""
    det = resolved.system.detector
    if det.kind == "none":
        raise ValueError("the system has no detector of its own")
    url, body = _read_json(resolved, det.url, client)
    items = search(det.items, body)
    if not isinstance(items, list):
        raise ValueError(f"{url}: items ({det.items}) is {_short(items)}, not a list")
    return url, [(str(search(det.component, i)), str(search(det.state, i))) for i in items]


def _detector(client: httpx.Client, resolved: ResolvedSystem) -> Finding:
    det = resolved.system.detector
    if det.kind == "none":
        return Finding("detector", "none", True, detail="no detector of its own: the harness's "
                       f"health probes of each member stand in (every {det.interval_s:g} s)")
    try:
        url, items = detector_items(resolved, client)
    except ValueError as exc:
        return Finding("detector", det.kind, False, detail=str(exc))
    members = [m for m in resolved.all_members()
               if resolved.system.components[m.group].faultable]
    named = {c for c, _ in items}
    detail = (f"{url}: {len(items)} item(s), components {', '.join(sorted(named)) or '—'}, "
              f"states {', '.join(sorted({s for _, s in items})) or '—'}")
    if det.kind == "status":  # a current view must show every member a fault can hit
        unseen = [m.label for m in members if m.name not in named and m.label not in named]
        if unseen:
            return Finding("detector", det.kind, False,
                           detail=detail + f"; it does not show {', '.join(unseen)}")
    return Finding("detector", det.kind, True, detail=detail)


def _finite_number(v: Any) -> bool:
    """A JSON number that is finite (not a boolean, not NaN or infinite)."""
    return not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v)


def oracle_values(resolved: ResolvedSystem, client: httpx.Client | None = None
                  ) -> tuple[str, dict[str, float]]:
    """One reading of the load's oracle: its URL and each key's number. Raises
    ValueError saying what was wrong with the answer."""
    oracle = resolved.system.load.oracle
    if oracle is None:
        raise ValueError("the load has no oracle")
    url, body = _read_json(resolved, oracle.url, client)
    items = search(oracle.items, body)
    if not isinstance(items, dict) or not items:
        raise ValueError(f"{url}: items ({oracle.items}) is {_short(items)}, not a mapping")
    values = {str(k): search(oracle.value, v) for k, v in items.items()}
    bad = [k for k, v in values.items() if not _finite_number(v)]
    if bad:
        raise ValueError(f"{url}: value ({oracle.value}) is not a number for {', '.join(bad)}")
    return url, {k: float(v) for k, v in values.items()}


def front_counters(resolved: ResolvedSystem, client: httpx.Client | None = None
                   ) -> tuple[float | None, dict[str, int], dict[str, int]]:
    """One reading of the system's ``counters``: the front's timeout and, keyed by member
    label (``group/member``), what it asked and what timed out. Raises ValueError saying
    what was wrong with the answer."""
    spec = resolved.system.counters
    if spec is None:
        raise ValueError("the system has no counters")
    url, body = _read_json(resolved, spec.url, client)

    def per_member(path: str, what: str) -> dict[str, int]:
        found = search(path, body)
        if not isinstance(found, dict):
            raise ValueError(f"{url}: {what} ({path}) is {_short(found)}, not a mapping")
        out = {}
        for k, v in found.items():
            if not _finite_number(v):
                raise ValueError(f"{url}: {what} ({path}) of {k!r} is not a number")
            out[f"{spec.group}/{k}"] = int(v)
        return out

    timeout = search(spec.timeout_s, body) if spec.timeout_s else None
    return (float(timeout) if timeout is not None and _finite_number(timeout) else None,
            per_member(spec.asked, "asked"), per_member(spec.timed_out, "timed_out"))


def _oracle(client: httpx.Client, resolved: ResolvedSystem) -> Finding | None:
    if resolved.system.load.oracle is None:
        return None
    try:
        url, values = oracle_values(resolved, client)
    except ValueError as exc:
        return Finding("oracle", "truth", False, detail=str(exc))
    return Finding("oracle", "truth", True, detail=f"{url}: " + ", ".join(
        f"{k} {v:g}" for k, v in list(values.items())[:10]))


def _counters(client: httpx.Client, resolved: ResolvedSystem) -> Finding | None:
    spec = resolved.system.counters
    if spec is None:
        return None
    try:
        timeout_s, asked, timed_out = front_counters(resolved, client)
    except ValueError as exc:
        return Finding("counters", spec.group, False, detail=str(exc))
    return Finding("counters", spec.group, True, detail=(
        f"asked {sum(asked.values())}, timed out {sum(timed_out.values())}"
        + (f" (timeout {timeout_s:g} s)" if timeout_s is not None else "")))


def _invariants(client: httpx.Client, resolved: ResolvedSystem) -> list[Finding]:
    found = []
    for name, inv in resolved.system.invariants.items():
        if inv.python:
            found.append(Finding("invariant", name, True,
                                 detail=f"{inv.python}: runs after a GameDay, not here"))
            continue
        assert inv.value is not None and inv.equals is not None
        members: list[tuple[str | None, dict[str, Any]]] = [(None, {})] if inv.each is None else [
            (m.label, {"member": m.name, "index": m.index, "component": m})
            for m in resolved.groups[inv.each]]
        for label, extra in members:
            ctx = template_context(resolved, **extra)
            got = []
            for side in (inv.value, inv.equals):
                url = render(side.url, ctx)
                body, error = _read(client, url)
                got.append((url, error, None if error else search(side.path, body)))
            (url_a, err_a, a), (url_b, err_b, b) = got
            if err_a or err_b:
                found.append(Finding("invariant", name, False, label,
                                     f"{url_a if err_a else url_b}: {err_a or err_b}"))
            elif a != b:
                found.append(Finding("invariant", name, False, label,
                                     f"{_short(a)} differs from {_short(b)}"))
            else:
                found.append(Finding("invariant", name, True, label, f"{_short(a)}"))
    return found


def _requests(resolved: ResolvedSystem, seed: int) -> list[Finding]:
    rng = random.Random(seed)
    load = resolved.system.load
    drawn = {k: rng.choice(v) for k, v in load.values.items()}
    found = []
    for name, req in load.requests.items():
        ctx = template_context(resolved, **drawn)
        try:
            url = render(req.url, ctx)
            render_value(req.json_, ctx)
            for value in req.headers.values():
                render(value, ctx)
        except TemplateProblem as exc:
            found.append(Finding("request", name, False, detail=str(exc)))
            continue
        found.append(Finding("request", name, True,
                             detail=f"{req.method} {url} (weight {req.weight:g}; not sent)"))
    return found


def _with_client(client: httpx.Client | None, fn: Callable[[httpx.Client], list[Finding]]
                 ) -> list[Finding]:
    if client is not None:
        return fn(client)
    with httpx.Client(follow_redirects=False) as own:
        return fn(own)


def probe_steady_state(resolved: ResolvedSystem, client: httpx.Client | None = None
                       ) -> list[Finding]:
    """Every steady-state probe once (per member where it says ``each``)."""
    return _with_client(client, lambda c: [
        f for name, probe in resolved.system.steady_state.items()
        for f in run_probe(c, resolved, name, probe)])


def wait_steady_state(resolved: ResolvedSystem, timeout_s: float, *, every_s: float = 0.25
                      ) -> tuple[bool, list[Finding]]:
    """Poll the steady-state probes until every one holds or ``timeout_s`` has passed:
    whether they held, and the last round's findings."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(follow_redirects=False) as client:
        while True:
            found = probe_steady_state(resolved, client)
            ok = all(f.ok for f in found)
            if ok or time.monotonic() >= deadline:
                return ok, found
            time.sleep(every_s)


def problems(findings: list[Finding]) -> list[str]:
    """What failed, one phrase per finding: kind, name, member, detail."""
    return [f"{f.kind} {f.name}" + (f" [{f.member}]" if f.member else "") + f": {f.detail}"
            for f in findings if not f.ok]


def check_invariants(resolved: ResolvedSystem, client: httpx.Client | None = None
                     ) -> list[Finding]:
    """Every data invariant once (a ``python`` one is reported, not run: the GameDay
    runs those, see :mod:`gameday.drivers.system`)."""
    return _with_client(client, lambda c: _invariants(c, resolved))


def check_system(resolved: ResolvedSystem, *, seed: int = 1,
                 client: httpx.Client | None = None,
                 progress: Callable[[Finding], None] | None = None) -> SystemCheck:
    """Probe ``resolved`` as its file describes it, faulting nothing."""
    system: System = resolved.system
    result = SystemCheck(system.name)
    own = client is None
    client = client or httpx.Client(follow_redirects=False)
    try:
        steps: list[Callable[[], list[Finding]]] = [
            lambda: [f for name, probe in system.steady_state.items()
                     for f in run_probe(client, resolved, name, probe)],
            lambda: [_detector(client, resolved)],
            lambda: [f for f in [_oracle(client, resolved)] if f is not None],
            lambda: [f for f in [_counters(client, resolved)] if f is not None],
            lambda: _invariants(client, resolved),
            lambda: _requests(resolved, seed),
        ]
        for step in steps:
            try:
                found = step()
            except TemplateProblem as exc:
                found = [Finding("template", "render", False, detail=str(exc))]
            for f in found:
                result.findings.append(f)
                if progress:
                    progress(f)
    finally:
        if own:
            client.close()
    return result
