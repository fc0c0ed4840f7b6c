"""`docker compose up -d --wait` on the images built here: every service healthy, on the
ports and networks docker-compose.yml promises, from images that never saw a registry."""

from __future__ import annotations

import os
from typing import Any

import docker
import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow]

#: The networks of each service (docker-compose.yml: one per kind of traffic).
NETWORKS = {
    "postgres": {"db"},
    "kafka": {"events"},
    "inventory-1": {"db", "events", "replicas"},
    "inventory-2": {"db", "events", "replicas"},
    "inventory-3": {"db", "events", "replicas"},
    "monitor": {"db", "replicas"},
    "voter": {"db", "replicas"},
    "orders": {"db", "events"},
}


def test_every_service_is_healthy_on_its_published_port(compose_stack: Any) -> None:
    target = compose_stack.target
    status = target.status()
    assert status.target == "compose" and status.healthy, status
    assert {s.name for s in status.services} == set(NETWORKS)
    containers = target.containers()
    for service, port in target.ports.items():
        bindings = containers[service].attrs["NetworkSettings"]["Ports"]
        published = [(b["HostIp"], int(b["HostPort"])) for ports in bindings.values() if ports
                     for b in ports]
        assert published == [("127.0.0.1", port)], service
    assert compose_stack.urls.voter == f"http://127.0.0.1:{target.ports['voter']}"


def test_each_service_is_on_the_networks_of_its_traffic(compose_stack: Any) -> None:
    target = compose_stack.target
    for service, container in target.containers().items():
        attached = container.attrs["NetworkSettings"]["Networks"]
        names = {name.removeprefix(f"{target.project}_") for name in attached}
        assert names == NETWORKS[service], service
        assert "network_mode" not in container.attrs["HostConfig"] or (
            container.attrs["HostConfig"]["NetworkMode"] != "host")
    replicas = target.containers()["inventory-2"].attrs["NetworkSettings"]["Networks"]
    assert "inventory-2.replicas" in replicas[f"{target.project}_replicas"]["Aliases"]
    assert set(target.networks()) == {"db", "events", "replicas"}


def test_the_images_are_the_local_ones_built_on_the_debootstrapped_base(
    compose_stack: Any,
) -> None:
    client = docker.from_env(timeout=30)
    images = {s: c.image for s, c in compose_stack.target.containers().items()}
    assert {img.tags[0] for img in images.values()} == {
        "gameday-postgres:local", "gameday-broker:local", "gameday-stack:latest"}
    base_layers = client.images.get("gameday-base:bookworm").attrs["RootFS"]["Layers"]
    assert len(base_layers) == 1  # one `docker import`: the debootstrap root filesystem
    for service in ("postgres", "inventory-1", "voter"):
        layers = images[service].attrs["RootFS"]["Layers"]
        assert layers[0] == base_layers[0], service
    # The broker image is the static Tansu binary alone.
    assert len(images["kafka"].attrs["RootFS"]["Layers"]) == 1
    pg_version = compose_stack.target.containers()["postgres"].exec_run(["postgres", "--version"])
    assert pg_version.exit_code == 0 and b"(Debian" in pg_version.output


def test_the_engine_gives_the_containers_the_cpu_weight_of_the_local_stack(
    docker_helpers: Any,
) -> None:
    # Without it, on cgroup v1 the whole stack competes as one process against every
    # process of the host: on a busy machine the voter starved (tests/dockerd/engine.py).
    shares = docker_helpers.DOCKER_CPU_CGROUP / "cpu.shares"
    if not docker_helpers.DOCKER_CPU_CGROUP.parent.is_dir() or os.geteuid() != 0:
        pytest.skip("not cgroup v1 as root: Docker's cgroups are not this engine's to weigh")
    shares.write_text("1024\n")
    docker_helpers.ensure_engine()
    assert int(shares.read_text()) == docker_helpers.STACK_CPU_SHARES == 8 * 1024


def _volumes() -> set[str]:
    return {v.name for v in docker.from_env(timeout=30).volumes.list()}


def test_stop_leaves_no_volume_even_after_compose_recreated_a_container(
    stack_images: None, tmp_path: Any, free_base_port: Any
) -> None:
    # A changed compose file makes `up` recreate a container; Compose hands the old
    # container's anonymous volume (an image VOLUME, like Postgres's data) to the new one
    # by name, and `down -v` then leaves it behind (docker/compose#13465).
    from gameday.config import get_settings
    from gameday.targets.compose import ComposeTarget

    compose_file = tmp_path / "docker-compose.yml"
    settings = get_settings(compose_project=f"gdtest-vol-{os.getpid()}",
                            compose_file=compose_file, base_port=free_base_port())
    target = ComposeTarget(settings, docker_timeout_s=30)
    before = _volumes()
    try:
        for interval in ("2s", "3s"):  # the second `up` recreates the container
            compose_file.write_text(
                "services:\n  postgres:\n    image: gameday-postgres:local\n"
                "    pull_policy: never\n    environment: {POSTGRES_PASSWORD: x}\n"
                f"    healthcheck: {{test: [CMD, pg_isready], interval: {interval}}}\n")
            target.start(timeout_s=120)
        assert len(_volumes() - before) == 1  # the data volume, carried over
    finally:
        target.stop(timeout_s=30)
    assert _volumes() - before == set()


def test_the_stack_command_runs_the_system_file_on_compose(
    stack_images: None, docker_helpers: Any, free_base_port: Any,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """`gameday stack up|status|down --target compose` is `gameday system … --target
    compose` of systems/inventory.yaml: the compose project of GAMEDAY_COMPOSE_FILE, its
    members on the ports of the base port, up once the file's steady state holds."""
    import json
    import uuid

    from gameday.cli import main

    project = f"gdtest-cli-{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("GAMEDAY_COMPOSE_PROJECT", project)
    monkeypatch.setenv("GAMEDAY_COMPOSE_FILE", docker_helpers.LOCAL_COMPOSE_FILES)
    port = str(free_base_port())
    where = ["--base-port", port, "--target", "compose"]
    try:
        assert main(["stack", "up", *where, "--timeout", "300"]) == 0
        out = capsys.readouterr().out
        assert ("system 'inventory' is up and in its steady state; stop it with "
                f"`gameday stack down --base-port {port} --target compose`") in out
        assert main(["stack", "status", *where, "--json"]) == 0
        status = json.loads(capsys.readouterr().out)
        assert (status["target"], status["healthy"]) == ("compose", True)
        urls = {s["name"]: s["url"] for s in status["services"]}
        assert urls["voter"] == f"http://127.0.0.1:{int(port) + 4}"
        assert len(docker.from_env().containers.list(  # every service, in that project
            filters={"label": f"com.docker.compose.project={project}"})) == len(NETWORKS)
    finally:
        assert main(["stack", "down", *where]) == 0
    assert main(["stack", "status", *where]) == 1
    assert not docker.from_env().containers.list(
        all=True, filters={"label": f"com.docker.compose.project={project}"})
