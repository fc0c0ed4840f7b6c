"""The pre-flight checklist a team goes through before a GameDay session starts.

Each item is ``{item, ok, detail}``: the stack answers and every replica is ON, Slack is
reachable (or not configured: messages then go to the console), and the team agreed on
the abort criteria (which :func:`abort_criteria` spells out from the runbook). A session
starts only when every item is ok.
"""

from __future__ import annotations

from typing import Any

import httpx

from gameday import probes
from gameday.config import Settings
from gameday.runbook import Runbook
from gameday.targets.base import StackUrls

__all__ = ["abort_criteria", "stack_item", "slack_item", "run_checklist"]


def abort_criteria(runbook: Runbook) -> list[str]:
    """The conditions that end the GameDay early, as sentences for the team to agree on."""
    s = runbook.safety
    return [
        f"Automatic: client availability below {s.abort_availability_floor:.0%} over any "
        f"{s.abort_window_s:g} s window (once it holds {s.abort_min_samples} requests) aborts "
        "the phase and rolls its fault back.",
        f"Never more than {s.max_faulted_replicas} replica(s) faulted at once; every fault "
        f"clears itself after {s.fault_ttl_s:g} s even if this notebook dies.",
        "A faulted replica that does not come back within its recovery timeout stops the "
        "session before the next fault.",
        "By hand: the owner calls an abort (interrupt the running cell, or run "
        "`session.abort(...)`) whenever real users, data or people need it. Aborting "
        "clears every fault and restarts every stopped replica.",
    ]


def stack_item(urls: StackUrls) -> dict[str, Any]:
    """Every service healthy and every replica ON per the monitor (the flow's steady state)."""
    state = probes.steady_state(urls)
    problems = list(state["problems"])
    if not state["replicas"] and not problems:
        problems.append("the monitor reports no replica")
    detail = (f"{len(state['services'])} services healthy, replicas "
              + ", ".join(f"{r} {s}" for r, s in sorted(state["replicas"].items()))
              if not problems else "; ".join(problems))
    return {"item": "stack healthy", "ok": not problems, "detail": detail}


def slack_item(settings: Settings, *, timeout_s: float = 5.0) -> dict[str, Any]:
    """Slack reachable: a bot token is checked with ``auth.test``; a webhook's host must
    answer HTTPS (nothing is posted). Not configured is fine: messages go to the console."""
    item = {"item": "Slack reachable"}
    token, channel = settings.slack_bot_token, settings.slack_channel
    hook = settings.slack_webhook_url
    if token is not None and token.get_secret_value().strip() and channel:
        from slack_sdk import WebClient

        try:
            base = settings.slack_api_url
            resp = WebClient(token=token.get_secret_value(), timeout=int(timeout_s) or 1,
                             base_url=base if base.endswith("/") else base + "/").auth_test()
            return {**item, "ok": True,
                    "detail": f"bot token valid (team {resp.get('team', '?')}), "
                              f"channel {channel}"}
        except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
            err = getattr(getattr(exc, "response", None), "get", lambda *_: None)("error")
            return {**item, "ok": False,
                    "detail": f"bot token check failed: {err or type(exc).__name__}"}
    if hook is not None and hook.get_secret_value().strip():
        url = httpx.URL(hook.get_secret_value())
        try:
            httpx.head(f"{url.scheme}://{url.host}/", timeout=timeout_s)
            return {**item, "ok": True, "detail": f"webhook host {url.host} answers"}
        except httpx.HTTPError as exc:
            return {**item, "ok": False,
                    "detail": f"webhook host {url.host} unreachable ({type(exc).__name__})"}
    return {**item, "ok": True,
            "detail": "not configured: start, phase, abort and verdict messages go to the "
                      "console (set GAMEDAY_SLACK_BOT_TOKEN + GAMEDAY_SLACK_CHANNEL, or "
                      "GAMEDAY_SLACK_WEBHOOK_URL)"}


def run_checklist(settings: Settings, urls: StackUrls, runbook: Runbook, *,
                  abort_criteria_agreed: bool, roles: dict[str, Any]) -> list[dict[str, Any]]:
    """The whole checklist, in the order the notebook shows it."""
    missing = [r for r in ("owner", "coordinator", "reporter") if not roles.get(r)]
    return [
        {"item": "roles assigned", "ok": not missing,
         "detail": (f"missing: {', '.join(missing)}" if missing else
                    ", ".join(f"{k}: {v if isinstance(v, str) else ', '.join(v) or '—'}"
                              for k, v in roles.items()))},
        stack_item(urls),
        slack_item(settings),
        {"item": "abort criteria agreed", "ok": bool(abort_criteria_agreed),
         "detail": ("the owner confirmed the abort criteria" if abort_criteria_agreed else
                    "read the abort criteria aloud, then set abort_criteria_agreed = True")},
    ]
