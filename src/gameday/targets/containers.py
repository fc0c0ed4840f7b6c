"""Container faults on a Docker engine: what each one does and how it is undone, as data.

The vocabulary of the compose target (and of a container fault provider built on it):

- ``kill``: SIGKILL the container's main process, as a crash: Docker's restart policy
  brings it back. Docker ignores the restart policy after a kill *through its API* (it
  records a manual stop), so on a local engine the signal goes to the process itself
  (its host pid, checked to belong to the container's cgroup); on a remote engine
  (``DOCKER_HOST=ssh://…``) the driver kills through the API and starts the container
  again at once, standing in for the restart policy.
- ``stop``: ``docker stop`` (SIGTERM, SIGKILL after a grace period): down until undone.
- ``pause``: freeze every process of the container (a hang: connections open, no answer).
- ``disconnect``: cut the container from one network of its project, or from all of them
  (a partition); undone by connecting it again with the same DNS aliases.

:func:`describe` reads, before anything changes, what the undo needs; :func:`apply` acts;
:func:`undo` reverses and is safe to repeat (an undone fault, a container or network that
is gone: nothing to do). ``undo`` takes only JSON values, so a dead-man's switch
(:mod:`gameday.deadman`) holds it as a :class:`~gameday.deadman.Rollback`
(:func:`rollback_of`) and can run it from another process after the harness died.

Errors: :class:`~gameday.errors.TargetError` when Docker refuses or cannot be reached.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any, Literal, get_args

import docker
from docker.errors import APIError, DockerException, NotFound
from pydantic import BaseModel, ConfigDict, Field

from gameday.deadman import Rollback
from gameday.errors import TargetError

__all__ = [
    "ACTIONS",
    "ContainerAction",
    "ContainerFault",
    "NetworkEndpoint",
    "apply",
    "describe",
    "rollback_of",
    "short_error",
    "undo",
]

ContainerAction = Literal["kill", "stop", "pause", "disconnect"]
ACTIONS: tuple[str, ...] = get_args(ContainerAction)
#: Seconds ``stop`` waits for a graceful exit before Docker sends SIGKILL.
STOP_GRACE_S = 5
_TIMEOUT_S = 10


class NetworkEndpoint(BaseModel):
    """A network the container was attached to, and the names it answered to there."""

    network_id: str
    network_name: str
    aliases: list[str] = Field(default_factory=list)


class ContainerFault(BaseModel):
    """One container fault: the action, its container, and what undoing it needs."""

    model_config = ConfigDict(extra="forbid")

    action: ContainerAction
    service: str
    container_id: str
    container_name: str
    #: The engine (``DOCKER_HOST``) the fault was injected through; None: the default.
    docker_host: str | None = None
    #: ``disconnect`` only: the networks cut, to connect again.
    networks: list[NetworkEndpoint] = Field(default_factory=list)


def describe(container: Any, action: str, service: str, *,
             networks: list[str] | None = None) -> ContainerFault:
    """The fault ``action`` on ``container`` and its undo data, read before acting.

    ``networks`` (``disconnect`` only): Docker names of the networks to cut; None: all.
    """
    if action not in ACTIONS:
        raise TargetError(f"unknown container action {action!r}; allowed: {', '.join(ACTIONS)}")
    endpoints: list[NetworkEndpoint] = []
    if action == "disconnect":
        attached = (container.attrs.get("NetworkSettings") or {}).get("Networks") or {}
        wanted = list(attached) if networks is None else networks
        missing = [n for n in wanted if n not in attached]
        if missing or not wanted:
            raise TargetError(f"{service} is not attached to network(s) "
                              f"{', '.join(missing) or '(none)'}; "
                              f"attached: {', '.join(sorted(attached)) or 'none'}")
        short_id = container.id[:12]
        endpoints = [NetworkEndpoint(network_id=attached[n]["NetworkID"], network_name=n,
                                     aliases=[a for a in attached[n].get("Aliases") or []
                                              if a != short_id])
                     for n in wanted]
    return ContainerFault(action=action, service=service, container_id=container.id,  # type: ignore[arg-type]
                          container_name=container.name,
                          docker_host=os.environ.get("DOCKER_HOST") or None,
                          networks=endpoints)


def rollback_of(fault: ContainerFault) -> Rollback:
    """The undo of ``fault`` as data, for a dead-man's switch."""
    return Rollback(call="gameday.targets.containers:undo",
                    kwargs=fault.model_dump(mode="json"),
                    description=f"undo {fault.action} of {fault.container_name}")


def apply(client: Any, fault: ContainerFault) -> str:
    """Inject ``fault``; returns what was done, in words."""
    container = _get(client, fault)
    try:
        if fault.action == "kill":
            return _crash(container)
        if fault.action == "stop":
            container.stop(timeout=STOP_GRACE_S)
            return f"stopped {fault.container_name}"
        if fault.action == "pause":
            container.pause()
            return f"paused {fault.container_name}"
        for endpoint in fault.networks:
            client.networks.get(endpoint.network_id).disconnect(container)
        return f"disconnected {fault.container_name} from " + ", ".join(
            e.network_name for e in fault.networks)
    except (DockerException, OSError) as exc:
        raise TargetError(f"Docker could not {fault.action} {fault.container_name}: "
                          f"{short_error(exc)}") from exc


def undo(**data: Any) -> str:
    """Reverse the fault described by ``data`` (a :class:`ContainerFault` dump); idempotent."""
    fault = ContainerFault.model_validate(data)
    environment = dict(os.environ)
    if fault.docker_host:
        environment["DOCKER_HOST"] = fault.docker_host
    try:
        client = docker.from_env(timeout=_TIMEOUT_S, environment=environment)
        try:
            container = client.containers.get(fault.container_id)
        except NotFound:
            return f"{fault.container_name} is gone: nothing to undo"
        if fault.action in ("kill", "stop"):
            return _ensure_running(container)
        if fault.action == "pause":
            container.reload()
            if (container.attrs.get("State") or {}).get("Paused"):
                container.unpause()
                return f"unpaused {fault.container_name}"
            return f"{fault.container_name} was not paused"
        return _reconnect(client, container, fault)
    except (DockerException, OSError) as exc:
        raise TargetError(f"Docker could not undo {fault.action} of {fault.container_name} "
                          f"(DOCKER_HOST={fault.docker_host or 'default'}): "
                          f"{short_error(exc)}") from exc


def _get(client: Any, fault: ContainerFault) -> Any:
    try:
        return client.containers.get(fault.container_id)
    except NotFound as exc:
        raise TargetError(f"container {fault.container_name} is gone") from exc
    except (DockerException, OSError) as exc:
        raise TargetError(f"cannot inspect {fault.container_name}: {short_error(exc)}") from exc


def _crash(container: Any) -> str:
    pid = int((container.attrs.get("State") or {}).get("Pid") or 0)
    if pid and _is_local_process_of(pid, container.id):
        os.kill(pid, signal.SIGKILL)
        return f"SIGKILL to {container.name}'s process {pid}; its restart policy restarts it"
    # A remote (or rootless) engine: this pid is not ours to signal. Docker treats an API
    # kill as a manual stop and skips the restart policy, so start it again ourselves.
    try:
        container.kill()
    except APIError as exc:
        if exc.status_code != 409:  # 409: not running, already down
            raise
    deadline = time.monotonic() + _TIMEOUT_S
    while _state(container).get("Running") and time.monotonic() < deadline:
        time.sleep(0.1)
    container.start()
    return f"killed {container.name} through the Docker API and started it again"


def _is_local_process_of(pid: int, container_id: str) -> bool:
    """True if ``pid`` on this machine is a process of container ``container_id``."""
    try:
        return container_id in Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return False


def _state(container: Any) -> dict[str, Any]:
    container.reload()
    return container.attrs.get("State") or {}


def _ensure_running(container: Any) -> str:
    state = _state(container)
    if state.get("Running") or state.get("Restarting"):
        return f"{container.name} is running"
    try:
        container.start()
    except APIError as exc:
        if exc.status_code not in (304, 409):  # already started meanwhile
            raise
    return f"started {container.name}"


def _reconnect(client: Any, container: Any, fault: ContainerFault) -> str:
    done = []
    for endpoint in fault.networks:
        container.reload()
        attached = (container.attrs.get("NetworkSettings") or {}).get("Networks") or {}
        if endpoint.network_name in attached:
            continue
        try:
            network = client.networks.get(endpoint.network_id)
        except NotFound:
            continue  # the stack was taken down: nothing to reconnect to
        try:
            network.connect(container, aliases=endpoint.aliases)
        except APIError as exc:
            if exc.status_code not in (403, 409) or "already" not in str(exc):
                raise
        done.append(endpoint.network_name)
    if not done:
        return f"{fault.container_name} was connected"
    return f"connected {fault.container_name} to {', '.join(done)} again"


def short_error(exc: BaseException) -> str:
    """An exception as one line of at most 300 characters, for error messages."""
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
