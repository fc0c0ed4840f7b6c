"""System files (gameday.systems): validated like runbooks, templates in a sandbox, and
`gameday system check` probing a real running stack without faulting it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gameday.cli import main
from gameday.errors import SystemFileError
from gameday.systems.loader import load_system, parse_system
from gameday.systems.render import TemplateProblem, render, render_value
from gameday.systems.resolve import resolve

REPO = Path(__file__).resolve().parents[2]
INVENTORY = REPO / "systems" / "inventory.yaml"


def _minimal(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "shop",
        "components": {"web": {"port": "{{ base_port }}"},
                       "backend": {"members": ["a", "b"], "port": "{{ base_port + 1 + index }}"}},
        "load": {"requests": {"read": {"url": "{{ web.url }}/items"}}},
    }
    data.update(changes)
    return data


def _error(data: Any) -> str:
    with pytest.raises(SystemFileError) as info:
        parse_system(data, "systems/shop.yaml")
    return str(info.value)


def test_the_inventory_stack_is_a_system_file_whose_ports_follow_the_base_port() -> None:
    system = load_system(INVENTORY)
    resolved = resolve(system, base_port=7000)
    assert resolved.groups["inventory"].members == ["1", "2", "3"]
    assert [m.url for m in resolved.groups["inventory"]] == [
        "http://127.0.0.1:7000", "http://127.0.0.1:7001", "http://127.0.0.1:7002"]
    assert resolved.groups["voter"].url == "http://127.0.0.1:7004"
    assert resolved.member("inventory", "2").health_url == "http://127.0.0.1:7001/health"
    assert set(system.faults) >= {"crash", "latency", "intermittent", "incorrect_response"}
    assert system.detector.kind == "transitions"


@pytest.mark.parametrize(("change", "expected"), [
    ({"colour": "red"}, "systems/shop.yaml: colour: unknown field; allowed: name, description"),
    ({"components": {"web": {"port": 80, "replicas": 3}}},
     "components.web.replicas: unknown field; allowed: members, port, url, health"),
    ({"detector": {"kind": "status", "url": "x", "items": "a", "component": "b",
                   "state": "c", "down": ["DOWN"], "every": 1}},
     "detector.status.every: unknown field; allowed: kind, url, items"),
    ({"detector": {"kind": "status", "url": "x", "items": "a[", "component": "b",
                   "state": "c", "down": ["DOWN"]}}, "items: is not a JMESPath expression"),
    ({"load": {"requests": {"read": {"url": "x", "expect": {"json": {"a[": 1}}}}}},
     'load.requests.read.expect.json["a["]: is not a JMESPath expression'),
    ({"detector": {"kind": "psychic"}},
     "detector.kind: must be one of 'transitions', 'status', 'none' (got 'psychic')"),
    ({"faults": {"x": {"action": "kill"}}}, "faults.x.provider: is required"),
    ({"steady_state": {"up": {"url": "{{ web.url }}", "each": "frontend"}}},
     "steady_state.up.each: no component group 'frontend'; groups: backend, web"),
    ({"faults": {"kill": {"provider": "process", "action": "explode"}}},
     "faults.kill.process.action: must be one of 'kill', 'terminate', 'stop'"),
    ({"faults": {"cut": {"provider": "container", "action": "disconnect"}}},
     "network: give it exactly when the action is disconnect"),
    ({"components": {"web": {"port": "{{ base_port + }}"}}}, "components.web.port: template"),
    ({"components": {"web": {"port": "eighty"}}}, "must give an integer, gave 'eighty'"),
    ({"components": {"web": {"url": "ftp://{{ host }}"}}},
     "components.web.url: must give an http:// or https:// URL"),
    ({"name": "no spaces please"}, "name: must match"),
    ({"components": {"web": {"port": 80, "local": {"builtin": "mysql"}}}},
     "components.web.local.builtin: must be one of 'postgres', 'kafka'"),
    ({"components": {"web": {"port": 80, "local": {}}}},
     "components.web.local: give either command or builtin (postgres, kafka)"),
    ({"components": {"web": {"port": 80, "local": {"builtin": "kafka", "command": ["x"]}}}},
     "components.web.local: give either command or builtin"),
    ({"components": {"web": {"port": 80, "local": {"builtin": "postgres"}}}},
     "components.web.local.database: give it exactly with builtin: postgres"),
    ({"components": {"web": {"port": 80, "local": {"builtin": "kafka",
                                                   "env": {"A": "b"}}}}},
     "components.web.local.builtin: kafka takes no env, secret_env, files or cwd"),
    ({"components": {"web": {"port": 80}, "db": {
        "members": ["a", "b"], "port": "{{ 90 + index }}",
        "local": {"builtin": "postgres", "database": "x"}}}},
     "components.db.local.builtin: a builtin postgres is one member"),
    ({"components": {"web": {"port": 80}, "k1": {"port": 91, "local": {"builtin": "kafka"}},
                     "k2": {"port": 92, "local": {"builtin": "kafka"}}}},
     "components.k2.local.builtin: kafka is already components.k1"),
    ({"steady_state": {"up": {"url": "{{ web.url }}", "during": {"grace": 1}}}},
     "steady_state.up.during.grace: unknown field; allowed: interval_s, grace_s"),
])
def test_every_problem_names_the_file_and_the_field(change: dict, expected: str) -> None:
    assert expected in _error(_minimal(**change))


def test_requests_that_read_the_truth_need_an_oracle() -> None:
    load = {"requests": {"read": {"url": "{{ web.url }}/x",
                                  "answer": {"key": "{{ item }}", "value": "count"}}}}
    assert "oracle: requests read read or change the truth" in _error(_minimal(load=load))


def test_yaml_and_file_problems_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(SystemFileError, match=r"bad.yaml: YAML syntax error at line 2"):
        load_system(bad)
    with pytest.raises(SystemFileError, match="cannot read the system file"):
        load_system(tmp_path / "missing.yaml")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00name")
    with pytest.raises(SystemFileError, match="cannot read the system file"):
        load_system(binary)
    assert "must be a mapping (got list)" in _error(["a"])


def test_templates_run_in_a_sandbox_and_name_what_is_undefined() -> None:
    with pytest.raises(TemplateProblem, match="unsafe|not safely|access"):
        render("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})
    with pytest.raises(TemplateProblem, match="'product' is undefined"):
        render("/items/{{ product }}", {})
    assert "'sytem' is undefined" in _error(_minimal(
        components={"web": {"port": "{{ sytem }}"}}))


def test_a_lone_expression_keeps_its_type_in_a_body() -> None:
    body = {"quantity": "{{ n }}", "label": "item {{ n }}", "ok": True, "ids": ["{{ n * 2 }}"]}
    assert render_value(body, {"n": 3}) == {"quantity": 3, "label": "item 3", "ok": True,
                                            "ids": [6]}


def test_system_new_writes_a_template_that_validates(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["system", "new", "shop", "--dir", str(tmp_path)]) == 0
    written = tmp_path / "shop.yaml"
    system = load_system(written)
    assert system.name == "shop" and system.members("backend") == ["a", "b"]
    assert "gameday system check" in capsys.readouterr().out
    assert main(["system", "new", "shop", "--dir", str(tmp_path)]) == 1  # never overwrite
    assert "exists" in capsys.readouterr().err
    assert main(["system", "new", "../escape", "--dir", str(tmp_path)]) == 1
    assert not (tmp_path.parent / "escape.yaml").exists()
    assert main(["system", "check", str(written), "--validate-only"]) == 0
    # the template's front door is watched during the run, and the check says so
    assert system.steady_state["front_door"].during is not None
    assert "2 probe(s) (front_door watched during the run)" in capsys.readouterr().out


def test_system_check_probes_the_running_stack_and_finds_a_slow_replica(
        clean_faults, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    stack = clean_faults
    monkeypatch.setenv("GAMEDAY_CHAOS_TOKEN", stack.chaos_token)
    argv = ["system", "check", str(INVENTORY), "--base-port", str(stack.base_port)]
    assert main(argv) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    for seen in ("✔ probe alive [inventory/3]", "✔ detector transitions",
                 "✔ oracle truth", "PROD-001 ", "✔ invariant replicas_match_ledger [inventory/2]",
                 "✔ request write: POST", "✔ counters inventory: asked ", "all 13 check(s) hold"):
        assert seen in out, out

    slow = yaml.safe_load(INVENTORY.read_text())
    slow["steady_state"]["alive"]["latency_ms"] = 300
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(slow))
    fault = {"type": "latency", "latency_ms": 800, "ttl_s": 20}
    httpx.post(f"{stack.urls.inventory[1]}/inject-failure", headers=stack.chaos_headers,
               json=fault, timeout=5).raise_for_status()
    argv[2] = str(tmp_path / "inventory.yaml")
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "✘ probe alive [inventory/2]" in out and "bound 300 ms" in out
    assert "✔ probe alive [inventory/1]" in out
    # nothing was faulted or cleared by the check: the fault is still in force
    state = httpx.get(f"{stack.urls.inventory[1]}/inject-failure", timeout=5).json()
    assert state.get("failure_type") == "latency" or state.get("type") == "latency", state
