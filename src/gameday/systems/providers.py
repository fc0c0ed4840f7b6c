"""Fault providers of a system file: every fault ends at its time-to-live.

- :func:`inject_http_fault`: the system's own fault API (``http``). The ``inject`` request
  is sent; its ``clear`` request, rendered now, is what ends the fault. When the API does
  not honour the TTL itself (``honours_ttl: false``), a dead-man's switch holds that
  ``clear`` request and sends it at the TTL or when the harness dies.
- :func:`inject_ctk_fault`: a Chaos Toolkit activity (``chaostoolkit``), run by
  chaostoolkit-lib; its ``rollback`` activity is held by a dead-man's switch.
- :func:`inject_container_fault`: a Docker operation on the member's container
  (``container``), through the compose target's driver: armed on a dead-man's switch
  that undoes it (unpause, start, reconnect) at the TTL or when the harness dies.
- :func:`inject_process_fault`: the ``process`` provider on the local target: ``kill``
(SIGKILL) and ``terminate`` (SIGTERM) go to the member's process group and the supervisor
restarts it (its restart policy is the recovery); ``stop`` (SIGSTOP, a hang) is undone by
SIGCONT to the same group. Before a stop, a dead-man's switch (:mod:`gameday.deadman`) is
armed with that SIGCONT: it fires at the time-to-live, or as soon as the harness dies
(``kill -9`` included), so a hang never outlives its TTL. Call ``.rollback()`` on the
returned switch to end the fault early.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from gameday import deadman
from gameday.errors import FaultError, TargetError
from gameday.systems.model import ChaosToolkitFault, ContainerFault, HttpAction, HttpFault
from gameday.systems.probe import template_context
from gameday.systems.render import TemplateProblem, render, render_value

if TYPE_CHECKING:
    from gameday.systems.local import SystemLocalTarget
    from gameday.systems.resolve import Member, ResolvedSystem
    from gameday.targets.compose import ComposeTarget

__all__ = ["PROCESS_SIGNALS", "inject_process_fault", "inject_container_fault",
           "inject_http_fault", "send_request", "clear_http_faults", "request_data",
           "inject_ctk_fault", "run_ctk_activity", "fault_context"]

#: Seconds one request of a fault API may take.
HTTP_TIMEOUT_S = 5.0

PROCESS_SIGNALS = {"kill": signal.SIGKILL, "terminate": signal.SIGTERM, "stop": signal.SIGSTOP}


def _acting(mark: Callable[[], None] | None) -> None:
    if mark is not None:
        mark()


def inject_process_fault(target: SystemLocalTarget, member: Member, action: str, *,
                         ttl_s: float, mark: Callable[[], None] | None = None
                         ) -> deadman.Switch | None:
    """Make ``action`` happen to ``member`` now; the switch that ends a ``stop``.
    ``mark`` (every provider takes one) is called right before the fault's own act,
    after any dead-man's switch is armed: when the fault began."""
    if action not in PROCESS_SIGNALS:
        raise FaultError(f"unknown process action {action!r}; allowed: "
                         f"{', '.join(PROCESS_SIGNALS)}")
    if action != "stop":
        _acting(mark)
        target.signal_member(member, PROCESS_SIGNALS[action])
        return None
    proc = target.member_process(member)
    switch = deadman.arm(
        deadman.Rollback(call="gameday.deadman:signal_process",
                         kwargs={"pid": proc.pid, "started_at": proc.create_time(),
                                 "signal_name": "SIGCONT", "group": True},
                         description=f"SIGCONT to {member.label} (pid {proc.pid})"),
        ttl_s=ttl_s, state_dir=target.settings.state_dir)
    try:
        _acting(mark)
        target.signal_member(member, signal.SIGSTOP)
    except BaseException:
        switch.rollback()
        raise
    return switch


def fault_context(resolved: ResolvedSystem, member: Member, params: dict[str, Any],
                  ttl_s: float) -> dict[str, Any]:
    """What a fault action's templates see: the member (``component``, ``member``,
    ``index``), ``ttl_s`` and the fault's parameters."""
    return template_context(resolved, component=member, member=member.name,
                            index=member.index, ttl_s=ttl_s, **params)


def request_data(action: HttpAction, context: dict[str, Any]) -> dict[str, Any]:
    """An action rendered into plain JSON data (what a dead-man's switch can hold)."""
    try:
        return {"method": action.method, "url": render(action.url, context),
                "headers": {k: render(v, context) for k, v in action.headers.items()},
                "json": render_value(action.json_, context),
                "expect_status": list(action.expect.status)}
    except TemplateProblem as exc:
        raise FaultError(f"cannot render the fault request: {exc}") from None


def send_request(method: str, url: str, headers: dict[str, str], json: Any = None,
                 expect_status: list[int] | None = None) -> str:
    """Send one fault-API request; raise FaultError unless its status is expected. Used
    by the harness and, as a rollback, by the dead-man's switch (so: plain arguments)."""
    try:
        response = httpx.request(method, url, headers=headers, json=json,
                                 timeout=HTTP_TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise FaultError(f"{method} {url}: {type(exc).__name__}: {exc}",
                         transient=True) from None
    wanted = expect_status or [200]
    if response.status_code not in wanted:
        raise FaultError(f"{method} {url}: status {response.status_code}, expected "
                         f"{' or '.join(map(str, wanted))}: {response.text[:200]}",
                         transient=response.status_code >= 500)
    return f"{method} {url}: {response.status_code}"


def inject_http_fault(resolved: ResolvedSystem, fault: HttpFault, member: Member, *,
                      params: dict[str, Any] | None = None, ttl_s: float,
                      state_dir: Any, mark: Callable[[], None] | None = None
                      ) -> tuple[dict[str, Any], deadman.Switch | None]:
    """Inject ``fault`` on ``member`` through the system's own API. Returns the rendered
    ``clear`` request (send it with :func:`send_request` to end the fault) and the
    dead-man's switch holding it when the API does not honour the TTL."""
    context = fault_context(resolved, member, {**fault.params, **(params or {})}, ttl_s)
    inject = request_data(fault.inject, context)
    clear = request_data(fault.clear, context)
    switch = None
    if not fault.honours_ttl:
        switch = deadman.arm(deadman.Rollback(
            call="gameday.systems.providers:send_request", kwargs=clear,
            description=f"{clear['method']} {clear['url']} (clear on {member.label})"),
            ttl_s=ttl_s, state_dir=state_dir)
    try:
        _acting(mark)
        send_request(**inject)
    except BaseException:
        if switch is not None:
            switch.rollback()
        else:
            with contextlib.suppress(FaultError):
                send_request(**clear)  # whatever half happened
        raise
    return clear, switch


def clear_http_faults(resolved: ResolvedSystem) -> dict[str, str]:
    """Send every ``http`` fault's ``clear`` to every member it applies to, whatever is
    in force (``gameday abort``, a dead run's rollback); what each answered, by
    ``fault member`` (faults whose clear is the same request: once). Never raises: a
    member that cannot be reached is said."""
    system, out, sent = resolved.system, {}, set()
    for name, spec in system.faults.items():
        if not isinstance(spec, HttpFault):
            continue
        groups = spec.applies_to or [g for g, c in system.components.items() if c.faultable]
        for member in (m for m in resolved.all_members() if m.group in groups):
            try:
                request = request_data(spec.clear, fault_context(resolved, member,
                                                                  dict(spec.params), 0.0))
                same = (request["method"], request["url"], repr(request["json"]))
                if same in sent:
                    continue
                sent.add(same)
                out[f"{name} {member.label}"] = send_request(**request)
            except FaultError as exc:
                out[f"{name} {member.label}"] = f"not cleared: {exc}"
    return out


def run_ctk_activity(activity: dict[str, Any]) -> Any:
    """Run one Chaos Toolkit activity with chaostoolkit-lib; FaultError when it fails.
    Plain arguments: the dead-man's switch runs it as a rollback after the harness died."""
    from chaoslib.activity import run_activity
    from chaoslib.exceptions import ChaosException

    try:
        return run_activity(activity, {}, {})
    except ChaosException as exc:
        raise FaultError(f"Chaos Toolkit activity {activity.get('name', '?')!r} failed: "
                         f"{exc}") from None


def _ctk(activity: dict[str, Any], context: dict[str, Any], what: str) -> dict[str, Any]:
    from chaoslib.activity import ensure_activity_is_valid
    from chaoslib.exceptions import ChaosException

    try:
        rendered = render_value(activity, context)
    except TemplateProblem as exc:
        raise FaultError(f"cannot render the Chaos Toolkit {what}: {exc}") from None
    rendered.setdefault("type", "action")
    rendered.setdefault("name", what)
    try:
        ensure_activity_is_valid(rendered)
    except ChaosException as exc:
        raise FaultError(f"the Chaos Toolkit {what} is not a valid activity: {exc}") from None
    return rendered  # type: ignore[no-any-return]


def inject_ctk_fault(resolved: ResolvedSystem, fault: ChaosToolkitFault, member: Member, *,
                     params: dict[str, Any] | None = None, ttl_s: float,
                     state_dir: Any, mark: Callable[[], None] | None = None
                     ) -> tuple[Any, deadman.Switch | None]:
    """Run ``fault.action``; its ``rollback`` (if any) is armed first on a dead-man's
    switch. Returns the action's output and the switch (``.rollback()`` ends the fault)."""
    context = fault_context(resolved, member, {**fault.params, **(params or {})}, ttl_s)
    action = _ctk(fault.action, context, "action")
    switch = None
    if fault.rollback is not None:
        rollback = _ctk(fault.rollback, context, "rollback")
        switch = deadman.arm(deadman.Rollback(
            call="gameday.systems.providers:run_ctk_activity", kwargs={"activity": rollback},
            description=f"Chaos Toolkit rollback {rollback['name']!r} on {member.label}"),
            ttl_s=ttl_s, state_dir=state_dir)
    try:
        _acting(mark)
        output = run_ctk_activity(action)
    except BaseException:
        if switch is not None:
            switch.rollback()
        raise
    return output, switch


def inject_container_fault(resolved: ResolvedSystem, fault: ContainerFault, member: Member,
                           compose: ComposeTarget, *, ttl_s: float,
                           mark: Callable[[], None] | None = None) -> deadman.Switch:
    """``fault.action`` on the container of ``member``'s compose service (its
    ``compose.service`` template) in ``compose``'s project; ``.rollback()`` on the
    returned switch undoes it. ``mark``: as for every provider."""
    from gameday.systems.compose import member_service

    context = fault_context(resolved, member, dict(fault.params), ttl_s)
    try:
        service = member_service(resolved, member, context)
        network = render(fault.network, context) if fault.network else None
    except TemplateProblem as exc:
        raise FaultError(f"the fault's network: {exc}") from None
    except TargetError as exc:  # no compose block, or its service does not render
        raise FaultError(str(exc)) from None
    return compose.inject_container_fault(service, fault.action, ttl_s=ttl_s, network=network,
                                          mark=mark)
