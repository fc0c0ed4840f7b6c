"""What every benchmark needs: the stack at a base port, the machine, result files."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gameday.config import get_settings
from gameday.runbook import LoadSpec, load_runbook
from gameday.targets import StackUrls, get_target
from gameday.targets.base import Target

__all__ = ["REPO", "GAMEDAY", "RESULTS", "free_port", "loadavg", "machine", "stack",
           "standard_load", "target_env", "write_json", "percentiles"]

REPO = Path(__file__).resolve().parent.parent
GAMEDAY = REPO / ".venv" / "bin" / "gameday"
RESULTS = REPO / "bench" / "results"
STANDARD_RUNBOOK = REPO / "runbooks" / "standard.yaml"
#: The compose target runs the images of `make images` in a project of its own.
COMPOSE_ENV = {"GAMEDAY_COMPOSE_FILE": "docker-compose.yml:docker-compose.local.yml",
               "GAMEDAY_COMPOSE_PROJECT": "gdbench"}


def loadavg() -> list[float]:
    """The 1, 5 and 15 min load averages, rounded."""
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    """Cores, CPU model, memory, Python, kernel: where the figures came from."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_gb = None
    with contextlib.suppress(OSError, ValueError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem_gb = round(kb / 1024 / 1024, 1)
    return {"cores": os.cpu_count(), "cpu": model, "mem_gb": mem_gb,
            "python": platform.python_version(), "kernel": platform.release(),
            "loadavg_at_start": loadavg()}


def standard_load() -> LoadSpec:
    """The load of ``runbooks/standard.yaml`` (what ``make gameday`` sends) as the
    benchmarks' inventory load generator takes it: that runbook adjusts
    systems/inventory.yaml's requests (``read`` through the voter, ``write`` an order),
    so its mix is the read ratio, its ``product`` values the products and the write's
    follow-up delay the cancel delay."""
    load = load_runbook(STANDARD_RUNBOOK).load
    mix, values, after = load.mix or {}, load.values or {}, load.follow_up_after_s or {}
    return load.model_copy(update={
        "read_ratio": mix["read"] / sum(mix.values()), "products": values["product"],
        "cancel_after_s": after["write"], "mix": None, "values": None,
        "follow_up_after_s": None})


def target_env(target: str) -> dict[str, str]:
    """The environment of a `gameday` command for ``target`` ("local" or "compose")."""
    env = dict(os.environ)
    if target == "compose":
        env.update({k: env.get(k, v) for k, v in COMPOSE_ENV.items()})
    return env


def gameday(*args: str, target: str = "local") -> None:
    """Run ``gameday ARGS`` for ``target``; raise with its error output if it fails."""
    subprocess.run([str(GAMEDAY), *args], check=True, cwd=REPO, env=target_env(target),
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@contextlib.contextmanager
def stack(base_port: int, *, keep: bool = False,
          target: str = "local") -> Iterator[tuple[Target, StackUrls]]:
    """A fresh stack of ``target`` at ``base_port``, stopped on the way out (unless
    ``keep``). Compose runs the images of `make images` (``COMPOSE_ENV``)."""
    env = target_env(target)
    overrides = ({"compose_file": env["GAMEDAY_COMPOSE_FILE"],
                  "compose_project": env["GAMEDAY_COMPOSE_PROJECT"]}
                 if target == "compose" else {})
    driver = get_target(target, get_settings(base_port=base_port, target=target, **overrides))
    where = ["--base-port", str(base_port), "--target", target]
    gameday("stack", "up", *where, "--timeout", "300", target=target)
    try:
        yield driver, driver.urls
    finally:
        if not keep:
            gameday("stack", "down", *where, target=target)


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def percentiles(values: list[float], qs: tuple[float, ...] = (0.0, 0.5, 0.95, 1.0)
                ) -> dict[str, float | None]:
    """min/median/p95/max of ``values`` with the project's one percentile definition
    (:func:`gameday.metrics.percentile`: linear interpolation, as numpy and pandas)."""
    from gameday.metrics import percentile

    names = {0.0: "min", 0.5: "median", 0.95: "p95", 0.99: "p99", 1.0: "max"}
    return {names.get(q, f"p{q * 100:g}"): percentile(values, q) for q in qs}


def wait(seconds: float) -> None:
    time.sleep(max(0.0, seconds))


def free_port() -> int:
    """A TCP port nothing listens on at 127.0.0.1 (the kernel's pick)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
