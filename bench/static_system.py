"""The load of bench/loadgen.py and bench/split_probe.py as a system file: nginx's static
answer (bench/nginx.py) as one external component, one GET request kind. The generator
measured is then the one every GameDay of a system file sends with
(:class:`gameday.systems.load.SystemLoadGenerator`: templates rendered, the answer's JSON
parsed and judged by ``expect``), through the same sharding as ``sharded-load``."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from gameday.load_shards import SystemLoad
from gameday.runbook import LoadSpec

__all__ = ["PATH", "static_load"]

PATH = "/inventory/PROD-001"


@contextmanager
def static_load(base: str) -> Iterator[tuple[SystemLoad, LoadSpec, int]]:
    """The system load of nginx at ``base`` (``http://127.0.0.1:PORT``), its spec and
    seed, while its files exist."""
    with tempfile.TemporaryDirectory(prefix="gameday-bench-static-") as tmp:
        folder = Path(tmp)
        (folder / "static.yaml").write_text(yaml.safe_dump({
            "name": "nginx-static",
            "components": {"web": {"url": base, "faultable": False}},
            "load": {"requests": {"read": {"url": "{{ web[0].url }}" + PATH,
                                           "expect": {"status": [200]}}}},
        }))
        (folder / "bench.yaml").write_text(yaml.safe_dump({
            "name": "nginx-static-load", "system": "static.yaml", "seed": 5,
            "load": {"rate": 100, "timeout_s": 2.0},
            "phases": [{"name": "ceiling", "duration_s": 1}],
        }))
        yield SystemLoad.of(folder / "bench.yaml")
