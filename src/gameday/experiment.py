"""The runbook rendered as a Chaos Toolkit experiment: the journal's ``experiment`` key.

Chaos Toolkit's tools (``chaos report``, its controls, a team's own scripts) read a
journal's ``experiment`` for the title, description, tags, hypothesis, method and
rollbacks. :func:`render_system_experiment` writes the GameDay as one, from the runbook's
system file, so that a Chaos Toolkit user reads what was done in their own vocabulary (and
``chaoslib.experiment.ensure_experiment_is_valid`` accepts it):

- ``steady-state-hypothesis``: the system's steady-state probes (those on one URL);
- ``method``: per phase, the fault as its mechanism does it: an ``http`` fault as the
  request the harness sends (its body, the time-to-live), a ``chaostoolkit`` fault as its
  own activity, a ``process`` or ``container`` fault as the command line that does the
  same (``kill -s KILL <pid>``, ``docker pause <container>``: the harness uses the
  signal and the Docker SDK); paused for the phase's duration (the load runs meanwhile).
  A phase without a fault is a probe, paused likewise;
- ``rollbacks``: the ``clear`` request of each http fault, the ``rollback`` activity of
  each Chaos Toolkit fault (the others end by the harness's dead-man's switches).

A secret is never written: ``env('NAME')`` in a template is rendered as ``${NAME}``, a
configuration entry Chaos Toolkit reads from the environment variable ``NAME``. Load,
SLOs, safety and the seed are GameDay's own: they ride along in ``extensions`` (name
``gameday``), where Chaos Toolkit keeps what its core does not model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gameday.runbook import DEFAULT_FAULT_TTL_S, Phase, Runbook

if TYPE_CHECKING:
    from gameday.systems.model import HttpAction
    from gameday.systems.resolve import ResolvedSystem

__all__ = ["EXPERIMENT_VERSION", "render_system_experiment"]

#: The experiment format's version (Chaos Toolkit's ``version`` key).
EXPERIMENT_VERSION = "1.0.0"
_PROBE_TIMEOUT_S = 2
_FAULT_TIMEOUT_S = 10
_SIGNALS = {"kill": "KILL", "terminate": "TERM", "stop": "STOP"}


def _http(action: HttpAction, context: dict[str, Any]) -> dict[str, Any]:
    """A fault API request, rendered as the harness sends it, as Chaos Toolkit's http
    provider."""
    from gameday.systems.providers import request_data

    sent = request_data(action, context)
    provider: dict[str, Any] = {"type": "http", "url": sent["url"], "method": sent["method"],
                                "timeout": _FAULT_TIMEOUT_S}
    headers = dict(sent["headers"])
    if sent["json"] is not None:
        provider["arguments"] = sent["json"]
        headers.setdefault("Content-Type", "application/json")
    if headers:
        provider["headers"] = headers
    return provider


class _Secrets:
    """``env('NAME')`` for templates rendered into the experiment: ``${NAME}``, and the
    names seen (the experiment's ``configuration``)."""

    def __init__(self) -> None:
        self.names: dict[str, None] = {}

    def __call__(self, name: str, default: str = "") -> str:
        self.names[str(name)] = None
        return f"${{{name}}}"

    def configuration(self) -> dict[str, Any]:
        return {n: {"type": "env", "key": n, "default": ""} for n in self.names}


def render_system_experiment(runbook: Runbook, resolved: ResolvedSystem, *, target: str,
                             default_ttl_s: float = DEFAULT_FAULT_TTL_S,
                             seed: int | None = None, source: str | None = None
                             ) -> dict[str, Any]:
    """``runbook`` against its resolved system as a Chaos Toolkit experiment (plain JSON;
    module docstring)."""
    from gameday.systems.probe import template_context
    from gameday.systems.render import render

    secrets = _Secrets()
    ctx = template_context(resolved, env=secrets)
    system = resolved.system
    hypothesis = [{"type": "probe", "name": name, "tolerance": probe.expect.status[0],
                   "provider": {"type": "http", "url": render(probe.url, ctx),
                                "method": probe.method, "timeout": _PROBE_TIMEOUT_S}}
                  for name, probe in system.steady_state.items() if probe.each is None]
    look = (hypothesis[0]["provider"] if hypothesis else
            {"type": "http", "url": next(m.url for m in resolved.all_members() if m.url),
             "method": "GET", "timeout": _PROBE_TIMEOUT_S})
    method: list[dict[str, Any]] = []
    rollbacks: list[dict[str, Any]] = []
    for phase in runbook.phases:
        if phase.fault is None:
            method.append({"type": "probe", "name": f"{phase.name}: load only, no fault",
                           "provider": look, "pauses": {"after": phase.duration_s}})
            continue
        action, rollback = _fault_activities(phase, runbook, resolved, secrets,
                                             default_ttl_s)
        method.append(action)
        if rollback is not None and rollback["name"] not in {r["name"] for r in rollbacks}:
            rollbacks.append(rollback)
    experiment: dict[str, Any] = {
        "version": EXPERIMENT_VERSION, "title": f"GameDay {runbook.name}",
        "description": " ".join(runbook.description.split())
        or f"GameDay {runbook.name} against system {system.name}",
        "tags": ["gameday", f"system:{system.name}", f"target:{target}",
                 *dict.fromkeys(f"fault:{p.fault.type}" for p in runbook.phases if p.fault)],
        "steady-state-hypothesis": {"title": f"the steady state of {system.name}",
                                    "probes": hypothesis},
        "method": method, "rollbacks": rollbacks,
        "extensions": [{"name": "gameday", "system": source or system.name,
                        "runbook": runbook.model_dump(mode="json", by_alias=True),
                        "seed": runbook.seed if seed is None else seed}],
    }
    if secrets.names:
        experiment["configuration"] = secrets.configuration()
    return experiment


def _fault_activities(phase: Phase, runbook: Runbook, resolved: ResolvedSystem,
                      secrets: _Secrets, default_ttl_s: float
                      ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The phase's fault as an action, and the rollback that ends it (None: its mechanism
    is ended by the harness's dead-man's switch)."""
    from gameday.systems.providers import fault_context
    from gameday.systems.render import render, render_value

    fault = phase.fault
    assert fault is not None
    spec = resolved.system.faults[fault.type]
    member = resolved.member(fault.group, fault.member)
    ttl_s = runbook.fault_ttl(fault, default_ttl_s)
    ctx = {**fault_context(resolved, member, {**spec.params, **fault.params()}, ttl_s),
           "env": secrets}
    name = f"{phase.name}: {fault.describe()}"
    rollback: dict[str, Any] | None = None
    if spec.provider == "http":
        provider = _http(spec.inject, ctx)
        rollback = {"type": "action", "name": f"clear {fault.type} on {fault.component}",
                    "provider": _http(spec.clear, ctx)}
    elif spec.provider == "chaostoolkit":
        provider = render_value(spec.action, ctx)["provider"]
        if spec.rollback is not None:
            rollback = {**render_value(spec.rollback, ctx), "type": "action",
                        "name": f"roll back {fault.type} on {fault.component}"}
    elif spec.provider == "process":
        provider = {"type": "process", "path": "kill",
                    "arguments": f"-s {_SIGNALS[spec.action]} <pid of {member.label}>"}
    else:  # container: what the Docker SDK call does, as the docker CLI says it
        where = f"<container of {member.label}>"
        args = (f"network disconnect {render(spec.network or '', ctx)} {where}"
                if spec.action == "disconnect" else f"{spec.action} {where}")
        provider = {"type": "process", "path": "docker", "arguments": args}
    return {"type": "action", "name": name, "provider": provider,
            "pauses": {"after": phase.duration_s}}, rollback
