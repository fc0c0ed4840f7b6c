"""``gameday import-ctk``: a Chaos Toolkit experiment becomes a system file and a runbook
that load, probe and fault a real HTTP service, and what cannot be converted is said."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml

from gameday.cli import main
from gameday.systems.ctk_import import CtkImportError, convert
from gameday.systems.loader import load_system
from gameday.systems.probe import check_system
from gameday.systems.providers import inject_ctk_fault
from gameday.systems.resolve import resolve


class _Toggle(BaseHTTPRequestHandler):
    """A service with a fault switch: POST /break makes /health answer 503 until /fix."""

    broken = False

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        cls = type(self)
        if self.path == "/health":
            self._answer(503 if cls.broken else 200, {"ok": not cls.broken})
        elif self.path == "/status":
            self._answer(200, {"state": "broken" if cls.broken else "ok",
                               "workers": [{"up": True}, {"up": not cls.broken}]})
        else:
            self._answer(404, {"error": "no such path"})

    def do_POST(self) -> None:  # noqa: N802
        type(self).broken = self.path == "/break"
        self._answer(200, {"broken": type(self).broken})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def service():
    handler = type("Toggle", (_Toggle,), {"broken": False})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def _experiment(base: str) -> dict[str, Any]:
    return {
        "version": "1.0.0",
        "title": "The service survives being broken",
        "description": "Break it; <script>alert(1)</script> {{ not a template }}",
        "configuration": {"base": base,
                          "token": {"type": "env", "key": "SVC_TOKEN", "default": "none"}},
        "steady-state-hypothesis": {"title": "up", "probes": [
            {"type": "probe", "name": "health is ok", "tolerance": 200,
             "provider": {"type": "http", "url": "${base}/health", "timeout": 2,
                          "headers": {"Authorization": "Bearer ${token}"}}},
            {"type": "probe", "name": "state-ok",
             "tolerance": {"type": "jsonpath", "path": "$.state", "expect": "ok",
                           "target": "body"},
             "provider": {"type": "http", "url": "${base}/status"}},
            {"type": "probe", "name": "workers-up",
             "tolerance": {"type": "jsonpath", "path": "$.workers[*].up",
                           "expect": [True, True], "target": "body"},
             "provider": {"type": "http", "url": "${base}/status"}},
            {"type": "probe", "name": "matches",
             "tolerance": {"type": "regex", "pattern": "ok", "target": "body"},
             "provider": {"type": "http", "url": "${base}/status"}},
            {"type": "probe", "name": "python-one", "tolerance": True,
             "provider": {"type": "python", "module": "os.path", "func": "exists",
                          "arguments": {"path": "/"}}},
        ]},
        "method": [
            {"type": "action", "name": "break-it", "pauses": {"after": 45},
             "provider": {"type": "http", "url": "${base}/break", "method": "POST"}},
            {"type": "probe", "name": "look",
             "provider": {"type": "http", "url": "${base}/status"}},
        ],
        "rollbacks": [
            {"type": "action", "name": "fix-it",
             "provider": {"type": "http", "url": "${base}/fix", "method": "POST"}},
        ],
    }


def test_what_converts_and_what_is_said_not_to(service) -> None:
    base, _ = service
    result = convert(_experiment(base))
    assert result.name == "The-service-survives-being-broken".lower()
    system, runbook = result.system, result.runbook
    assert system["components"]["service"]["url"] == base
    ss = system["steady_state"]
    assert set(ss) == {"health-is-ok", "state-ok", "workers-up"}
    assert ss["health-is-ok"]["expect"] == {"status": [200]}
    assert ss["health-is-ok"]["latency_ms"] == 2000
    # an environment variable stays a reference: no token is written into the file
    assert ss["health-is-ok"]["headers"] == {
        "Authorization": 'Bearer {{ env("SVC_TOKEN", "none") }}'}
    assert ss["state-ok"]["expect"]["json"] == {"state": "ok"}
    assert ss["workers-up"]["expect"]["json"] == {"workers[*].up": [True, True]}
    fault = system["faults"]["break-it"]
    assert fault["provider"] == "chaostoolkit"
    assert fault["action"]["provider"]["url"] == f"{base}/break"
    assert fault["rollback"]["name"] == "fix-it"
    assert [p["name"] for p in runbook["phases"]] == ["baseline", "break-it", "recovery"]
    assert runbook["phases"][1]["duration_s"] == 45
    assert runbook["phases"][1]["fault"] == {"type": "break-it", "target": "service/service"}
    gaps = "\n".join(map(str, result.gaps))
    assert "probes[3] 'matches'" in gaps and "'regex'" in gaps
    assert "probes[4] 'python-one'" in gaps and "'python' probe" in gaps
    assert "method[1] 'look'" in gaps
    assert "load: made from the steady-state probes" in gaps
    assert "detector" in gaps


def test_rollbacks_that_do_not_pair_are_not_guessed(service) -> None:
    base, _ = service
    exp = _experiment(base)
    exp["rollbacks"].append({"type": "action", "name": "also",
                             "provider": {"type": "http", "url": f"{base}/fix"}})
    result = convert(exp)
    assert "rollback" not in result.system["faults"]["break-it"]
    gaps = [str(g) for g in result.gaps]
    assert sum("2 rollbacks for 1 actions" in g for g in gaps) == 2


@pytest.mark.parametrize("bad, says", [
    ({"title": "x"}, "method: a Chaos Toolkit experiment has a method"),
    ({"title": "x", "method": [{"type": "probe", "name": "p", "provider": {"type": "http",
                                                                         "url": "http://a"}}]},
     "no action to turn into a fault"),
    ({"title": "x", "method": ["nope"]}, r"method\[0\]: an activity is a mapping"),
])
def test_what_is_not_an_experiment_is_refused_with_the_field(bad, says) -> None:
    with pytest.raises(CtkImportError, match=says):
        convert(bad)


def test_import_writes_files_that_load_probe_and_fault_the_service(
        service, tmp_path, capsys, monkeypatch) -> None:
    base, handler = service
    path = tmp_path / "exp.json"
    path.write_text(json.dumps(_experiment(base)))
    monkeypatch.chdir(tmp_path)
    assert main(["import-ctk", str(path), "--name", "toggle"]) == 0
    out = capsys.readouterr().out
    assert "wrote systems/toggle.yaml and runbooks/toggle.yaml" in out
    assert "! steady-state-hypothesis.probes[3] 'matches'" in out
    system_file = tmp_path / "systems" / "toggle.yaml"
    text = system_file.read_text()
    assert text.startswith("# System, imported from the Chaos Toolkit experiment exp.json")
    assert "NOT converted" in text and "&id" not in text
    runbook = yaml.safe_load((tmp_path / "runbooks" / "toggle.yaml").read_text())
    assert runbook["system"] == "../systems/toggle.yaml"
    assert main(["import-ctk", str(path), "--name", "toggle"]) == 1  # no overwrite
    assert "pass --force" in capsys.readouterr().err

    resolved = resolve(load_system(system_file))
    assert check_system(resolved).ok  # every converted probe holds on the healthy service
    fault = resolved.system.faults["break-it"]
    output, switch = inject_ctk_fault(resolved, fault, resolved.member("service", "service"),
                                      ttl_s=30, state_dir=tmp_path / "state")
    assert handler.broken and output["status"] == 200
    failed = {f.name for f in check_system(resolved).findings if not f.ok}
    assert {"health-is-ok", "state-ok", "workers-up"} <= failed  # the probes see it
    assert switch is not None
    switch.rollback()  # the experiment's own rollback ends it
    assert not handler.broken and check_system(resolved).ok
