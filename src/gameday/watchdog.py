"""The watchdog of a dead-man's switch: ``python -m gameday.watchdog SPEC.json``.

Started by :func:`gameday.deadman.arm` in a session of its own. It prints
:data:`~gameday.deadman.ARMED` once it watches, then every ``POLL_S`` looks at its spec
file (gone: disarmed, exit quietly), the harness (dead: fire), the clock (past the
deadline: fire) and its signals (SIGTERM, SIGINT, SIGHUP: fire). Firing runs the rollback,
retrying a failure for the spec's ``retry_for_s`` (not a rollback that cannot be found),
writes a :class:`~gameday.deadman.Firing` beside the spec, removes the spec and exits
(status 1 if the rollback never succeeded). Its log lines go to stderr (the harness sends
them to ``watchdog.log``).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import psutil

from gameday.deadman import (
    ARMED,
    POLL_S,
    FireReason,
    Firing,
    SwitchSpec,
    result_path,
    run_rollback,
    write_atomically,
)
from gameday.errors import FaultError

__all__ = ["watch"]

_RETRY_DELAYS_S = (0.5, 1.0, 2.0, 5.0)


def _harness_alive(spec: SwitchSpec) -> bool:
    try:
        proc = psutil.Process(spec.harness_pid)
        return (abs(proc.create_time() - spec.harness_started_at) < 0.05
                and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _log(spec_id: str, message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    print(f"{stamp} watchdog {os.getpid()} {spec_id}: {message}", file=sys.stderr, flush=True)


def _fire(path: Path, spec: SwitchSpec, reason: FireReason) -> Firing:
    fired_at = time.time()
    attempts, error, output = 0, None, None
    while True:
        attempts += 1
        try:
            output = str(run_rollback(spec.rollback))
            error = None
            break
        except Exception as exc:  # noqa: BLE001 - retried, then reported
            error = f"{type(exc).__name__}: {exc}"
            _log(spec.id, f"rollback attempt {attempts} failed: {error}")
            if isinstance(exc, FaultError) or time.time() - fired_at >= spec.retry_for_s:
                break
            if not path.exists():  # someone else rolled back and disarmed meanwhile
                break
            time.sleep(_RETRY_DELAYS_S[min(attempts, len(_RETRY_DELAYS_S)) - 1])
    return Firing(id=spec.id, reason=reason, fired_at=fired_at, finished_at=time.time(),
                  ok=error is None, attempts=attempts, output=output, error=error)


def watch(path: Path) -> int:
    """The watchdog's loop: fire on TTL, harness death or a signal; exit when disarmed."""
    spec = SwitchSpec.model_validate_json(path.read_text(encoding="utf-8"))
    signalled: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda s, _f: signalled.append(s))
    # The TTL runs from now, when the harness learns it may inject: counted from before
    # this process started, a slow start-up would shorten every fault by its length.
    deadline = time.time() + (spec.expires_at - spec.armed_at)
    print(ARMED, flush=True)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # the harness closed its end of the pipe
    reason: FireReason
    while True:
        if not path.exists():
            _log(spec.id, "disarmed")
            return 0
        if signalled:
            reason = "signal"
            break
        if not _harness_alive(spec):
            reason = "harness-died"
            break
        if time.time() >= deadline:
            reason = "ttl"
            break
        time.sleep(POLL_S)
    _log(spec.id, f"firing ({reason}): {spec.rollback.description or spec.rollback.call}")
    firing = _fire(path, spec, reason)
    write_atomically(result_path(path), firing.model_dump_json(indent=2))
    path.unlink(missing_ok=True)
    _log(spec.id, f"{'rolled back' if firing.ok else 'ROLLBACK FAILED'} after "
                  f"{firing.attempts} attempt(s): {firing.output or firing.error}")
    return 0 if firing.ok else 1


if __name__ == "__main__":  # pragma: no cover - run as the watchdog process
    if len(sys.argv) != 2:
        sys.exit("usage: python -m gameday.watchdog SPEC.json")
    sys.exit(watch(Path(sys.argv[1])))
