"""A real Docker engine and local images for the tests that drive Docker.

``ensure_engine()`` returns a docker client for a running engine: the one at DOCKER_HOST
(or the default socket) when it answers; else it starts one: ``systemctl start docker``
where systemd runs, otherwise ``dockerd`` with the flags of :func:`dockerd_command` (bridge
networks without iptables: it works inside a VM or sandbox; storage on overlay2 where the
kernel and the filesystem allow it, else vfs, which works anywhere but copies every image
for every container), as root or through ``sudo -n``. The daemon is left running for later
sessions. When no engine can run it returns the reason instead. ``python
tests/dockerd/engine.py`` does the same on the command line (``make docker-engine``,
``make test``).

For tests: ``docker_engine()`` (an engine or skip), ``stack_images()`` (``make images``,
cached, or skip) and ``busybox_image()`` (a FROM scratch image with Debian's static
busybox, for driver tests that need no stack). They skip only when this machine truly
cannot (the reason in the skip message); under ``CI=true`` they fail instead, so CI never
passes by skipping.

This directory has no ``__init__.py`` on purpose: a package called ``docker`` beside the
tests would shadow the docker SDK. Tests get it from the ``docker_helpers`` fixture
(tests/conftest.py).
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NoReturn

import docker
from docker.errors import DockerException

__all__ = [
    "BUSYBOX_IMAGE",
    "LOCAL_COMPOSE_FILES",
    "busybox_image",
    "docker_engine",
    "dockerd_command",
    "ensure_engine",
    "free_ports",
    "skip_or_fail",
    "stack_images",
]

REPO = Path(__file__).resolve().parents[2]
BUSYBOX_IMAGE = "gameday-test-busybox:latest"
#: The compose files that run the stack on the images of `make images`.
LOCAL_COMPOSE_FILES = f"{REPO / 'docker-compose.yml'}:{REPO / 'docker-compose.local.yml'}"
DEFAULT_SOCKET = "/var/run/docker.sock"
#: cgroup v1 with the cgroupfs driver puts every container under one parent cgroup, and
#: that parent competes for the CPU as *one* task against each process of the root
#: cgroup. On a busy machine the whole stack then gets one process's share and the voter
#: starves (measured: nearly every read timed out at load 13). Give the parent the weight
#: of the eight processes the local target runs instead: parity, not priority.
DOCKER_CPU_CGROUP = Path("/sys/fs/cgroup/cpu/docker")
STACK_CPU_SHARES = 8 * 1024
_START_TIMEOUT_S = 60.0
_CLIENT_TIMEOUT_S = 30


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the test saying why; under CI=true fail instead (CI must run everything)."""
    import pytest

    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true and this test cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


#: Storage drivers tried in turn: overlay2 shares image layers between containers (a
#: stack starts in ~20 s, goes in ~7 s); vfs copies them (~60 s and ~50 s here) but runs
#: where overlay mounts are refused (e.g. /var/lib/docker on overlayfs).
STORAGE_DRIVERS = ("overlay2", "vfs")


def dockerd_command(storage_driver: str = STORAGE_DRIVERS[0]) -> list[str]:
    """How an engine is started here: bridge networks with service-name DNS and ports
    published on the host, no iptables (none in a sandbox)."""
    return [
        "dockerd",
        "--iptables=false",
        "--ip6tables=false",
        f"--storage-driver={storage_driver}",
        f"--host=unix://{DEFAULT_SOCKET}",
    ]


def _client(timeout: int = _CLIENT_TIMEOUT_S) -> Any:
    client = docker.from_env(timeout=timeout)
    client.ping()
    return client


def _log_path() -> Path:
    state = REPO / ".gameday"
    state.mkdir(parents=True, exist_ok=True)
    return state / "dockerd.log"


def _privileged() -> list[str] | None:
    """The prefix that runs a command as root here ([] as root, sudo -n), or None."""
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") and subprocess.run(
        ["sudo", "-n", "true"], capture_output=True, check=False
    ).returncode == 0:
        return ["sudo", "-n"]
    return None


def _remove_stale_pidfile(prefix: list[str]) -> None:
    # A dockerd that died leaves its pid file behind and a new one refuses to start.
    pidfile = Path("/var/run/docker.pid")
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    if not Path(f"/proc/{pid}").exists():
        subprocess.run([*prefix, "rm", "-f", str(pidfile)], capture_output=True, check=False)


def _wait_for_engine(proc: subprocess.Popen[bytes] | None) -> tuple[Any, str]:
    deadline = time.monotonic() + _START_TIMEOUT_S
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            break
        try:
            return _client(), ""
        except DockerException as exc:
            last = exc
            time.sleep(0.5)
    return None, f"the engine did not answer within {_START_TIMEOUT_S:.0f} s ({last})"


def _share_cpu_fairly() -> None:
    """Set the containers' parent cgroup to STACK_CPU_SHARES (cgroup v1, as root only)."""
    if os.geteuid() != 0 or not DOCKER_CPU_CGROUP.parent.is_dir():
        return
    try:
        DOCKER_CPU_CGROUP.mkdir(exist_ok=True)
        (DOCKER_CPU_CGROUP / "cpu.shares").write_text(f"{STACK_CPU_SHARES}\n")
    except OSError:
        pass  # a read-only or v2-only hierarchy: nothing to do


def ensure_engine() -> tuple[Any, str]:
    """(client, "") for a running engine, started if need be; (None, why) if none can run."""
    client, why = _start_engine()
    if client is not None and not os.environ.get("DOCKER_HOST"):
        _share_cpu_fairly()
    return client, why


def _start_engine() -> tuple[Any, str]:
    try:
        return _client(), ""
    except DockerException as exc:
        first_error = exc
    if os.environ.get("DOCKER_HOST"):
        return None, f"DOCKER_HOST={os.environ['DOCKER_HOST']} does not answer: {first_error}"
    if shutil.which("dockerd") is None:
        return None, "no Docker engine answers and dockerd is missing (apt-get install docker.io)"
    if Path(DEFAULT_SOCKET).exists() and not os.access(DEFAULT_SOCKET, os.W_OK):
        return None, (f"{DEFAULT_SOCKET} is not yours ({first_error}): add yourself to the "
                      f"docker group, or set DOCKER_HOST")
    prefix = _privileged()
    if prefix is None:
        return None, ("no Docker engine answers and starting one needs root "
                      "(run `sudo make docker-engine`, or start the docker service)")
    if Path("/run/systemd/system").is_dir() and shutil.which("systemctl"):
        subprocess.run([*prefix, "systemctl", "start", "docker"], capture_output=True,
                       check=False, timeout=120)
        client, why = _wait_for_engine(None)
        return (client, "") if client else (None, f"`systemctl start docker`: {why}")
    log = _log_path()
    failures = []
    for driver in STORAGE_DRIVERS:
        _remove_stale_pidfile(prefix)
        with log.open("ab") as out:
            # A new session: the daemon outlives the test run on purpose (later runs reuse it).
            proc = subprocess.Popen(
                [*prefix, *dockerd_command(driver)], stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        client, why = _wait_for_engine(proc)
        if client is not None:
            return client, ""
        if Path(DEFAULT_SOCKET).exists() and not os.access(DEFAULT_SOCKET, os.W_OK):
            return None, (f"the engine started, but {DEFAULT_SOCKET} is not yours: add "
                          f"yourself to the docker group")
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        failures.append(f"--storage-driver={driver}: exit code {proc.returncode}, {why}")
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-10:])
    return None, f"dockerd did not come up ({'; '.join(failures)}); log {log}:\n{tail}"


def docker_engine() -> Any:
    """A docker client for a running engine (started if need be), or skip saying why."""
    client, why = ensure_engine()
    if client is None:
        skip_or_fail(why)
    return client


def stack_images() -> None:
    """`make images` (images/build.sh; seconds when cached), or skip saying why it cannot."""
    docker_engine()
    out = subprocess.run(["bash", str(REPO / "images" / "build.sh")], capture_output=True,
                         text=True, check=False, env={**os.environ, "PYTHON": sys.executable})
    if out.returncode != 0:
        tail = "\n".join((out.stderr + out.stdout).strip().splitlines()[-15:])
        skip_or_fail(f"`make images` failed:\n{tail}")


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
        skip_or_fail("no statically linked busybox (apt-get install busybox-static)")
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


if __name__ == "__main__":
    engine, reason = ensure_engine()
    if engine is None:
        print(f"docker engine: not available: {reason}")
    else:
        print(f"docker engine: running (server {engine.version().get('Version', '?')}, "
              f"DOCKER_HOST={os.environ.get('DOCKER_HOST') or 'unix://' + DEFAULT_SOCKET})")
