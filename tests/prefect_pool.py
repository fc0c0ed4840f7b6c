"""A real Prefect server with a process work pool and workers, through the real CLIs:
what the flow tests that run deployments on workers share (one copy)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PREFECT = str(BIN / "prefect")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prefect_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This environment without PREFECT_* settings, a private PREFECT_HOME, the repo on
    PYTHONPATH, and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect"),
        PYTHONPATH=os.pathsep.join(
            p for p in (str(REPO / "src"), str(REPO), os.environ.get("PYTHONPATH")) if p
        ),
        **extra,
    )
    return env


def stop(process: subprocess.Popen | None, sig: int = signal.SIGTERM) -> None:
    """End ``process`` (and its group when it does not go)."""
    if process is not None and process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


@dataclass
class ProcessPool:
    """A Prefect server at ``api``, a process work pool ``name`` with the GameDay
    deployments registered in it; :meth:`worker` starts a worker."""

    api: str
    env: dict[str, str]
    name: str
    tmp: Path
    workers: list[subprocess.Popen] = field(default_factory=list)

    def worker(self, log: str = "worker.log", *, limit: int | None = None,
               **env: str) -> subprocess.Popen:
        """A ``prefect worker start`` of the pool (``env`` added to its environment),
        logging to ``tmp/log``; stopped with the pool."""
        args = [PREFECT, "worker", "start", "--pool", self.name]
        if limit is not None:
            args += ["--limit", str(limit)]
        with open(self.tmp / log, "wb") as out:
            proc = subprocess.Popen(args, cwd=self.tmp, env={**self.env, **env}, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.workers.append(proc)
        return proc

    def logs(self, tail: int = 6000) -> str:
        return "\n".join((p.read_text(errors="replace")[-tail:])
                         for p in sorted(self.tmp.glob("worker*.log")))


@contextmanager
def process_pool(tmp_path: Path, name: str = "gameday-pool", **env: str
                 ) -> Iterator[ProcessPool]:
    """A Prefect server, the process work pool ``name`` and the deployments of
    ``python -m flows.deployments --work-pool name``; all stopped afterwards."""
    from gameday.cli.serve import start_prefect_server, stop_process, wait_healthy

    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    penv = prefect_env(tmp_path, PREFECT_API_URL=api, PREFECT_WORKER_QUERY_SECONDS="2", **env)
    server_log = tmp_path / "server.log"
    server = start_prefect_server(port, penv, log_path=server_log)
    pool = ProcessPool(api, penv, name, tmp_path)
    try:
        wait_healthy(api, 150, server, server_log)
        subprocess.run([PREFECT, "work-pool", "create", name, "--type", "process"],
                       env=penv, check=True, capture_output=True, timeout=120)
        registered = subprocess.run(
            [sys.executable, "-m", "flows.deployments", "--work-pool", name],
            cwd=REPO, env=penv, capture_output=True, text=True, timeout=180)
        assert registered.returncode == 0, registered.stderr[-3000:]
        yield pool
    finally:
        for worker in pool.workers:
            stop(worker)
        stop_process(server, group=True)


def two_base_ports(free_base_port: Callable[[], int]) -> list[int]:
    """Two free base ports at least 20 apart: two stacks side by side, one per worker."""
    ports = [free_base_port()]
    while abs((second := free_base_port()) - ports[0]) < 20:
        pass
    ports.append(second)
    return ports
