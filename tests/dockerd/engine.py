"""A real Docker engine and a tiny local image for tests that drive Docker.

``docker_engine()`` returns a docker client for a running engine: the one at DOCKER_HOST
(or the default socket) when it answers, else a ``dockerd`` this helper starts as root,
with no bridge, no iptables and the vfs storage driver, so it works inside a sandbox.
The daemon is left running for later sessions. It calls ``pytest.skip`` only when no
engine can start (not root, no dockerd binary, or the daemon did not come up), and says why.

``busybox_image()`` builds ``gameday-test-busybox:latest`` ``FROM scratch`` with the static
busybox of Debian's busybox-static: no registry is reachable here, so nothing is pulled.
Containers made from it serve HTTP with ``busybox httpd`` on host networking, loopback only.

This directory has no ``__init__.py`` on purpose: a package called ``docker`` beside the
tests would shadow the docker SDK. Load it with :func:`load` from a test module.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.errors import DockerException

__all__ = [
    "BUSYBOX_IMAGE",
    "docker_engine",
    "busybox_image",
    "free_ports",
    "dockerd_command",
]

BUSYBOX_IMAGE = "gameday-test-busybox:latest"
DEFAULT_SOCKET = "/var/run/docker.sock"
_START_TIMEOUT_S = 60.0
_CLIENT_TIMEOUT_S = 30


def dockerd_command() -> list[str]:
    """How the tests start an engine: no bridge network, no iptables, vfs storage."""
    return [
        "dockerd",
        "--bridge=none",
        "--iptables=false",
        "--ip6tables=false",
        "--storage-driver=vfs",
        f"--host=unix://{DEFAULT_SOCKET}",
    ]


def _client(timeout: int = _CLIENT_TIMEOUT_S) -> Any:
    client = docker.from_env(timeout=timeout)
    client.ping()
    return client


def _log_path() -> Path:
    state = Path(__file__).resolve().parents[2] / ".gameday"
    state.mkdir(parents=True, exist_ok=True)
    return state / "dockerd-tests.log"


def _remove_stale_pidfile() -> None:
    # A dockerd that died leaves its pid file behind and a new one refuses to start.
    pidfile = Path("/var/run/docker.pid")
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pidfile.unlink(missing_ok=True)
    except PermissionError:
        pass


def docker_engine() -> Any:
    """A docker client for a running engine, starting ``dockerd`` when none answers."""
    try:
        return _client()
    except DockerException as exc:
        first_error = exc
    if os.environ.get("DOCKER_HOST"):
        pytest.skip(f"DOCKER_HOST={os.environ['DOCKER_HOST']} does not answer: {first_error}")
    if os.geteuid() != 0:
        pytest.skip("no Docker engine answers and starting dockerd needs root")
    if shutil.which("dockerd") is None:
        pytest.skip("no Docker engine answers and there is no dockerd (apt-get install docker.io)")

    _remove_stale_pidfile()
    log = _log_path()
    with log.open("ab") as out:
        # A new session: the daemon outlives the test run on purpose (it may stay running).
        proc = subprocess.Popen(
            dockerd_command(),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + _START_TIMEOUT_S
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            return _client()
        except DockerException as exc:
            last = exc
            time.sleep(0.5)
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-10:])
    pytest.skip(
        f"dockerd did not come up within {_START_TIMEOUT_S:.0f} s "
        f"(exit code {proc.returncode}, last error {last}); log {log}:\n{tail}"
    )


def _static_busybox() -> Path | None:
    """The busybox binary if it is statically linked (needed in a FROM scratch image)."""
    for candidate in ("/bin/busybox", "/usr/bin/busybox", shutil.which("busybox")):
        if candidate and Path(candidate).is_file() and _is_static_elf(Path(candidate)):
            return Path(candidate)
    return None


def _is_static_elf(path: Path) -> bool:
    # A dynamically linked ELF has a PT_INTERP (type 3) program header.
    with path.open("rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:  # 64-bit only
            return False
        phoff = struct.unpack_from("<Q", head, 0x20)[0]
        phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    types = [struct.unpack_from("<I", table, i * phentsize)[0] for i in range(phnum)]
    return 3 not in types


def busybox_image(client: Any) -> str:
    """Build (or reuse) the scratch busybox image and return its tag."""
    try:
        client.images.get(BUSYBOX_IMAGE)
        return BUSYBOX_IMAGE
    except docker.errors.ImageNotFound:
        pass
    busybox = _static_busybox()
    if busybox is None:
        pytest.skip("no statically linked busybox (apt-get install busybox-static)")
    with tempfile.TemporaryDirectory(prefix="gameday-busybox-") as ctx:
        root = Path(ctx)
        shutil.copy2(busybox, root / "busybox")
        (root / "www").mkdir()
        (root / "www" / "health").write_text('{"status": "UP"}\n')
        (root / "Dockerfile").write_text(
            'FROM scratch\nCOPY busybox /bin/busybox\nCOPY www /www\nENTRYPOINT ["/bin/busybox"]\n'
        )
        client.images.build(path=str(root), tag=BUSYBOX_IMAGE, rm=True, forcerm=True)
    return BUSYBOX_IMAGE


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1, far from the stack's defaults."""
    ports: list[int] = []
    sockets = []
    try:
        while len(ports) < count:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            sockets.append(s)
            if port not in (5001, 5002, 5003, 5004, 5005, 5006, 5432, 9092):
                ports.append(port)
    finally:
        for s in sockets:
            s.close()
    return ports
