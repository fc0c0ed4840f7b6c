"""What every benchmark needs: the system under test at a base port, the machine, result files.

The stack under test is the system file ``systems/inventory.yaml`` (docs/systems.md), run
by ``gameday system up`` (local) and reached through the generic system driver
(:class:`gameday.drivers.system.SystemFileDriver`): its members' URLs, its faults, its
steady-state probes, detector, oracle and invariants, and its load
(:class:`gameday.systems.load.SystemLoadGenerator`) as a runbook adjusts it
(``runbooks/standard.yaml``'s load, or :func:`load_spec`'s).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gameday.config import get_settings
from gameday.drivers.system import SystemFileDriver
from gameday.errors import NotReady
from gameday.runbook import Fault, LoadSpec, load_runbook
from gameday.systems.compose import SystemComposeTarget
from gameday.systems.load import SystemLoadGenerator
from gameday.systems.loader import load_system
from gameday.systems.local import SystemLocalTarget
from gameday.systems.probe import oracle_values, problems, template_context, wait_steady_state
from gameday.systems.render import render
from gameday.systems.resolve import ResolvedSystem, resolve
from gameday.truth import Truth

__all__ = ["REPO", "GAMEDAY", "RESULTS", "SYSTEM_FILE", "SystemUnderTest", "free_port",
           "load_spec", "loadavg", "machine", "stack", "standard_spec", "target_env",
           "write_json", "percentiles"]

REPO = Path(__file__).resolve().parent.parent
#: The `gameday` beside the running Python (the repository's .venv under `make bench`),
#: else the repository's .venv's.
GAMEDAY = next((p for p in (Path(sys.executable).parent / "gameday",
                            REPO / ".venv" / "bin" / "gameday") if p.exists()),
               REPO / ".venv" / "bin" / "gameday")
RESULTS = REPO / "bench" / "results"
STANDARD_RUNBOOK = REPO / "runbooks" / "standard.yaml"
#: The stack under test, as a system file.
SYSTEM_FILE = REPO / "systems" / "inventory.yaml"
#: The group of the replicas the benchmarks fault.
GROUP = "inventory"
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


def standard_spec() -> LoadSpec:
    """The load of ``runbooks/standard.yaml`` (what ``make gameday`` sends): its rate,
    arrival and timeout, and how it adjusts systems/inventory.yaml's requests (``mix``,
    ``values``, ``follow_up_after_s``), as :class:`SystemLoadGenerator` takes it."""
    return load_runbook(STANDARD_RUNBOOK).load


def load_spec(rate: float, *, read: float, write: float, timeout_s: float = 1.0,
              follow_up_after_s: float = 1.0, products: list[str] | None = None,
              arrival: str = "uniform") -> LoadSpec:
    """systems/inventory.yaml's load at ``rate``: ``read`` (through the voter) and
    ``write`` (an order, cancelled ``follow_up_after_s`` after its answer) weights (0
    leaves a kind out), ``products`` instead of the file's values."""
    return LoadSpec.model_validate({
        "rate": rate, "timeout_s": timeout_s, "arrival": arrival,
        "mix": {"read": read, "write": write},
        "follow_up_after_s": {"write": follow_up_after_s},
        **({"values": {"product": products}} if products else {})})


def target_env(target: str) -> dict[str, str]:
    """The environment of a `gameday` command for ``target`` ("local" or "compose")."""
    env = dict(os.environ)
    if target == "compose":
        env.update({k: env.get(k, v) for k, v in COMPOSE_ENV.items()})
    return env


def gameday(*args: str, target: str = "local") -> None:
    """Run ``gameday ARGS`` for ``target``; raise with its error output if it fails."""
    done = subprocess.run([str(GAMEDAY), *args], check=False, cwd=REPO,
                          env=target_env(target), capture_output=True, text=True)
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip())[-2000:]
        raise RuntimeError(f"gameday {' '.join(args)} exited {done.returncode}: {said}")


@dataclasses.dataclass
class SystemUnderTest:
    """systems/inventory.yaml resolved at a base port on a target, and its driver."""

    resolved: ResolvedSystem
    driver: SystemFileDriver

    @property
    def target(self) -> SystemLocalTarget | SystemComposeTarget:
        return self.driver.target

    @property
    def state_dir(self) -> Path:
        """Where the local target keeps the system's processes' state (the tag every
        process carries, :mod:`bench.sampler`)."""
        return Path(getattr(self.target, "dir", Path(self.driver.settings.state_dir)))

    def url(self, group: str) -> str:
        """The URL of a one-member group (``voter``, ``orders``, ``monitor``)."""
        return self.resolved.groups[group].url

    @property
    def replicas(self) -> list[str]:
        """The replicas' member names (``1``, ``2``, ``3``)."""
        return list(self.resolved.groups[GROUP].members)

    def request_url(self, request: str, **values: Any) -> str:
        """The URL of the file's load request ``request`` with ``values`` drawn."""
        template = self.resolved.system.load.requests[request].url
        return render(template, template_context(self.resolved, **values))

    def replica_urls(self) -> tuple[str, ...]:
        return tuple(m.url for m in self.resolved.groups[GROUP])

    def label(self, replica: str) -> str:
        """How the detector and the driver name a replica: ``inventory/2``."""
        return self.resolved.member(GROUP, replica).label

    def fault(self, ftype: str, replica: str, **params: Any) -> Fault:
        """A fault of the system file on ``replica``, in the runbooks' form."""
        return Fault.model_validate({"type": ftype, "target": f"{GROUP}/{replica}",
                                     "params": params})

    def wait_steady(self, timeout_s: float = 60.0) -> None:
        """Until every steady-state probe of the file holds; NotReady after ``timeout_s``."""
        ok, found = wait_steady_state(self.resolved, timeout_s)
        if not ok:
            raise NotReady(f"not in its steady state after {timeout_s:g} s: "
                           + "; ".join(problems(found)))

    def truth(self) -> Truth:
        """The oracle's values now (the orders ledger), as the GameDay engine reads them."""
        oracle = self.resolved.system.load.oracle
        assert oracle is not None
        return Truth(oracle_values(self.resolved)[1], settle_s=oracle.settle_s)

    def generator(self, spec: LoadSpec, seed: int, *, judged: bool = False
                  ) -> SystemLoadGenerator:
        """The system file's load as ``spec`` adjusts it; ``judged``: reads judged right
        or wrong against the oracle read now."""
        return SystemLoadGenerator(self.resolved, spec, seed,
                                   truth=self.truth() if judged else None)

    def transitions(self, since_s: float) -> list[dict[str, Any]]:
        """The detector's transitions since ``since_s`` (``instance_id``: the label)."""
        return self.driver.transitions(since_s)

    def settle(self, timeout_s: float = 60.0) -> None:
        """Until every invariant holds (replicas equal the ledger: no order pending) and
        the steady state holds."""
        self.driver.consistency(timeout_s=timeout_s)
        self.wait_steady(timeout_s)


def system_under_test(base_port: int, target: str = "local") -> SystemUnderTest:
    """systems/inventory.yaml at ``base_port`` on ``target``, with its driver (nothing is
    started: :func:`stack` does)."""
    env = target_env(target)
    overrides = ({"compose_file": env["GAMEDAY_COMPOSE_FILE"],
                  "compose_project": env["GAMEDAY_COMPOSE_PROJECT"]}
                 if target == "compose" else {})
    settings = get_settings(base_port=base_port, target=target, **overrides)
    resolved = resolve(load_system(SYSTEM_FILE), target=target, base_port=base_port)
    where: SystemLocalTarget | SystemComposeTarget = (
        SystemComposeTarget(resolved, settings, source=SYSTEM_FILE) if target == "compose"
        else SystemLocalTarget(resolved, settings, source=SYSTEM_FILE))
    return SystemUnderTest(resolved, SystemFileDriver(resolved, where, settings,
                                                      source=str(SYSTEM_FILE)))


@contextlib.contextmanager
def stack(base_port: int, *, keep: bool = False,
          target: str = "local") -> Iterator[SystemUnderTest]:
    """A fresh systems/inventory.yaml of ``target`` at ``base_port``, stopped on the way
    out (unless ``keep``), every fault the driver held ended first: ``gameday system
    up``/``down --target TARGET`` (on compose the images of `make images`,
    ``COMPOSE_ENV``)."""
    sut = system_under_test(base_port, target)
    where = [str(SYSTEM_FILE), "--base-port", str(base_port), "--target", target]
    up, down = ["system", "up", *where], ["system", "down", *where]
    try:
        gameday(*up, "--timeout", "300", target=target)
    except Exception:
        with contextlib.suppress(Exception):  # a half-started system leaves nothing behind
            gameday(*down, target=target)
        raise
    try:
        yield sut
    finally:
        sut.driver.roll_back_all()
        sut.driver.close()
        if not keep:
            gameday(*down, target=target)


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
