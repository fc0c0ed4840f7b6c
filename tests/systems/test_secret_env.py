"""A system member's ``secret_env``: the value reaches the process at each start, taken
from the harness's environment, and is never written to the launcher's state folder
(``env`` and ``env()`` are rendered into the spec it keeps)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml

from gameday.config import get_settings
from gameday.errors import SystemFileError
from gameday.systems.loader import load_system
from gameday.systems.local import SystemLocalTarget
from gameday.systems.resolve import resolve

# a member that answers every GET with the value of its MEMBER_SECRET (its health too)
SERVER = """
import http.server, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = os.environ.get("MEMBER_SECRET", "<unset>").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def _system(tmp_path: Path, local: dict[str, object]) -> Path:
    path = tmp_path / "echo.yaml"
    path.write_text(yaml.safe_dump({
        "name": "echo",
        "components": {"echo": {"port": "{{ base_port }}", "health": "/",
                                "local": {"command": ["{{ python }}", "-c", SERVER,
                                                      "{{ port }}"], **local}}},
        "load": {"requests": {"get": {"url": "{{ echo.url }}/"}}},
    }))
    return path


def test_a_secret_reaches_the_member_and_no_file_of_the_launcher(
        tmp_path: Path, free_base_port: Callable[[], int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cret-" + os.urandom(8).hex()
    monkeypatch.setenv("GAMEDAY_TEST_MEMBER_SECRET", secret)
    path = _system(tmp_path, {"secret_env": {"MEMBER_SECRET": "GAMEDAY_TEST_MEMBER_SECRET"}})
    base = free_base_port()
    state = tmp_path / "state"
    target = SystemLocalTarget(resolve(load_system(path), base_port=base),
                               get_settings(base_port=base, state_dir=state),
                               source=path, owner_pid=os.getpid())
    target.start(timeout_s=30)
    try:
        assert httpx.get(f"http://127.0.0.1:{base}/", timeout=5).text == secret
        written = [p for p in state.rglob("*") if p.is_file()]
        assert any(p.name == "spec.json" for p in written)
        for p in written:
            assert secret not in p.read_text(errors="replace"), f"{p} holds the secret"
    finally:
        target.stop()


@pytest.mark.parametrize(("local", "message"), [
    ({"secret_env": {"MEMBER SECRET": "X"}}, "secret_env"),
    ({"secret_env": {"A": "1X"}}, "secret_env"),
])
def test_secret_env_names_must_be_variable_names(tmp_path: Path, local, message) -> None:
    with pytest.raises(SystemFileError, match=message):
        load_system(_system(tmp_path, local))


def test_a_builtin_takes_no_secret_env(tmp_path: Path) -> None:
    path = tmp_path / "db.yaml"
    path.write_text(yaml.safe_dump({
        "name": "db",
        "components": {"db": {"port": 7000, "health": None,
                              "local": {"builtin": "kafka", "secret_env": {"A": "B"}}}},
        "load": {"requests": {"get": {"url": "http://127.0.0.1:7000/"}}},
    }))
    with pytest.raises(SystemFileError, match="takes no env, secret_env"):
        load_system(path)
