"""A runbook naming a system file on the compose target (src/gameday/runbook_target.py,
src/gameday/systems/compose.py): which compose files, project, ports and lock the run
gets, and what is refused before anything is touched. No Docker engine is needed here;
tests/compose/test_system_containers.py drives the containers for real."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gameday.config import get_settings
from gameday.errors import FaultError, RunbookError, TargetError
from gameday.lifecycle import GameDay, target_key
from gameday.paths import REPO_ROOT, RUNBOOKS_DIR
from gameday.runbook import Fault, load_runbook
from gameday.runbook_target import RunbookSystem

SHOP: dict[str, Any] = {
    "name": "Shop.web",
    "compose_file": ["compose.yml"],
    "base_port": 7600,
    "components": {
        "web": {"members": ["a", "b"], "port": "{{ base_port + index }}",
                "compose": {"service": "web-{{ member }}"}},
        "cache": {"port": "{{ base_port + 5 }}", "health": None},
    },
    "load": {"requests": {"get": {"url": "{{ web[0].url }}/"}}},
    "faults": {"pause": {"provider": "container", "applies_to": ["web", "cache"],
                         "action": "pause"},
               "kill": {"provider": "process", "applies_to": ["web"], "action": "kill"}},
}


@pytest.fixture(autouse=True)
def _no_compose_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GAMEDAY_BASE_PORT", "GAMEDAY_COMPOSE_FILE", "GAMEDAY_COMPOSE_PROJECT",
                 "GAMEDAY_TARGET"):
        monkeypatch.delenv(name, raising=False)


def _files(tmp_path: Path, system: dict[str, Any], phases: list[dict[str, Any]],
           target: str = "compose") -> Path:
    (tmp_path / "shop.yaml").write_text(yaml.safe_dump(system))
    (tmp_path / "compose.yml").write_text("services: {}\n")
    runbook = tmp_path / "rb.yaml"
    runbook.write_text(yaml.safe_dump({
        "name": "shop", "system": "shop.yaml", "target": target, "load": {"rate": 5},
        "phases": [{"name": "baseline", "duration_s": 1}, *phases]}))
    return runbook


def _pause(target: str) -> dict[str, Any]:
    return {"name": "hang", "duration_s": 2, "fault": {"type": "pause", "target": target}}


def _error(path: Path, **prepare: Any) -> str:
    with pytest.raises(RunbookError) as exc:
        GameDay.prepare(path, **prepare)
    return str(exc.value).replace(str(path), "rb.yaml")


def test_the_inventory_runbook_on_compose_is_the_compose_stack_of_its_settings() -> None:
    gd = GameDay.prepare(RUNBOOKS_DIR / "inventory-containers.yaml")
    assert gd.target.name == gd.settings.target == "compose"
    assert gd.system is not None and gd.system.resolved.target == "compose"
    # docker-compose.yml is GAMEDAY_COMPOSE_FILE's stack: same project, same lock
    assert gd.target.project == gd.settings.compose_project
    assert gd.key == f"compose:{gd.settings.compose_project}"
    env = gd.target.compose_env()
    port = gd.system.resolved.base_port
    assert env["GAMEDAY_INVENTORY_2_PORT"] == str(port + 1)
    assert env["GAMEDAY_MONITOR_PORT"] == str(port + 3)


def test_compose_file_overrides_in_the_settings_apply_to_the_same_stack() -> None:
    local = f"{REPO_ROOT / 'docker-compose.yml'}:{REPO_ROOT / 'docker-compose.local.yml'}"
    settings = get_settings(target="compose", compose_file=local, compose_project="gdx")
    gd = GameDay.prepare(RUNBOOKS_DIR / "inventory-containers.yaml", settings=settings)
    assert gd.target.compose_files == [REPO_ROOT / "docker-compose.yml",
                                       REPO_ROOT / "docker-compose.local.yml"]
    assert gd.key == "compose:gdx"


def test_another_systems_compose_file_is_its_own_project_beside_the_file(
        tmp_path: Path) -> None:
    runbook = _files(tmp_path, SHOP, [_pause("web/b")])
    settings = get_settings(target="compose", compose_project="gdx", base_port=7600)
    gd = GameDay.prepare(runbook, settings=settings)
    target: Any = gd.target
    assert target.compose_files == [(tmp_path / "compose.yml").resolve()]
    assert target.project == "gdx-shop-web"  # never the settings' stack: up would remove it
    assert gd.key == "compose:gdx-shop-web"
    assert target.ports == {"web-a": 7600, "web-b": 7601}  # members with a compose block
    assert target.compose_env()["GAMEDAY_WEB_B_PORT"] == "7601"
    assert target_key(settings, target) == gd.key
    assert "docker compose -p gdx-shop-web -f " in target.how_to_start


def test_a_system_without_compose_file_cannot_run_on_compose(tmp_path: Path) -> None:
    runbook = _files(tmp_path, {**SHOP, "compose_file": []}, [])
    assert _error(runbook) == (
        "rb.yaml: target: system 'Shop.web' has no compose_file: it cannot run on the "
        "compose target (give compose_file and a compose: {service} block per component, "
        "docs/systems.md)")
    # --target compose on a local runbook: checked again for the target it will run on
    local = _files(tmp_path, {**SHOP, "compose_file": []}, [], target="local")
    assert _error(local, target="compose").startswith("rb.yaml: target: system 'Shop.web' "
                                                      "has no compose_file")
    resolved = RunbookSystem.of(load_runbook(local), local, {"target": "local"})
    assert resolved is not None
    from gameday.systems.compose import SystemComposeTarget

    with pytest.raises(TargetError, match="system 'Shop.web' has no compose_file: it cannot "
                                          "run on the compose target"):
        SystemComposeTarget(resolved.resolved, get_settings(), source=resolved.path)


def test_a_container_fault_needs_a_member_in_a_container(tmp_path: Path) -> None:
    assert _error(_files(tmp_path, SHOP, [_pause("cache/cache")])) == (
        "rb.yaml: phases[1].fault.target: fault 'pause' is a container fault and group "
        "'cache' runs in no container (it has no compose block: components.cache.compose)")


def test_the_target_a_fault_needs_is_checked_for_the_target_the_run_has(
        tmp_path: Path) -> None:
    on_compose = _files(tmp_path, SHOP, [_pause("web/a")])
    assert _error(on_compose, target="local") == (
        "rb.yaml: phases[1].fault.type: fault 'pause' is a container fault: it runs on the "
        "compose target only (the runbook's target is local)")
    assert "'docker' is not a target" in _error(on_compose, target="docker")
    kill = {"name": "kill", "duration_s": 2, "fault": {"type": "kill", "target": "web/a"}}
    assert _error(_files(tmp_path, SHOP, [kill])) == (
        "rb.yaml: phases[1].fault.type: fault 'kill' is a process fault: it runs on the "
        "local target only (the runbook's target is compose)")


def test_the_system_driver_refuses_a_fault_its_target_cannot_act_on(tmp_path: Path) -> None:
    """What the runbook check refuses, the driver refuses too (a driver built by hand, a
    system file changed after the check): before anything is armed or sent."""
    gd = GameDay.prepare(_files(tmp_path, SHOP, [_pause("web/a")]))
    driver = gd.make_driver()
    with pytest.raises(FaultError, match=r"^fault 'kill' is a process fault: it runs on the "
                                         r"local target only \(this run's target is compose\)"):
        driver.inject(Fault.model_validate({"type": "kill", "target": "web/a"}), ttl_s=5)
    assert gd.system is not None
    from gameday.drivers.system import SystemFileDriver
    from gameday.systems.local import SystemLocalTarget

    on_local = SystemFileDriver(gd.system.resolved, SystemLocalTarget(
        gd.system.resolved, get_settings(state_dir=tmp_path / "state")), get_settings())
    with pytest.raises(FaultError, match=r"^fault 'pause' is a container fault: it runs on "
                                         r"the compose target only \(this run's target is "
                                         r"local\)"):
        on_local.inject(Fault.model_validate({"type": "pause", "target": "web/a"}), ttl_s=5)


def test_a_member_without_a_compose_block_has_no_service(tmp_path: Path) -> None:
    from gameday.systems.compose import member_service

    gd = GameDay.prepare(_files(tmp_path, SHOP, []))
    assert gd.system is not None
    resolved = gd.system.resolved
    assert member_service(resolved, resolved.member("web", "b")) == "web-b"
    with pytest.raises(TargetError, match=r"^cache/cache has no compose service "
                                          r"\(components\.cache\.compose\): it does not run "
                                          r"on the compose target$"):
        member_service(resolved, resolved.member("cache", "cache"))


def test_a_container_fault_on_a_member_without_container_is_refused_by_its_provider(
        tmp_path: Path) -> None:
    """The provider's own refusal (a driver built by hand skips the runbook check):
    before any switch is armed or Docker is asked."""
    from gameday.systems.providers import inject_container_fault

    gd = GameDay.prepare(_files(tmp_path, SHOP, []))
    assert gd.system is not None
    resolved = gd.system.resolved
    pause = resolved.system.faults["pause"]
    with pytest.raises(FaultError, match=r"^cache/cache has no compose service"):
        inject_container_fault(resolved, pause, resolved.member("cache", "cache"),
                               gd.target, ttl_s=5)
