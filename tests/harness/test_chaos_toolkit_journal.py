"""A GameDay journal read by Chaos Toolkit's own library, as a Chaos Toolkit user's
tooling would read it."""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path

import pytest
from chaoslib.experiment import ensure_experiment_is_valid
from chaoslib.loader import load_experiment

from gameday import engine
from gameday.config import get_settings
from gameday.journal import JOURNAL_FILE, read_journal
from gameday.lifecycle import GameDay
from gameday.paths import REPO_ROOT, RUNBOOKS_DIR
from gameday.runbook import load_runbook

OLD_RUN = REPO_ROOT / "tests" / "report" / "fixtures" / "run-smoke" / "journal.json"


def _open(tmp_path: Path, runbook: str, **settings: object) -> Path:
    s = get_settings(reports_dir=tmp_path, state_dir=tmp_path / "state", base_port=7400,
                     **settings)
    path = RUNBOOKS_DIR / runbook
    gd = GameDay.prepare(path, settings=s, progress=lambda _: None)
    run = engine.open_run(s, gd.runbook, path, gd.target, driver=gd.make_driver(),
                          progress=lambda _: None)
    return run.run_dir / JOURNAL_FILE


@pytest.mark.parametrize("runbook", ["standard.yaml", "smoke.yaml", "nightly.yaml"])
def test_chaoslib_loads_the_journal_and_accepts_its_experiment(
    tmp_path: Path, runbook: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GAMEDAY_CHAOS_TOKEN", raising=False)
    journal = load_experiment(str(_open(tmp_path, runbook)))  # chaoslib's own loader
    assert journal["chaoslib-version"] == metadata.version("chaostoolkit-lib")
    assert journal["platform"] == platform.platform()
    assert journal["node"] == platform.node()
    experiment = journal["experiment"]
    ensure_experiment_is_valid(experiment)  # raises on anything Chaos Toolkit refuses
    rb = load_runbook(RUNBOOKS_DIR / runbook)
    assert experiment["title"] == f"GameDay {rb.name}"
    assert len(experiment["method"]) == len(rb.phases)
    for phase, activity in zip(rb.phases, experiment["method"], strict=True):
        assert activity["pauses"] == {"after": phase.duration_s}
        if phase.fault is None:
            assert activity["type"] == "probe"
            continue
        provider = activity["provider"]
        assert activity["type"] == "action" and provider["method"] == "POST"
        assert provider["url"] == f"http://127.0.0.1:{7400 + int(phase.fault.member) - 1}" \
                                  "/inject-failure"
        assert provider["arguments"]["type"] == phase.fault.type
        assert provider["arguments"]["ttl_s"] == rb.fault_ttl(phase.fault)
    # one rollback per fault and replica: its clear request
    faulted = {(p.fault.type, p.fault.member) for p in rb.phases if p.fault}
    assert len(experiment["rollbacks"]) == len(faulted)
    assert all(r["provider"]["arguments"] == {"type": "clear"} for r in experiment["rollbacks"])
    assert {r["provider"]["url"] for r in experiment["rollbacks"]} == {
        f"http://127.0.0.1:{7400 + int(member) - 1}/inject-failure" for _, member in faulted}
    # the system file's steady-state probes: the monitor's status, a read through the voter
    probes = experiment["steady-state-hypothesis"]["probes"]
    assert {p["provider"]["url"] for p in probes} >= {
        "http://127.0.0.1:7403/status", "http://127.0.0.1:7404/inventory/PROD-001"}


def test_the_chaos_token_is_referenced_never_written(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cret-token-value"
    monkeypatch.setenv("GAMEDAY_CHAOS_TOKEN", secret)
    path = _open(tmp_path, "smoke.yaml", chaos_token=secret)
    assert secret not in path.read_text()
    experiment = load_experiment(str(path))["experiment"]
    ensure_experiment_is_valid(experiment)
    action = next(a for a in experiment["method"] if a["type"] == "action")
    # the system file's env('GAMEDAY_CHAOS_TOKEN'): a configuration entry, read from there
    assert action["provider"]["headers"]["X-Chaos-Token"] == "${GAMEDAY_CHAOS_TOKEN}"
    assert experiment["configuration"]["GAMEDAY_CHAOS_TOKEN"] == {
        "type": "env", "key": "GAMEDAY_CHAOS_TOKEN", "default": ""}


def test_a_journal_from_before_the_chaos_toolkit_keys_still_reads(tmp_path: Path) -> None:
    old = json.loads(OLD_RUN.read_text())
    old.update(version=2, environment={**old.get("environment", {}), "platform": "Linux-x"},
               process={"pid": 1, "host": "gameday-host"})
    (tmp_path / JOURNAL_FILE).write_text(json.dumps(old))
    journal = read_journal(tmp_path / JOURNAL_FILE)
    assert journal.platform == "Linux-x" and journal.node == "gameday-host"
    assert journal.chaoslib_version is None and journal.experiment == {}
    dumped = journal.model_dump(mode="json")
    assert "chaoslib-version" in dumped and "chaoslib_version" not in dumped


def test_a_process_fault_is_the_command_line_that_does_the_same(tmp_path: Path) -> None:
    """lb.yaml's faults are signals to HAProxy's backends: the experiment says them as the
    `kill` command (the harness sends the signal itself), and chaoslib accepts it."""
    experiment = load_experiment(str(_open(tmp_path, "lb.yaml")))["experiment"]
    ensure_experiment_is_valid(experiment)
    rb = load_runbook(RUNBOOKS_DIR / "lb.yaml")
    signals = {"kill": "KILL", "hang": "STOP"}
    for phase, activity in zip(rb.phases, experiment["method"], strict=True):
        if phase.fault is None:
            continue
        provider = activity["provider"]
        assert provider["type"] == "process" and provider["path"] == "kill"
        assert provider["arguments"] == (f"-s {signals[phase.fault.type]} "
                                         f"<pid of {phase.fault.target}>")
    assert experiment["rollbacks"] == []  # the dead-man's switch ends a signal's fault


def test_a_container_fault_is_the_docker_command_that_does_the_same() -> None:
    """inventory-containers.yaml's faults go through the Docker SDK: the experiment says
    each as the docker command that does the same; none has a rollback of its own."""
    from gameday.experiment import render_system_experiment
    from gameday.systems.loader import load_system
    from gameday.systems.resolve import resolve

    rb = load_runbook(RUNBOOKS_DIR / "inventory-containers.yaml")
    resolved = resolve(load_system(REPO_ROOT / "systems" / "inventory.yaml"),
                       target="compose", base_port=7400)
    experiment = render_system_experiment(rb, resolved, target="compose")
    actions = [a["provider"] for a in experiment["method"] if a["type"] == "action"]
    assert [(p["path"], p["arguments"]) for p in actions] == [
        ("docker", "pause <container of inventory/2>"),
        ("docker", "network disconnect replicas <container of inventory/1>"),
        ("docker", "kill <container of inventory/3>")]
    assert experiment["rollbacks"] == []
    assert experiment["tags"][:3] == ["gameday", "system:inventory", "target:compose"]
