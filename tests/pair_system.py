"""A small external system for tests of GameDays on a system file: members ``a`` and
``b`` of group ``web`` behind a front door, each with a fault API, and a status page the
system's detector polls; all one ASGI app, served in a thread (:func:`pair_system`)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from fastapi import FastAPI, Header, Response

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

        @app.get("/m/{member}/motd")
        def motd(member: str) -> dict[str, str]:
            # what a faulted member says is hostile text: reports must escape it
            return {"motd": "<img src=x onerror=alert(1)>" if member in self.faulted
                    else "hello"}

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

        # the front door asks both members each time and counts, per member, what it
        # asked and what got no (good) answer in time: its counters
        self.asked = {"a": 0, "b": 0}
        self.late = {"a": 0, "b": 0}

        @app.get("/front/item/{item}")
        def item(item: str) -> dict[str, Any]:
            with self.lock:
                for m in self.asked:
                    self.asked[m] += 1
                    self.late[m] += m in self.faulted
            return {"ok": len(self.faulted) < 2, "item": item}

        @app.get("/front/stats")
        def stats() -> dict[str, Any]:
            with self.lock:
                return {"timeout_s": 0.3, "asked": dict(self.asked), "late": dict(self.late)}

        # an oracle: stock per item; take one off (an order), give it back (its cancel);
        # member b, faulted with code 299, makes the front door lie about the stock
        self.stock = {"apple": 10, "pear": 5}
        self.orders: dict[int, str] = {}
        self.ids = itertools.count(1)

        @app.get("/front/stock")
        def stock() -> dict[str, Any]:
            return {"items": {k: {"n": v} for k, v in self.stock.items()}}

        @app.get("/front/count/{item}")
        def count(item: str) -> dict[str, Any]:
            lie = 1000 if self.faulted.get("b") == 299 else 0
            return {"n": self.stock[item] + lie}

        @app.post("/front/take/{item}", status_code=201)
        def take(item: str) -> dict[str, Any]:
            with self.lock:
                self.stock[item] -= 1
                order = next(self.ids)
                self.orders[order] = item
            return {"order": order}

        self.given: list[tuple[int, str | None]] = []  # (order, its X-Token header)

        @app.post("/front/give/{order}")
        def give(order: int, x_token: str | None = Header(default=None)) -> dict[str, Any]:
            with self.lock:
                self.given.append((order, x_token))
                item = self.orders.pop(order, None)
                if item is None:
                    return {"gone": True}
                self.stock[item] += 1
            return {"given": order}

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


#: The load of the system with an oracle: reads judged against the stock, and orders
#: taken and given back (the inventory stack's pattern, as data).
ORACLE_LOAD = {
    "values": {"item": ["apple", "pear"]},
    "requests": {
        "look": {"weight": 3, "url": "{{ front.url }}/count/{{ item }}",
                 "answer": {"key": "{{ item }}", "value": "n"}},
        "take": {"method": "POST", "url": "{{ front.url }}/take/{{ item }}",
                 "expect": {"status": [201]}, "change": {"key": "{{ item }}", "by": -1},
                 "follow_up": [{"after_s": 0.2, "url": "{{ front.url }}/give/{{ response.order }}",
                                "ends_change": True}]},
    },
    "oracle": {"url": "{{ front.url }}/stock", "items": "items", "value": "n",
               "settle_s": 0.5},
}


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


def isolate_gameday_env(tmp_path: Path, monkeypatch: Any) -> None:
    """A GameDay in a test writes under ``tmp_path`` and ignores the machine's base port
    and Slack settings."""
    monkeypatch.setenv("GAMEDAY_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path / "state"))
    for name in ("GAMEDAY_BASE_PORT", "GAMEDAY_SLACK_BOT_TOKEN", "GAMEDAY_SLACK_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
