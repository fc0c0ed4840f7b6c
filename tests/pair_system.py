"""A small external system for tests of GameDays on a system file: members ``a`` and
``b`` of group ``web`` behind a front door, each with a fault API, and a status page the
system's detector polls; all one ASGI app, served in a thread (:func:`pair_system`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from fastapi import FastAPI, Response

from loopback_app import serve_in_thread

SYSTEM = {
    "name": "pair",
    "description": "Two web servers behind a front door that answers from a healthy one.",
    "components": {
        "front": {"url": "http://{{ host }}:{{ base_port }}/front", "faultable": False},
        "web": {"members": ["a", "b"], "url": "http://{{ host }}:{{ base_port }}/m/{{ member }}"},
    },
    "load": {"values": {"item": ["apple", "pear"]},
             "requests": {"buy": {"url": "{{ front.url }}/item/{{ item }}",
                                  "expect": {"json": {"ok": True}}}}},
    "detector": {"kind": "status", "url": "http://{{ host }}:{{ base_port }}/status",
                 "items": "members", "component": "name", "state": "state",
                 "down": ["DOWN"], "interval_s": 0.05},
    "steady_state": {"front": {"url": "{{ front.url }}/item/apple"},
                     "members": {"each": "web", "url": "{{ component.url }}/health"}},
    "invariants": {"same": {"each": "web", "value": {"url": "{{ component.url }}/version"},
                            "equals": {"url": "{{ front.url }}/version"}}},
    "faults": {"break": {"provider": "http", "applies_to": ["web"],
                         "params": {"code": 503},
                         "inject": {"url": "{{ component.url }}/fault?code={{ code }}"},
                         "clear": {"url": "{{ component.url }}/clear"}}},
}


class Pair:
    """Members a and b; the front door answers from any member that is not faulted."""

    def __init__(self) -> None:
        self.faulted: dict[str, int] = {}
        self.version = {"a": 1, "b": 1, "front": 1}
        self.lock = threading.Lock()
        app = FastAPI()

        @app.get("/m/{member}/health")
        def health(member: str) -> Response:
            return Response(status_code=self.faulted.get(member, 200))

        @app.get("/m/{member}/version")
        def member_version(member: str) -> int:
            return self.version[member]

        @app.get("/front/version")
        def front_version() -> int:
            return self.version["front"]

        @app.post("/m/{member}/fault")
        def fault(member: str, code: int) -> dict[str, str]:
            self.faulted[member] = code
            return {"member": member}

        @app.post("/m/{member}/clear")
        def clear(member: str) -> dict[str, str]:
            self.faulted.pop(member, None)
            return {"member": member}

        @app.get("/front/item/{item}")
        def item(item: str) -> dict[str, Any]:
            return {"ok": len(self.faulted) < 2, "item": item}

        @app.get("/status")
        def status() -> dict[str, Any]:
            return {"members": [{"name": m, "state": "DOWN" if m in self.faulted else "UP"}
                                for m in ("a", "b")]}

        self.app = app



@contextmanager
def pair_system(folder: Path) -> Iterator[tuple[Pair, int]]:
    """The system served on a free port, its file written as ``folder/pair.yaml``;
    yields the app (its state) and the port (the run's base port)."""
    system = Pair()
    (folder / "pair.yaml").write_text(yaml.safe_dump(SYSTEM))
    with serve_in_thread(system.app) as url:
        yield system, int(url.rsplit(":", 1)[1])


def pair_runbook(folder: Path, **extra: Any) -> Path:
    """A runbook for it: baseline, ``break`` on web/b, recovery (extra keys override)."""
    doc = {"name": "pair-gameday", "system": "pair.yaml", "seed": 3,
           "load": {"rate": 40, "timeout_s": 1.0},
           "slo": {"availability": 0.99, "ttd_s": {"break": 1.0}, "ttr_s": 1.0,
                   "latency_p95_min_ms": 500},
           "safety": {"fault_ttl_s": 20},
           "phases": [{"name": "baseline", "duration_s": 1.0},
                      {"name": "break-b", "duration_s": 1.5,
                       "fault": {"type": "break", "target": "web/b"}},
                      {"name": "recovery", "duration_s": 1.0}], **extra}
    path = folder / "rb.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


