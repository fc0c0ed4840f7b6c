"""The pre-flight checklist a team goes through before a GameDay session starts.

Each item is a :class:`~gameday.run_record.ChecklistItem` ``{item, ok, detail}``: the
roles are assigned, the system's steady-state probes hold, Slack is reachable (or
not configured: messages then go to the console), and the team agreed on the abort
criteria (which :func:`abort_criteria` spells out from the runbook, with the fault TTLs
that will be sent). A session starts only when every item is ok.
"""

from __future__ import annotations

import httpx

from gameday.config import Settings
from gameday.drivers import SystemDriver
from gameday.run_record import ChecklistItem, Roles
from gameday.runbook import DEFAULT_FAULT_TTL_S, Runbook
from gameday.systems.model import System

__all__ = ["abort_criteria", "system_item", "slack_item", "run_checklist"]


def _ttls(runbook: Runbook, default_ttl_s: float) -> str:
    """The TTLs the faults will be sent with (the one place that says: Runbook.fault_ttl)."""
    ttls = sorted({runbook.fault_ttl(p.fault, default_ttl_s) for p in runbook.phases
                   if p.fault is not None})
    return " / ".join(f"{t:g} s" for t in ttls) or "—"


def abort_criteria(runbook: Runbook, default_ttl_s: float = DEFAULT_FAULT_TTL_S,
                   system: System | None = None) -> list[str]:
    """The conditions that end the GameDay early, as sentences for the team to agree on;
    ``default_ttl_s``: the settings' GAMEDAY_FAULT_TTL_S; ``system``: the runbook's
    system file, whose ``during`` probes are abort conditions too."""
    s = runbook.safety
    watched = [] if system is None else [
        f"Automatic: the steady-state probe {name} of system {system.name} failing for "
        f"longer than {probe.during.grace_s:g} s (sent every {probe.during.interval_s:g} s) "
        "aborts the phase and rolls its fault back."
        for name, probe in system.steady_state.items() if probe.during is not None]
    return [
        f"Automatic: client availability below {s.abort_availability_floor:.0%} over any "
        f"{s.abort_window_s:g} s window (once it holds {s.abort_min_samples} requests) aborts "
        "the phase and rolls its fault back.",
        *watched,
        f"Never more than {s.max_faulted_per_group} component(s) of a group faulted at once; "
        "every fault "
        f"clears itself after its time-to-live ({_ttls(runbook, default_ttl_s)}) even if "
        "this notebook dies.",
        "A faulted component that does not come back within its recovery timeout stops the "
        "session before the next fault.",
        "By hand: the owner calls an abort (interrupt the running cell, or run "
        "`session.abort(...)`) whenever real users, data or people need it. Aborting "
        "rolls back every fault.",
    ]


def system_item(driver: SystemDriver) -> ChecklistItem:
    """Every steady-state probe of a system file holds now (the flow's steady state)."""
    state = driver.steady_after(timeout_s=0)
    probes_seen = state.get("probes") or []
    detail = (f"{len(probes_seen)} steady-state probe(s) of {driver.system!r} hold"
              if state.get("ok") else str(state.get("error") or "not in its steady state"))
    return ChecklistItem(item="system healthy", ok=bool(state.get("ok")), detail=detail)


def slack_item(settings: Settings, *, timeout_s: float = 5.0) -> ChecklistItem:
    """Slack reachable: a bot token is checked with ``auth.test``; a webhook's host must
    answer HTTPS (nothing is posted). Not configured is fine: messages go to the console."""
    item = "Slack reachable"
    token, channel = settings.slack_bot_token, settings.slack_channel
    hook = settings.slack_webhook_url
    if token is not None and token.get_secret_value().strip() and channel:
        from slack_sdk import WebClient

        try:
            base = settings.slack_api_url
            resp = WebClient(token=token.get_secret_value(), timeout=int(timeout_s) or 1,
                             base_url=base if base.endswith("/") else base + "/").auth_test()
            return ChecklistItem(item=item, ok=True,
                                 detail=f"bot token valid (team {resp.get('team', '?')}), "
                                        f"channel {channel}")
        except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
            err = getattr(getattr(exc, "response", None), "get", lambda *_: None)("error")
            return ChecklistItem(item=item, ok=False,
                                 detail=f"bot token check failed: {err or type(exc).__name__}")
    if hook is not None and hook.get_secret_value().strip():
        url = httpx.URL(hook.get_secret_value())
        try:
            httpx.head(f"{url.scheme}://{url.host}/", timeout=timeout_s)
            return ChecklistItem(item=item, ok=True, detail=f"webhook host {url.host} answers")
        except httpx.HTTPError as exc:
            return ChecklistItem(item=item, ok=False, detail=f"webhook host {url.host} "
                                 f"unreachable ({type(exc).__name__})")
    return ChecklistItem(
        item=item, ok=True,
        detail="not configured: start, phase, abort and verdict messages go to the console "
               "(set GAMEDAY_SLACK_BOT_TOKEN + GAMEDAY_SLACK_CHANNEL, or "
               "GAMEDAY_SLACK_WEBHOOK_URL)")


def run_checklist(settings: Settings, runbook: Runbook, *, abort_criteria_agreed: bool,
                  roles: Roles, driver: SystemDriver) -> list[ChecklistItem]:
    """The whole checklist, in the order the notebook shows it; ``driver``: the runbook's
    system (its steady-state probes)."""
    missing = [r for r in ("owner", "coordinator", "reporter") if not getattr(roles, r)]
    named = (f"owner: {roles.owner}, coordinator: {roles.coordinator}, reporter: "
             f"{roles.reporter}, observers: {', '.join(roles.observers) or '—'}")
    return [
        ChecklistItem(item="roles assigned", ok=not missing,
                      detail=f"missing: {', '.join(missing)}" if missing else named),
        system_item(driver),
        slack_item(settings),
        ChecklistItem(item="abort criteria agreed", ok=bool(abort_criteria_agreed),
                      detail=("the owner confirmed the abort criteria" if abort_criteria_agreed
                              else "read the abort criteria aloud, then set "
                                   "abort_criteria_agreed = True")),
    ]
