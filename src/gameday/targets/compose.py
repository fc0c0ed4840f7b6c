"""The ``compose`` target: a Docker Compose project, driven through the Docker API.

Containers are found by the labels Docker Compose puts on them
(``com.docker.compose.project`` = the project, ``com.docker.compose.service``), so the
driver works on any project started from the files, by the harness or by hand. Starting
and stopping the whole project shells out to Docker Compose v2 (``docker compose`` or a v2
``docker-compose``) with its files (by default those of ``settings.compose_file``:
several, ``:``-separated, like ``COMPOSE_FILE``); killing and starting a service,
container faults and status use the docker SDK, every call with its own timeout (a
blocking call cannot be interrupted by a flow timeout).

:class:`ComposeTarget` is generic: given the host port of each service it reports every
service that has a container; :class:`gameday.systems.compose.SystemComposeTarget` points
it at a system file (its files, project, and ``compose`` members with their ports). Ports
are passed to Compose as ``GAMEDAY_<SERVICE>_PORT`` with ``GAMEDAY_BIND_ADDRESS``
(``settings.bind_address``, default 127.0.0.1), where the compose file publishes them.
With ``DOCKER_HOST=ssh://host`` the project runs on that machine: set ``GAMEDAY_HOST`` to
its address and ``GAMEDAY_BIND_ADDRESS`` to an interface of it.

Container faults (:meth:`ComposeTarget.inject_container_fault`, actions of
:mod:`gameday.targets.containers`) are armed with a dead-man's switch
(:mod:`gameday.deadman`): rolled back at their TTL or when the harness dies. A project a
GameDay starts (``--start-stack``) is held by one too (:meth:`ComposeTarget.take_down`,
:func:`take_down`): its watchdog runs ``docker compose down -v`` when the harness dies,
``kill -9`` included.

Errors: :class:`~gameday.errors.TargetError` when Docker cannot be reached or a command
fails (the message names ``DOCKER_HOST`` and how to start an engine),
:class:`~gameday.errors.StackNotRunning` when a service has no container.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, DockerException, NotFound

from gameday import deadman
from gameday.config import Settings
from gameday.errors import StackNotRunning, TargetError
from gameday.http import is_loopback
from gameday.targets import containers
from gameday.targets.base import ServiceStatus, StackStatus, Target
from gameday.targets.composecli import compose_files, port_variable, run_compose
from gameday.targets.containers import short_error

__all__ = ["ComposeTarget", "take_down"]

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"
NETWORK_LABEL = "com.docker.compose.network"

_POLL_S = 0.2
_DEFAULT_SOCKET = "unix:///var/run/docker.sock"
_HOW_TO_START = (
    "start an engine (`sudo systemctl start docker`, or as root `make docker-engine`) "
    "or point DOCKER_HOST at a running one"
)


class ComposeTarget(Target):
    """A Docker Compose project: ``settings.compose_project`` from the files of
    ``settings.compose_file``; a subclass may point it at others and says which services
    it has (module docstring).

    ``client_factory`` (tests) returns a docker client; by default ``docker.from_env``
    with ``docker_timeout_s`` on every API call. ``progress`` receives Compose's output
    lines while the project starts or stops. ``ports``: the host port of each service
    (here: status reports every service that has a container).
    """

    name = "compose"
    #: What :class:`StackNotRunning` says to do when a service has no container.
    how_to_start = "`docker compose up -d --wait`"

    def __init__(
        self,
        settings: Settings,
        *,
        docker_timeout_s: float = 10.0,
        client_factory: Callable[[], Any] | None = None,
        progress: Callable[[str], None] | None = None,
        ports: dict[str, int] | None = None,
    ) -> None:
        self.settings = settings
        self._ports = dict(ports or {})
        self.project = settings.compose_project
        self.compose_files = compose_files(settings.compose_file)
        self.docker_timeout_s = docker_timeout_s
        self._client_factory = client_factory
        self._progress = progress
        self._client: Any = None

    # -- what the project is (a subclass knows its services) ------------------------------

    @property
    def ports(self) -> dict[str, int]:
        """The host port of every service that publishes one, by service name (passed to
        Compose as ``GAMEDAY_<SERVICE>_PORT``)."""
        return dict(self._ports)

    def _status_rows(self) -> list[tuple[str, str | None]]:
        """(service, where it is reached) of every service :meth:`status` reports: here
        every service of the project that has a container."""
        host = self.settings.host
        return [(s, f"tcp://{host}:{self.ports[s]}" if s in self.ports else None)
                for s in sorted(self.containers())]

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
                f"{short_error(exc)}; {_HOW_TO_START}"
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
                f"(DOCKER_HOST={self.docker_host}): {short_error(exc)}"
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

    def _container(self, service: str) -> Any:
        container = self.containers().get(service)
        if container is None:
            raise StackNotRunning(
                f"compose project {self.project!r} has no container for {service}; "
                f"start it with {self.how_to_start}"
            )
        return container

    def networks(self) -> dict[str, str]:
        """The project's networks: {name in the compose file: Docker's name}."""
        try:
            found = self.client().networks.list(
                filters={"label": f"{PROJECT_LABEL}={self.project}"})
        except (DockerException, OSError) as exc:
            raise self._api_error("list the networks", exc) from exc
        return {(n.attrs.get("Labels") or {}).get(NETWORK_LABEL, n.name): n.name for n in found}

    # -- Target contract ----------------------------------------------------------------

    def status(self) -> StackStatus:
        containers = self.containers()
        services = []
        for service, url in self._status_rows():
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

    def kill_service(self, service: str, *, hold: bool = False) -> None:
        """SIGKILL ``service``'s container: a crash its restart policy recovers from, or,
        with ``hold``, a kill through the Docker API, which Docker records as a manual
        stop: it stays down until :meth:`start_service`. Killing a stopped one is fine."""
        container = self._container(service)
        if not hold:
            if _is_running(container):
                containers.apply(self.client(), containers.describe(container, "kill", service))
            return
        try:
            container.kill()
        except APIError as exc:
            # Killing a stopped container is a 409: it is already down.
            if exc.status_code != 409:
                raise self._api_error(f"kill {service}", exc) from exc
        except NotFound:
            return
        except DockerException as exc:
            raise self._api_error(f"kill {service}", exc) from exc
        self._wait(container, lambda c: not _is_running(c), 10.0,
                   f"{service} to stop after the kill")

    def start_service(self, service: str) -> Any:
        """Start ``service``'s container unless it runs (or Docker is restarting it);
        returns the container (wait for it with :meth:`_wait`)."""
        container = self._container(service)
        state = container.attrs.get("State") or {}
        if not state.get("Running") and not state.get("Restarting"):
            try:
                container.start()
            except DockerException as exc:
                raise self._api_error(f"start {service}", exc) from exc
        return container

    def inject_container_fault(
        self, service: str, action: str, *, ttl_s: float, network: str | None = None,
        mark: Callable[[], None] | None = None,
    ) -> deadman.Switch:
        """Inject container fault ``action`` (:data:`containers.ACTIONS`) on ``service``.

        A dead-man's switch is armed first: it undoes the fault after ``ttl_s`` or as soon
        as this process dies. Call ``.rollback()`` on the returned switch to undo the fault
        and disarm it. ``network`` (``disconnect``): a network as the compose file names
        it; None cuts the container from every network.
        ``mark`` is called right before Docker is asked to act, after the switch is armed
        (when the fault began, for TTD).
        """
        if network is not None and action != "disconnect":
            raise TargetError(f"a network applies to `disconnect` only, not to {action!r}")
        running = self.containers()  # any service of the project (a system file's too)
        if not running:
            self._container(service)  # StackNotRunning: the project has no container
        if service not in running:
            raise TargetError(f"unknown service {service!r}: compose project "
                              f"{self.project!r} has {', '.join(sorted(running))}")
        container = running[service]
        docker_networks = None
        if network is not None:
            known = self.networks()
            if network not in known:
                raise TargetError(f"compose project {self.project!r} has no network "
                                  f"{network!r}; it has: {', '.join(sorted(known)) or 'none'}")
            docker_networks = [known[network]]
        fault = containers.describe(container, action, service, networks=docker_networks)
        switch = deadman.arm(containers.rollback_of(fault), ttl_s=ttl_s,
                             state_dir=self.settings.state_dir)
        try:
            if mark is not None:
                mark()
            containers.apply(self.client(), fault)
        except BaseException:
            switch.rollback()  # undo whatever half happened, then disarm
            raise
        return switch

    def start(self, *, timeout_s: float = 60.0) -> StackStatus:
        if not is_loopback(self.settings.host) and is_loopback(self.settings.bind_address):
            raise TargetError(
                f"GAMEDAY_HOST={self.settings.host} cannot reach ports published on "
                f"{self.settings.bind_address}; set GAMEDAY_BIND_ADDRESS to an address of "
                f"the Docker host that {self.settings.host} reaches (e.g. 0.0.0.0)")
        self.client()  # a clear error when Docker is not reachable
        wait = max(1, int(timeout_s))
        # --build: a changed stack/ is rebuilt (cached layers make it quick when unchanged).
        self._compose(
            ["up", "-d", "--build", "--remove-orphans", "--wait", "--wait-timeout", str(wait)],
            timeout_s + 120,
        )
        return self.status()

    def stop(self, *, timeout_s: float = 30.0) -> None:
        """``docker compose down -v``: no container, network or volume is left (each
        ``start`` then begins from the default stock, like the local target).

        Also removes the anonymous volumes (an image's ``VOLUME``, e.g. Postgres's data)
        that ``down -v`` leaves when ``up`` recreated a container: Compose mounts the old
        container's volume into the new one by name, and the engine then keeps it
        (docker/compose#13465)."""
        _down(self.client(), files=self.compose_files, project=self.project,
              env=self.compose_env(), timeout_s=timeout_s, progress=self._progress,
              where=f"(DOCKER_HOST={self.docker_host})")

    def take_down(self) -> deadman.Rollback:
        """This project's :meth:`stop` as data, for the dead-man's switch of a project a
        GameDay started. Its arguments are written to the state folder: the chaos token
        is left out (the watchdog's environment, the harness's, still has
        ``GAMEDAY_CHAOS_TOKEN`` for a compose file that reads it)."""
        return deadman.Rollback(
            call="gameday.targets.compose:take_down",
            kwargs={"project": self.project,
                    "files": [str(Path(f).resolve()) for f in self.compose_files],
                    "env": self.compose_vars(), "docker_host": os.environ.get("DOCKER_HOST")},
            description=f"take down compose project {self.project!r} (started by a GameDay)")

    # -- helpers ------------------------------------------------------------------------

    def compose_vars(self) -> dict[str, str]:
        """What the harness tells Compose besides its own environment, the token aside:
        the bind address and every service's port."""
        return {"GAMEDAY_BIND_ADDRESS": self.settings.bind_address,
                **{port_variable(s): str(p) for s, p in self.ports.items()}}

    def compose_env(self) -> dict[str, str]:
        """The environment of a Compose command: bind address, ports, chaos token."""
        env = {**os.environ, **self.compose_vars()}
        if self.settings.chaos_token is not None:
            env["CHAOS_TOKEN"] = self.settings.chaos_token.get_secret_value()
        return env

    def _compose(self, args: list[str], timeout_s: float) -> None:
        run_compose(args, files=self.compose_files, project=self.project,
                    env=self.compose_env(), timeout_s=timeout_s, progress=self._progress)

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
            f"(DOCKER_HOST={self.docker_host}): {short_error(exc)}"
        )


def take_down(*, project: str, files: list[str], env: dict[str, str],
              docker_host: str | None = None, timeout_s: float = 30.0) -> str:
    """``docker compose down -v`` of ``project`` and its anonymous volumes, from a
    dead-man's switch (:meth:`ComposeTarget.take_down`); idempotent: a project that is
    gone is taken down again without harm."""
    environment = {**os.environ, **env}
    if docker_host:
        environment["DOCKER_HOST"] = docker_host
    try:
        client = docker.from_env(timeout=30, environment=environment)
    except DockerException as exc:
        raise TargetError(f"cannot reach the Docker engine to take down compose project "
                          f"{project!r}: {short_error(exc)}") from exc
    _down(client, files=[Path(f) for f in files], project=project, env=environment,
          timeout_s=timeout_s, progress=None, where=f"(DOCKER_HOST={docker_host or 'default'})")
    return f"took down compose project {project!r}"


def _down(client: Any, *, files: list[Path], project: str, env: dict[str, str],
          timeout_s: float, progress: Callable[[str], None] | None, where: str) -> None:
    """``down -v --remove-orphans`` of ``project``, then the anonymous volumes its
    containers mounted (:meth:`ComposeTarget.stop`)."""
    def failed(action: str, exc: Exception) -> TargetError:
        return TargetError(f"Docker could not {action} in compose project {project!r} "
                           f"{where}: {short_error(exc)}")

    anonymous = []
    try:
        found = client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})
        names = {m["Name"] for c in found for m in c.attrs.get("Mounts") or []
                 if m.get("Type") == "volume" and m.get("Name")}
        for name in sorted(names):
            with contextlib.suppress(NotFound):
                labels = client.volumes.get(name).attrs.get("Labels") or {}
                if PROJECT_LABEL not in labels:
                    anonymous.append(name)
    except (DockerException, OSError) as exc:
        raise failed("list the volumes", exc) from exc
    grace = max(1, int(timeout_s / 3))
    run_compose(["down", "-v", "--remove-orphans", "--timeout", str(grace)], files=files,
                project=project, env=env, timeout_s=timeout_s + 120, progress=progress)
    for name in anonymous:
        try:
            client.volumes.get(name).remove()
        except NotFound:
            continue  # down -v took it
        except (DockerException, OSError) as exc:
            raise failed(f"remove volume {name}", exc) from exc


def _is_running(container: Any) -> bool:
    return bool((container.attrs.get("State") or {}).get("Running"))
