"""The runbook rendered as a Chaos Toolkit experiment: the journal's ``experiment`` key.

Chaos Toolkit's tools (``chaos report``, its controls, a team's own scripts) read a
journal's ``experiment`` for the title, description, tags, hypothesis, method and
rollbacks. :func:`render_experiment` writes the GameDay as one, with the same calls the
harness makes over HTTP, so that a Chaos Toolkit user reads what was done in their own
vocabulary (and ``chaoslib.experiment.ensure_experiment_is_valid`` accepts it):

- ``steady-state-hypothesis``: every service's ``GET /health`` answers 200;
- ``method``: per phase, the fault as ``POST <replica>/inject-failure`` with the body and
  the time-to-live the harness sends, paused for the phase's duration (the load runs
  meanwhile); a phase without a fault is a probe of the voter, paused likewise;
- ``rollbacks``: ``POST /inject-failure {"type": "clear"}`` on each replica faulted.

The chaos token is never written: when one is configured the headers say
``${chaos_token}``, a configuration entry read from ``GAMEDAY_CHAOS_TOKEN``. Load, SLOs,
safety and the seed are GameDay's own: they ride along in ``extensions`` (name
``gameday``), where Chaos Toolkit keeps what its core does not model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gameday.runbook import DEFAULT_FAULT_TTL_S, Phase, Runbook
from gameday.targets.base import StackUrls

if TYPE_CHECKING:
    from gameday.systems.resolve import ResolvedSystem

__all__ = ["EXPERIMENT_VERSION", "render_experiment", "render_system_experiment"]

#: The experiment format's version (Chaos Toolkit's ``version`` key).
EXPERIMENT_VERSION = "1.0.0"
_HEALTH_TIMEOUT_S = 2
_FAULT_TIMEOUT_S = 10


def _http(url: str, *, method: str = "GET", body: dict[str, Any] | None = None,
          token: bool = False, timeout: float = _HEALTH_TIMEOUT_S) -> dict[str, Any]:
    provider: dict[str, Any] = {"type": "http", "url": url, "method": method,
                                "timeout": timeout}
    if body is not None:
        provider["arguments"] = body
        provider["headers"] = {"Content-Type": "application/json"}
    if token:
        provider.setdefault("headers", {})["X-Chaos-Token"] = "${chaos_token}"
    return provider


def _hypothesis(urls: StackUrls) -> dict[str, Any]:
    services = [(f"inventory-{i}", u) for i, u in enumerate(urls.inventory, 1)]
    services += [("monitor", urls.monitor), ("voter", urls.voter), ("orders", urls.orders)]
    return {
        "title": "every service of the stack is healthy",
        "probes": [{"type": "probe", "name": f"{name} healthy", "tolerance": 200,
                    "provider": _http(f"{url}/health")} for name, url in services],
    }


def _phase_activity(phase: Phase, runbook: Runbook, urls: StackUrls, default_ttl_s: float,
                    token: bool) -> dict[str, Any]:
    pauses = {"after": phase.duration_s}
    if phase.fault is None:
        product = runbook.load.products[0]
        return {"type": "probe", "name": f"{phase.name}: load only, no fault",
                "provider": _http(f"{urls.voter}/inventory/{product}"), "pauses": pauses}
    fault = phase.fault
    body = {"type": fault.type, **fault.params(),
            "ttl_s": runbook.fault_ttl(fault, default_ttl_s)}
    return {"type": "action", "name": f"{phase.name}: {fault.describe()}",
            "provider": _http(f"{urls.replica(fault.member)}/inject-failure", method="POST",
                              body=body, token=token, timeout=_FAULT_TIMEOUT_S),
            "pauses": pauses}


def _rollbacks(runbook: Runbook, urls: StackUrls, token: bool) -> list[dict[str, Any]]:
    faulted = dict.fromkeys(p.fault.member for p in runbook.phases if p.fault)
    return [{"type": "action", "name": f"clear every fault on replica {replica}",
             "provider": _http(f"{urls.replica(replica)}/inject-failure", method="POST",
                               body={"type": "clear"}, token=token,
                               timeout=_FAULT_TIMEOUT_S)}
            for replica in faulted]


def render_experiment(runbook: Runbook, urls: StackUrls, *, target: str,
                      default_ttl_s: float = DEFAULT_FAULT_TTL_S, seed: int | None = None,
                      token: bool = False) -> dict[str, Any]:
    """``runbook`` against the stack at ``urls`` as a Chaos Toolkit experiment (plain
    JSON). ``token``: whether fault calls carry the chaos token (as ``${chaos_token}``)."""
    description = " ".join(runbook.description.split()) or (
        f"GameDay {runbook.name}: {len(runbook.phases)} phases against the {target} stack")
    experiment: dict[str, Any] = {
        "version": EXPERIMENT_VERSION,
        "title": f"GameDay {runbook.name}",
        "description": description,
        "tags": ["gameday", f"target:{target}",
                 *dict.fromkeys(f"fault:{p.fault.type}" for p in runbook.phases if p.fault)],
        "steady-state-hypothesis": _hypothesis(urls),
        "method": [_phase_activity(p, runbook, urls, default_ttl_s, token)
                   for p in runbook.phases],
        "rollbacks": _rollbacks(runbook, urls, token),
        "extensions": [{"name": "gameday",
                        "runbook": runbook.model_dump(mode="json", by_alias=True),
                        "seed": runbook.seed if seed is None else seed}],
    }
    if token:
        experiment["configuration"] = {
            "chaos_token": {"type": "env", "key": "GAMEDAY_CHAOS_TOKEN", "default": ""}}
    return experiment


def render_system_experiment(runbook: Runbook, resolved: ResolvedSystem, *, target: str,
                             seed: int | None = None, source: str | None = None
                             ) -> dict[str, Any]:
    """A runbook with a ``system`` as a Chaos Toolkit-shaped outline: the hypothesis (the
    system file's steady-state probes, rendered) and one entry per phase; the fault
    mechanisms are the system file's (its providers), named in ``extensions``."""
    from gameday.systems.probe import template_context
    from gameday.systems.render import render

    ctx = template_context(resolved)
    system = resolved.system
    hypothesis = [{"type": "probe", "name": name, "tolerance": probe.expect.status[0],
                   "provider": {"type": "http", "url": render(probe.url, ctx),
                                "method": probe.method}}
                  for name, probe in system.steady_state.items() if probe.each is None]
    method = [{"type": "action" if p.fault else "probe",
               "name": f"{p.name}: {p.fault.describe() if p.fault else 'load only'}",
               "pauses": {"after": p.duration_s}} for p in runbook.phases]
    return {
        "version": EXPERIMENT_VERSION, "title": f"GameDay {runbook.name}",
        "description": " ".join(runbook.description.split())
        or f"GameDay {runbook.name} against system {system.name}",
        "tags": ["gameday", f"system:{system.name}", f"target:{target}",
                 *dict.fromkeys(f"fault:{p.fault.type}" for p in runbook.phases if p.fault)],
        "steady-state-hypothesis": {"title": f"the steady state of {system.name}",
                                    "probes": hypothesis},
        "method": method, "rollbacks": [],
        "extensions": [{"name": "gameday", "system": source or system.name,
                        "runbook": runbook.model_dump(mode="json", by_alias=True),
                        "seed": runbook.seed if seed is None else seed}],
    }
