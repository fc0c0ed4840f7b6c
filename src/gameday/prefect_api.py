"""The Prefect API server a ``gameday run`` needs, started as a child that dies with it.

Without ``PREFECT_API_URL``, Prefect would start its own "ephemeral" API server at the
first flow call, as a subprocess that outlives a ``kill -9`` of the harness (re-parented
to pid 1, holding the Prefect database, making later runs time out). So ``gameday run``
starts the same server itself, the way Prefect does (uvicorn with Prefect's app factory,
UI off, on a free loopback port), through :func:`gameday.children.spawn` — it dies with
the harness — and points ``PREFECT_API_URL`` at it for this process. Orphans of earlier
runs are reaped first. A server that does not come up is one sentence
(:class:`~gameday.errors.GameDayError`) naming its log, not a traceback.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
import time
from pathlib import Path

import httpx

from gameday.children import reap, spawn
from gameday.errors import GameDayError

__all__ = ["ApiServer", "start_api_server"]

#: Seconds to wait for the server's /api/health (Prefect's own default is 20 s; a busy
#: 2-core machine needs more).
STARTUP_TIMEOUT_S = 120.0


class ApiServer:
    """An API server child: :meth:`wait_ready` until it answers, :meth:`stop` ends it."""

    def __init__(self, proc: object, url: str, log: Path) -> None:
        self.proc, self.url, self.log = proc, url, log

    def wait_ready(self, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        """Return once ``/api/health`` answers. Raises GameDayError (one sentence naming
        the log) when it exits or is too slow."""
        import subprocess

        proc, log = self.proc, self.log
        assert isinstance(proc, subprocess.Popen)
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise GameDayError(
                    f"the Prefect API server exited with code {proc.returncode} before it "
                    f"answered (log {log}: {_tail(log) or 'empty'})")
            try:
                if httpx.get(f"{self.url}/health", timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise GameDayError(
                    f"the Prefect API server did not answer within {timeout_s:g} s (log "
                    f"{log}: {_tail(log) or 'empty'}); is the machine overloaded, or "
                    "PREFECT_HOME's database locked by another process?")
            time.sleep(0.2)

    def stop(self, timeout_s: float = 10.0) -> None:
        import subprocess

        proc = self.proc
        assert isinstance(proc, subprocess.Popen)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int = 3) -> str:
    """The log's last meaningful lines, on one line (no traceback carets, no blanks)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    kept = [ln.strip() for ln in text if ln.strip().strip("^~ ") and "sqlalche.me" not in ln]
    return " | ".join(kept[-lines:])


def start_api_server(state_dir: str | Path) -> ApiServer | None:
    """Spawn a Prefect API server for this process unless ``PREFECT_API_URL`` is set (then
    None) and point ``PREFECT_API_URL`` at it; call before Prefect is imported (it reads
    its settings then). It boots in the background: :meth:`ApiServer.wait_ready` before
    the first flow call. Reaps what dead harnesses left first."""
    reap(state_dir)
    if os.environ.get("PREFECT_API_URL"):
        return None
    spec = importlib.util.find_spec("prefect")  # not imported: it reads settings at import
    if spec is None or spec.origin is None:
        raise GameDayError("Prefect is not installed in this environment (make install)")
    port = _free_port()
    log = Path(state_dir) / "logs" / f"prefect-api-{os.getpid()}.log"
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
           "PREFECT__SERVER_FINAL": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    proc = spawn([sys.executable, "-m", "uvicorn", "--app-dir",
                  str(Path(spec.origin).parent.parent), "--factory",
                  "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port",
                  str(port), "--log-level", "error", "--lifespan", "on"],
                 state_dir=state_dir, env=env, log=log)
    server = ApiServer(proc, f"http://127.0.0.1:{port}/api", log)
    os.environ["PREFECT_API_URL"] = server.url
    return server
