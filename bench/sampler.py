"""What the stack's processes cost while a benchmark runs: CPU, memory, sockets, voter gauges.

A thread samples every ``interval_s``: per stack process (found by the
``GAMEDAY_STACK_DIR`` tag every process of a local stack carries) the CPU share since the
last sample (% of one core), resident memory (MiB) and open sockets (file descriptors
that are sockets); and the voter's ``/voting-stats`` gauges (requests in flight per
replica, event-loop lag, connections opened) and each replica's event lag (order events
not yet applied, from its ``/health``). Postgres rewrites its processes' environment, so
its backends are found as the children of the postmaster.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import loadavg

__all__ = ["Sampler", "stack_processes"]

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE_MIB = os.sysconf("SC_PAGE_SIZE") / 2**20


def stack_processes(stack_dir: Path) -> dict[int, str]:
    """pid → name (inventory-1, voter, postgres, kafka, ...) of one local stack's processes."""
    tag = f"GAMEDAY_STACK_DIR={Path(stack_dir).resolve()}".encode()
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            env = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if tag not in env:
            continue
        module = cmd[2].decode() if len(cmd) > 2 and cmd[1] == b"-m" else ""
        if module.startswith("stack."):
            service = module.split(".")[1]
            instance = next((v[len(b"INSTANCE_ID="):].decode() for v in env
                             if v.startswith(b"INSTANCE_ID=")), "")
            found[int(entry)] = f"{service}-{instance}" if service == "inventory" else service
        elif cmd[0].endswith(b"postgres"):
            found[int(entry)] = "postgres"
            found.update({child: "postgres" for child in _children(int(entry))})
        elif b"broker" in cmd:
            found[int(entry)] = "kafka"
    return found


def _children(pid: int) -> list[int]:
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
        return [int(c) for t in tasks
                for c in Path(f"/proc/{pid}/task/{t}/children").read_text().split()]
    except OSError:
        return []


def _proc(pid: int) -> tuple[float, float, float, int] | None:
    """(cpu seconds, rss MiB, private MiB, sockets) of ``pid``, None when it is gone.
    *Private* is resident memory minus its shared pages (``statm``'s resident − shared):
    what the process holds alone. Summing RSS over processes counts a shared page (a
    library, Postgres's shared buffers) once per process that touched it, so Postgres's
    summed RSS grows as more backends touch the same buffers with nothing leaking."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        statm = Path(f"/proc/{pid}/statm").read_text().split()
        rss = int(statm[1]) * _PAGE_MIB
        private = (int(statm[1]) - int(statm[2])) * _PAGE_MIB
        sockets = 0
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                sockets += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK, rss, private, sockets


class Sampler:
    def __init__(self, stack_dir: Path, voter_url: str, replica_urls: tuple[str, ...] = (),
                 *, interval_s: float = 1.0) -> None:
        self.stack_dir = Path(stack_dir)
        self.voter_url = voter_url
        self.replica_urls = replica_urls
        self.interval_s = interval_s
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        procs = stack_processes(self.stack_dir)
        last_cpu: dict[int, float] = {}
        last_t = time.monotonic()
        with httpx.Client(timeout=1.0) as http:
            while not self._stop.wait(self.interval_s):
                now = time.monotonic()
                if len(self.samples) % 10 == 0:
                    procs = stack_processes(self.stack_dir)  # restarted replicas
                per: dict[str, dict[str, float]] = {}
                for pid, name in procs.items():
                    got = _proc(pid)
                    if got is None:
                        continue
                    cpu_s, rss, private, sockets = got
                    row = per.setdefault(name, {"cpu_pct": 0.0, "rss_mib": 0.0,
                                                "private_mib": 0.0, "sockets": 0})
                    if pid in last_cpu:
                        row["cpu_pct"] += 100.0 * (cpu_s - last_cpu[pid]) / (now - last_t)
                    last_cpu[pid] = cpu_s
                    row["rss_mib"] += rss
                    row["private_mib"] += private
                    row["sockets"] += sockets
                try:
                    voter = http.get(f"{self.voter_url}/voting-stats").json()["voting_stats"]
                except (httpx.HTTPError, ValueError, KeyError):
                    voter = {}
                lag: dict[str, int | None] = {}
                for i, url in enumerate(self.replica_urls, start=1):
                    try:
                        lag[str(i)] = http.get(f"{url}/health").json()["events"]["lag"]
                    except (httpx.HTTPError, ValueError, KeyError, TypeError):
                        lag[str(i)] = None
                self.samples.append({
                    "t": time.time(), "loadavg": loadavg(), "processes": per,
                    "replica_event_lag": lag,
                    "voter": {k: voter.get(k) for k in (
                        "total_requests", "quorum_failed", "retries", "lag_retries",
                        "in_flight", "max_in_flight", "connections_opened", "loop_lag",
                        "off_instances", "skipped_by_instance")},
                })
                last_t = now
