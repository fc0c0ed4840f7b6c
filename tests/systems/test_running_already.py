"""``--start-stack`` on a system that already answers on its ports without the harness's
launcher (started by hand or by another tool): the run uses it as it
is, as it does a stack it started itself, instead of failing on ports in use."""

from __future__ import annotations

from pathlib import Path

import yaml
from fastapi import FastAPI, Response

from gameday.config import get_settings
from gameday.lifecycle import GameDay
from gameday.systems.loader import load_system
from gameday.systems.local import SystemLocalTarget
from gameday.systems.resolve import resolve
from loopback_app import serve_in_thread


def _target(tmp_path: Path, port: int) -> SystemLocalTarget:
    path = tmp_path / "one.yaml"
    path.write_text(yaml.safe_dump({
        "name": "one", "base_port": port,
        "components": {
            "web": {"members": ["a"], "port": "{{ base_port }}",
                    "local": {"command": ["true"]}},
            "far": {"url": "http://127.0.0.1:9/far", "faultable": False},  # not ours to run
        },
        "load": {"requests": {"get": {"url": "{{ web[0].url }}/"}}},
    }))
    settings = get_settings(state_dir=tmp_path / "state", reports_dir=tmp_path)
    return SystemLocalTarget(resolve(load_system(path), base_port=port), settings)


def test_a_system_answering_without_the_launcher_is_used_as_it_is(tmp_path: Path) -> None:
    app, state = FastAPI(), {"code": 200}

    @app.get("/health")
    def health() -> Response:
        return Response(status_code=state["code"])

    with serve_in_thread(app) as url:
        port = int(url.rsplit(":", 1)[1])
        target = _target(tmp_path, port)
        assert target.serves_without_us()  # the external `far` is not asked
        runbook = tmp_path / "rb.yaml"
        runbook.write_text(yaml.safe_dump({
            "name": "rb", "system": "one.yaml", "load": {"rate": 1},
            "phases": [{"name": "baseline", "duration_s": 1}]}))
        said: list[str] = []
        gd = GameDay.prepare(runbook, settings=get_settings(
            state_dir=tmp_path / "state", reports_dir=tmp_path, base_port=port),
            progress=said.append)
        with gd.locked(), gd.stack(True):  # on main: "port … is already in use"
            assert not gd.target.supervises()  # nothing started beside it
        assert said == ["gameday: using the local stack that is already running (not "
                        "started by gameday: left as it is)"]
        assert target.serves_without_us()  # and it was not stopped
        state["code"] = 503
        assert not target.serves_without_us()  # something is there, but not healthy
    assert not target.serves_without_us()  # nothing there: --start-stack starts it
