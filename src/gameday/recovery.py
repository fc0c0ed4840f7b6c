"""Finding a GameDay whose process died, and finishing what it owed.

A run killed with ``kill -9`` (or a crashed host process) cannot conclude: its journal
stays ``status: running`` with no end, its last fault clears only by its TTL, and the
requests its load sent wait for follow-ups (``follow_up_after_s``: e.g. cancelling an
order) that never come. Whoever takes the target's
lock next (:meth:`gameday.lifecycle.GameDay.acquire`: the next run, ``gameday abort``, a
Prefect state hook) calls :func:`recover_interrupted`, which, for every such run of that
target on this machine:

1. sends the requests it still owed (:mod:`gameday.owed`): a system file's follow-ups,
2. marks its journal ``interrupted``: when and by whom it was found, why, the phase it
   was in, what was sent, and ends it at its last recorded moment,

and then, when it found one, clears every fault of the system's fault API (its faults
held by dead-man's switches are ended by :func:`gameday.deadman.fire_armed`).
Holding the lock is what makes this safe: a run still alive would hold it.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from gameday.fingerprint import utc_time
from gameday.http import client
from gameday.journal import JOURNAL_FILE, JournalUnreadable, read_journal, write_journal
from gameday.junit import write_junit
from gameday.owed import OWED_FILE, OwedRequest, OwedRequests, owed_entries
from gameday.run_record import Interruption, JournalRecord
from gameday.systems.render import env, render
from gameday.targets.base import Target

__all__ = ["dead_runs", "send_owed", "mark_interrupted", "roll_back",
           "recover_run", "recover_interrupted"]

Progress = Callable[[str], None]


def _peek(path: Path) -> dict[str, Any]:
    """The few top-level fields that say whether a journal is a candidate (no validation)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def dead_runs(reports_dir: str | Path, target_key: str, *,
              previous: dict[str, Any] | None = None) -> list[Path]:
    """Run folders of ``target_key`` on this machine whose journal still says ``running``.

    ``previous`` is what the lock file said when the caller took the lock (the holder
    that died with it): its run folder is looked at even if it lies in another reports
    folder. Call this only while holding the target's lock.
    """
    host = socket.gethostname()
    folders = {p.parent for p in Path(reports_dir).glob(f"*/{JOURNAL_FILE}")}
    if previous and previous.get("run_dir"):
        folders.add(Path(str(previous["run_dir"])))
    out = []
    for folder in sorted(folders):
        data = _peek(folder / JOURNAL_FILE)
        process = data.get("process") or {}
        if (data.get("status") == "running" and data.get("target_key") == target_key
                and process.get("host") == host):
            out.append(folder)
    return out


def _render_env_headers(request: OwedRequest) -> dict[str, str]:
    """The headers kept as templates because they read the environment, rendered now."""
    return {k: render(v, {"env": env}) for k, v in request.env_headers.items()}


def _send_one(http: httpx.Client, request: OwedRequest) -> int:
    """Send one owed request: its status (0: no answer, or a header template that cannot
    render)."""
    try:
        headers = {**request.headers, **_render_env_headers(request)}
        return http.request(request.method, request.url, headers=headers or None,
                            json=request.json_).status_code
    except Exception:  # noqa: BLE001 - httpx's errors, a header that cannot render: owed
        return 0


def send_owed(run_dir: Path, *, transport: httpx.BaseTransport | None = None
              ) -> tuple[int, list[str]]:
    """Send every request ``run_dir``'s run still owed; returns (sent, failed keys).

    Each entry carries its request (method, URL, body, headers, expected statuses); an
    entry without one (written before requests were recorded with it) cannot be sent and
    is said as failed. An expected status settles an entry, and so does a 4xx (the system
    refused it: "already cancelled", "no such order"); anything else, or no answer, leaves
    it owed for the next try. The file goes once nothing is owed.
    """
    path = run_dir / OWED_FILE
    owed = owed_entries(path)
    if not owed:
        path.unlink(missing_ok=True)
        return 0, []
    book = OwedRequests(path)
    sent, failed = 0, list[str]()
    with client(timeout_s=2.0, transport=transport) as http:
        for entry in owed:
            request = entry.request
            if request is None:
                failed.append(entry.key)
                continue
            code = _send_one(http, request)
            if request.settled_by(code):
                book.paid(entry.key)
                sent += code in request.expect
            else:
                failed.append(entry.key)
    book.close()
    return sent, failed


def _last_moment(journal: JournalRecord) -> Any:
    """The last time the journal recorded anything: its end when it has none."""
    times = [journal.start] + [a.end for a in journal.run + journal.rollbacks]
    times += [p.end for p in journal.phases if p.end is not None]
    return max(times)


def mark_interrupted(run_dir: Path, *, found_by: str, reason: str, follow_ups_sent: int = 0,
                     follow_ups_failed: list[str] | None = None,
                     rolled_back: dict[str, Any] | None = None) -> JournalRecord:
    """Rewrite ``run_dir``'s journal as ``interrupted`` (only a ``running`` one)."""
    journal = read_journal(run_dir / JOURNAL_FILE)
    if journal.status != "running":
        return journal
    end = _last_moment(journal)
    journal.interruption = Interruption(
        found_at=utc_time(), found_by=found_by, reason=reason,
        phase=journal.phase_in_progress(), follow_ups_sent=follow_ups_sent,
        follow_ups_failed=follow_ups_failed or [], rolled_back=rolled_back or {})
    journal.status, journal.deviated = "interrupted", True
    journal.end = end
    journal.duration = round((end - journal.start).total_seconds(), 3)
    write_journal(run_dir, journal)
    write_junit(run_dir, journal)
    return journal


def roll_back(target: Target, settings: Any) -> dict[str, Any]:
    """Clear every fault of the system's fault API on every member (its ``http`` faults'
    ``clear``); what was done (never raises). Its other faults are held by dead-man's
    switches (:func:`gameday.deadman.fire_armed`) or end by their own TTL; a killed
    process is restarted by the launcher's supervisor."""
    from gameday.systems.providers import clear_http_faults

    resolved = getattr(target, "resolved", None)
    if resolved is None:
        return {"error": f"target {target.name} runs no system file: nothing to clear"}
    rolled: dict[str, Any] = {"system": resolved.system.name}
    try:
        rolled["cleared"] = cleared = clear_http_faults(resolved)
    except Exception as exc:  # noqa: BLE001 - the system may be down: the TTL still holds
        rolled["error"] = f"{type(exc).__name__}: {exc}"
        return rolled
    failed = [f"{where}: {why}" for where, why in cleared.items()
              if why.startswith("not cleared")]
    if failed:  # the faults' own TTLs still end them
        rolled["error"] = f"{len(failed)} of {len(cleared)} clears failed, first {failed[0]}"
    return rolled


def recover_run(run_dir: Path, target: Target, *, settings: Any, found_by: str, reason: str,
                rolled_back: dict[str, Any] | None = None) -> JournalRecord:
    """Finish one dead run: roll back (unless ``rolled_back`` says it was), send its owed
    follow-ups, mark its journal interrupted."""
    rolled = rolled_back if rolled_back is not None else roll_back(target, settings)
    sent: int = 0
    failed: list[str] = []
    if (run_dir / OWED_FILE).exists():
        sent, failed = send_owed(run_dir)
    return mark_interrupted(run_dir, found_by=found_by, reason=reason, follow_ups_sent=sent,
                            follow_ups_failed=failed, rolled_back=rolled)


def recover_interrupted(target: Target, target_key: str, reports_dir: str | Path, *,
                        settings: Any, found_by: str, previous: dict[str, Any] | None = None,
                        progress: Progress = print) -> list[str]:
    """Finish every dead run of ``target_key`` (module docstring); returns their run ids.
    Never raises for one run's trouble: it is said through ``progress``."""
    runs = dead_runs(reports_dir, target_key, previous=previous)
    if not runs:
        return []
    rolled = roll_back(target, settings)
    found = []
    for run_dir in runs:
        try:
            process = read_journal(run_dir / JOURNAL_FILE).process
            journal = recover_run(
                run_dir, target, settings=settings, found_by=found_by, rolled_back=rolled,
                reason=f"its process (pid {process.pid if process else '?'}) ended without "
                       "concluding the run (killed, or its machine stopped); found when "
                       f"{found_by} took the lock of {target_key}")
        except (JournalUnreadable, OSError) as exc:
            progress(f"gameday: could not mark {run_dir.name} interrupted: {exc}")
            continue
        found.append(journal.run_id)
        stop = journal.interruption
        assert stop is not None
        progress(f"gameday: run {journal.run_id} had died mid-GameDay"
                 + (f" (in phase {stop.phase})" if stop.phase else "")
                 + f": marked interrupted, {stop.follow_ups_sent} owed follow-up request(s) sent"
                 + (f", {len(stop.follow_ups_failed)} could not be sent"
                    if stop.follow_ups_failed else "")
                 + f"; `gameday report {journal.run_id}` renders what it recorded")
    return found
